package persistence

import (
	"database/sql"
	"fmt"
	"strings"

	"go.temporal.io/server/common/config"
)

// leanVisibilityIndexes are the indexes of the server's SQLite visibility
// table that visibility.indexes=lean keeps: the default list order and the
// filters a developer and the Web UI use most. The others (one per
// remaining column and search attribute, 51 in server v1.32.2) cost every
// visibility write; make bench measured lean at +28% workflows/s on a file
// and +15% in memory.
var leanVisibilityIndexes = map[string]bool{
	"default_idx":           true, // ORDER BY close/start time: every list
	"by_execution_time":     true,
	"by_workflow_id":        true,
	"by_workflow_type":      true,
	"by_status":             true,
	"by_task_queue":         true,
	"by_parent_workflow_id": true, // a workflow's children (Web UI)
	"by_root_workflow_id":   true,
}

// droppedIndexTable keeps the definitions of the indexes a lean start
// dropped, so that a later start with visibility.indexes=full restores
// them exactly as the server's schema made them.
const droppedIndexTable = "devcluster_dropped_indexes"

// visibilityDSN opens the database that holds the visibility table through
// a connection of devcluster's own: for an in-memory database the shared
// cache makes it the same database the server's pool holds open.
func visibilityDSN(c *config.SQL) string {
	if c.ConnectAttributes["mode"] == "memory" {
		return "file:" + c.DatabaseName + "?mode=memory&cache=shared"
	}
	return "file:" + c.DatabaseName + "?_pragma=busy_timeout%3d10000"
}

// ApplyVisibilityIndexes makes the visibility table's indexes match mode
// ("lean" or "full"). It runs before the server starts, in one transaction.
func ApplyVisibilityIndexes(c *config.SQL, mode string) (err error) {
	db, err := sql.Open("sqlite", visibilityDSN(c))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("visibility.indexes %s on %s: %w", mode, c.DatabaseName, err)
		}
	}()
	if mode == "full" {
		err = restoreIndexes(tx)
	} else {
		// An in-memory database ends with the cluster: nothing to restore.
		err = dropIndexes(tx, c.ConnectAttributes["mode"] != "memory")
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// dropIndexes drops the indexes lean does not keep; with save, it first
// records their definitions for restoreIndexes.
func dropIndexes(tx *sql.Tx, save bool) error {
	type index struct{ name, sql string }
	rows, err := tx.Query(`SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	var drop []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			_ = rows.Close()
			return err
		}
		if !leanVisibilityIndexes[ix.name] {
			drop = append(drop, ix)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(drop) == 0 {
		return nil
	}
	if save {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS ` + droppedIndexTable + ` (name TEXT PRIMARY KEY, sql TEXT NOT NULL)`); err != nil {
			return err
		}
	}
	for _, ix := range drop {
		if save {
			if _, err := tx.Exec(`INSERT OR REPLACE INTO `+droppedIndexTable+` (name, sql) VALUES (?, ?)`, ix.name, ix.sql); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DROP INDEX ` + quoteIdent(ix.name)); err != nil {
			return err
		}
	}
	return nil
}

func restoreIndexes(tx *sql.Tx) error {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, droppedIndexTable).Scan(&n); err != nil || n == 0 {
		return err
	}
	rows, err := tx.Query(`SELECT sql FROM ` + droppedIndexTable)
	if err != nil {
		return err
	}
	var stmts []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			_ = rows.Close()
			return err
		}
		stmts = append(stmts, s)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, s := range stmts {
		s = strings.Replace(s, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		if _, err := tx.Exec(s); err != nil {
			return err
		}
	}
	_, err = tx.Exec(`DROP TABLE ` + droppedIndexTable)
	return err
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
