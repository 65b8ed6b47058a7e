package persistence

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ApplyPostgresVisibilityIndexes makes the indexes of the visibility table
// in d (the visibility database) match mode, as ApplyVisibilityIndexes
// does for SQLite: "lean" drops every index but leanVisibilityIndexes and
// the primary key (74 -> 9 in server v1.32.2), first recording each
// dropped index's definition in devcluster_dropped_indexes; "full"
// recreates them from there, exactly as the server's schema made them. It
// runs in one transaction, under the preparation lock, before the server
// starts; when there is nothing to change it takes no table lock.
func ApplyPostgresVisibilityIndexes(ctx context.Context, d Database, mode string) (err error) {
	conn, err := d.connect(ctx, d.SQL.DatabaseName)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return d.queryError("visibility.indexes "+mode, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.Background())
			err = fmt.Errorf("%s: visibility.indexes %s on database %s: %w", d.Key, mode, d.SQL.DatabaseName, err)
		}
	}()
	if mode == "full" {
		err = restorePostgresIndexes(ctx, tx)
	} else {
		err = dropPostgresIndexes(ctx, tx)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// dropPostgresIndexes drops the visibility table's indexes lean does not
// keep, recording their definitions for restorePostgresIndexes.
func dropPostgresIndexes(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT i.relname, pg_get_indexdef(i.oid)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE t.relname = 'executions_visibility' AND n.nspname = current_schema()
			AND NOT x.indisprimary AND NOT x.indisunique`)
	if err != nil {
		return err
	}
	type index struct{ name, sql string }
	var drop []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return err
		}
		if !leanVisibilityIndexes[ix.name] {
			drop = append(drop, ix)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(drop) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+droppedIndexTable+` (name TEXT PRIMARY KEY, sql TEXT NOT NULL)`); err != nil {
		return err
	}
	for _, ix := range drop {
		if _, err := tx.Exec(ctx, `INSERT INTO `+droppedIndexTable+` (name, sql) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET sql = EXCLUDED.sql`, ix.name, ix.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DROP INDEX `+quoteIdent(ix.name)); err != nil {
			return err
		}
	}
	return nil
}

// restorePostgresIndexes recreates the indexes a lean start dropped.
func restorePostgresIndexes(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, droppedIndexTable).Scan(&exists); err != nil || !exists {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT sql FROM `+droppedIndexTable)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range stmts {
		s = strings.Replace(s, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `DROP TABLE `+droppedIndexTable)
	return err
}
