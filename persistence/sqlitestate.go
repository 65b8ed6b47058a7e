package persistence

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/devcluster/devcluster/profiles"
)

// A database file says in its header whether devcluster left it cleanly.
// The marker is SQLite's user_version (bytes 60-63 of the file's first
// page), which neither the server's SQLite plugin nor its schema uses, so
// no table of ours is added to the server's database. It is set to
// markerRunning before the server writes and to markerClean at a clean
// stop, each time followed by a checkpoint, so that the main file itself
// (not only its -wal) holds it: a copy of the file alone says how it was
// left. Files of devcluster versions before the marker hold 0 (or a value
// of the user's): they are treated as left cleanly, as they were before.
const (
	markerClean = 0x64637301 // "dcs" 1: stopped cleanly, the file is whole
	// markerRunning: in use, or left by a crash; the journal is a WAL, and
	// the file is whole only with its -wal.
	markerRunning = 0x64637302
	// markerRunningJournal: in use, or left by a crash, with a journal
	// mode other than WAL (persistence.pragmas.journal_mode).
	markerRunningJournal = 0x64637303
)

// fileMarker reads the marker from the main file's header as it is on
// disk, without SQLite (which would show the -wal's newer copy of the
// page).
func fileMarker(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 60); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// marking is devcluster's own connection to a database file while the
// server uses it. It stays open from markRunning to markClean: while a
// connection is open, SQLite never deletes the -wal file (the last
// connection to close checkpoints and deletes it), so a file marked as
// running has a -wal beside it for as long as it is in use and after any
// crash. A missing or empty -wal beside a file marked running therefore
// means the file was copied or moved without it.
type marking struct {
	path string
	db   *sql.DB
}

// markRunning sets the marker of the file at path (an existing Temporal
// database that InspectFile accepted) to running, in the given journal
// mode, and folds it into the main file with a PASSIVE checkpoint, which
// leaves the -wal in place. The caller keeps the marking until markClean.
func markRunning(path, journalMode string) (*marking, error) {
	marker := markerRunning
	if !strings.EqualFold(journalMode, "wal") {
		marker = markerRunningJournal
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout=10000")
	q.Add("_pragma", "journal_mode="+journalMode)
	q.Add("_pragma", "synchronous=normal")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", marker)); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mark %s in use: %w", path, err)
	}
	if marker == markerRunning {
		var busy, logFrames, done int
		if err := db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("mark %s in use: checkpoint: %w", path, err)
		}
	}
	return &marking{path: path, db: db}, nil
}

// markClean sets the marker to clean and folds the whole log into the
// file (wal_checkpoint(TRUNCATE)), so that the file alone is the whole
// database. Call it only once the server has stopped writing. On failure
// the connection stays open on purpose: closing the last connection would
// let SQLite delete the log, and the file, still marked running, would
// then look like a copy without its log.
func (m *marking) markClean() error {
	if _, err := m.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", markerClean)); err != nil {
		return fmt.Errorf("mark %s stopped: %w", m.path, err)
	}
	var busy, logFrames, done int
	if err := m.db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", m.path, err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint %s: the database was busy; %d of %d log frames copied", m.path, done, logFrames)
	}
	return m.db.Close()
}

// checkLeftState refuses a file marked running whose -wal is missing or
// empty: a copy (or move) of the file without its log, taken while
// devcluster ran or after a crash. The log held the latest transactions
// (and, before SQLite's first checkpoint, every workflow), so starting on
// the file alone would serve an older state, or an empty cluster, and
// write over it. The one case it cannot tell from such a copy: another
// SQLite program (sqlite3) opened the file writable after a crash and, as
// the last connection to close, folded the log in and deleted it; nothing
// is lost then, and the message says so.
func checkLeftState(path string, marker uint32, wal walScan) error {
	if marker != markerRunning || !wal.Empty {
		return nil
	}
	log := filepath.Base(path) + "-wal"
	return fmt.Errorf("was copied or moved without its write-ahead log %s: it was in use or left by a crash (it was not stopped cleanly), and its latest transactions are in that log; it is left as it is: copy %s beside it too (while devcluster is stopped), or copy the file after a clean stop; to start on what the file alone holds, losing what the log held, run devcluster db accept-loss --db-file %s (nothing is lost if it is the file itself and another SQLite program, such as sqlite3, opened it since and folded the log in)",
		log, log, path)
}

// quickCheck runs SQLite's quick_check on a read-only connection (which
// neither writes the file nor folds the log into it) and returns its
// first findings, or nil when the file is sound.
func quickCheck(db *sql.DB) error {
	rows, err := db.Query(`PRAGMA quick_check(5)`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			found = append(found, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("%s", strings.Join(found, "; "))
	}
	return nil
}

// checkClusterName refuses a file whose cluster metadata names only other
// clusters: the server would add a second cluster's row to the file and
// then panic on the duplicate failover version, and fail so at every
// later start, even with the right name. No rows (a new file) passes.
func checkClusterName(db *sql.DB, path, clusterName string) error {
	rows, err := db.Query(`SELECT cluster_name FROM cluster_metadata_info WHERE metadata_partition = 0`)
	if err != nil {
		return nil // an older schema: the server says what it is
	}
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil
		}
		if name == clusterName {
			return nil
		}
		names = append(names, strconv.Quote(name))
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return &profiles.FieldError{Key: "cluster.name", Value: strconv.Quote(clusterName), Msg: fmt.Sprintf(
		"is not the cluster database file %s belongs to (%s): a cluster's name and failover versions are fixed in its database when it is created; it is left as it is: set cluster.name (in the config file, or DEVCLUSTER_CLUSTER_NAME) to %s, or give a new path",
		path, strings.Join(names, ", "), names[0])}
}
