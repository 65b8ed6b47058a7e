package persistence

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// ErrForeignDatabase reports a --db-file that exists but is not a Temporal
// SQLite database. devcluster refuses it rather than half-using it.
var ErrForeignDatabase = errors.New("not a devcluster database")

// ErrDamagedDatabase reports a database file (or its -wal) that a start
// would lose data from: damaged, or copied without its log. devcluster
// refuses it and leaves both files as they are.
var ErrDamagedDatabase = errors.New("damaged database")

// filePragmas are the defaults for a database file: a WAL journal with
// synchronous=NORMAL keeps every committed transaction across a process
// crash (not across a power loss) and is much faster than the driver's
// rollback journal with full sync. SQLite folds the log into the file every
// 1,000 pages; journal_size_limit then cuts the log file back to 4 MiB, so a
// long run does not leave a large log behind (a clean stop empties it, see
// checkpoint).
var filePragmas = map[string]string{
	"journal_mode":       "wal",
	"synchronous":        "normal",
	"busy_timeout":       "10000",
	"journal_size_limit": "4194304",
}

// SQLiteConfig returns the single *config.SQL used for schema setup,
// namespace creation and the server: the SQLite plugin pools connections by
// DSN, and two spellings of one database would open two pools (and, in
// memory, a second empty database).
//
// PostgreSQL's is config.go's (see MainSQLConfig).
func SQLiteConfig(p profiles.Persistence) *config.SQL {
	attrs := map[string]string{}
	if p.InMemory() {
		// A UUID, never a small random number: two clusters in one process
		// with the same name would share one database.
		attrs["mode"] = "memory"
		attrs["cache"] = "shared"
		maps.Copy(attrs, p.Pragmas)
		return &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			ConnectAddr:       "localhost", // unused by SQLite; the server's loader requires it
			ConnectProtocol:   "tcp",
			DatabaseName:      "devcluster-" + uuid.NewString(),
			ConnectAttributes: attrs,
		}
	}
	maps.Copy(attrs, filePragmas)
	maps.Copy(attrs, p.Pragmas)
	attrs["mode"] = "rwc"
	return &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAddr:       "localhost",
		ConnectProtocol:   "tcp",
		DatabaseName:      p.File,
		ConnectAttributes: attrs,
	}
}

// FileState says what InspectFile found at a database file's path.
type FileState int

const (
	// NoFile: no file at all (a database in memory).
	NoFile FileState = iota
	// NewFile: nothing there yet (or an empty file): a database to create.
	NewFile
	// ExistingFile: a Temporal database.
	ExistingFile
)

// hasRows reports whether table exists and holds a row.
func hasRows(db *sql.DB, table string) bool {
	var one int
	err := db.QueryRow(`SELECT 1 FROM ` + table + ` LIMIT 1`).Scan(&one)
	return err == nil
}

// temporalTables are tables every Temporal SQLite database has.
var temporalTables = []string{"namespaces", "cluster_metadata_info", "executions", "executions_visibility"}

// Info is what InspectFile learnt of an existing database file.
type Info struct {
	Shards int32 // the shard count it was created with; 0 when unreadable
	// HasCluster: the database has this cluster's metadata row (read on
	// PostgreSQL only), which the server writes at its first start.
	HasCluster bool
	// SearchAttributes maps namespace name -> attribute alias -> type
	// ("Keyword", "Int", ...), as the file's namespace rows hold them.
	SearchAttributes map[string]map[string]string
}

// InspectFile decides whether path is a new database or an existing
// Temporal database, and refuses everything else with the file's name and
// what to do: among others a damaged -wal (checkWAL), a copy made without
// its -wal (checkLeftState), a file left by a crash that fails quick_check,
// and another cluster's file (checkClusterName). It never changes the
// file: a database devcluster cannot use is left byte for byte as it was
// (new databases are built beside it and renamed into place, see
// SetupSchema, so a file at path was either made whole by devcluster or
// not made by it).
func InspectFile(path, key, clusterName string) (FileState, Info, error) {
	refuse := func(err error, format string, args ...any) (FileState, Info, error) {
		return 0, Info{}, &profiles.FieldError{Key: key, Value: path, Err: err, Msg: fmt.Sprintf(format, args...)}
	}
	// A log without its database would be replayed into the new one.
	orphanLog := func() (FileState, Info, error) {
		for _, suffix := range []string{"-wal", "-journal"} {
			if fileSize(path+suffix) > 0 {
				return refuse(ErrForeignDatabase, "has no database but a log %s beside it (the database was moved or removed without it): SQLite would replay it into a new database; move %s aside, or restore the database it belongs to", path+suffix, filepath.Base(path+suffix))
			}
		}
		return NewFile, Info{}, nil
	}
	// Lstat: a symlink, device or pipe is never renamed over.
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !fi.IsDir() && !fi.Mode().IsRegular():
		return refuse(nil, "is not a regular file (%s); give the path of a regular file, or a new path", fi.Mode().Type())
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		di, derr := os.Stat(dir)
		if derr != nil {
			return refuse(nil, "cannot be created: directory %s does not exist; create it first", dir)
		}
		if !di.IsDir() {
			return refuse(nil, "cannot be created: %s is not a directory", dir)
		}
		if err := writableDir(dir); err != nil {
			return refuse(nil, "cannot be created: directory %s is not writable (%v); choose a path in a writable directory", dir, err)
		}
		return orphanLog()
	case err != nil:
		return refuse(nil, "cannot be read: %v", oserr.Cause(err))
	case fi.IsDir():
		return refuse(nil, "is a directory; give a file path such as %s", filepath.Join(path, "devcluster.db"))
	case fi.Size() == 0:
		// An empty file (as mktemp makes) holds nothing: a new database.
		if err := writableDir(filepath.Dir(path)); err != nil {
			return refuse(nil, "cannot be created: directory %s is not writable (%v); choose a path in a writable directory", filepath.Dir(path), err)
		}
		return orphanLog()
	}

	f, err := os.Open(path)
	if err != nil {
		return refuse(nil, "cannot be read: %v", oserr.Cause(err))
	}
	header := make([]byte, 16)
	_, err = io.ReadFull(f, header)
	_ = f.Close()
	if err != nil || !bytes.Equal(header, []byte("SQLite format 3\x00")) {
		return refuse(ErrForeignDatabase, "is not an SQLite database; give a new path (it is created) or remove the file")
	}
	wal, err := checkWAL(path)
	if err != nil {
		return refuse(ErrDamagedDatabase, "%v", err)
	}
	if err := writable(path); err != nil {
		return refuse(nil, "%v", err)
	}
	marker, err := fileMarker(path)
	if err != nil {
		return refuse(nil, "cannot be read: %v", oserr.Cause(err))
	}

	// Read-only look at the tables, through a connection of our own that is
	// closed before the server opens the file.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout%3d5000")
	if err != nil {
		return refuse(nil, "cannot be opened: %v", err)
	}
	defer func() { _ = db.Close() }()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return refuse(ErrForeignDatabase, "cannot be read as SQLite: %v", err)
	}
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err == nil {
			tables[name] = true
		}
	}
	_ = rows.Close()
	var missing []string
	for _, t := range temporalTables {
		if !tables[t] {
			missing = append(missing, t)
		}
	}
	switch {
	case len(tables) == 0:
		// What a copy of a database without its -wal file looks like when
		// every change was still in the log, and what another program's
		// empty database looks like: never made again over the user's file.
		why := "the database's data may be in " + filepath.Base(path) + "-wal, which is not beside it (copy it too, after a clean stop)"
		if fileSize(path+"-wal") > 0 {
			why = "its " + filepath.Base(path) + "-wal holds no table either"
		}
		return refuse(ErrForeignDatabase, "is an SQLite database with no tables: %s; it is left as it is: restore the database with its -wal file, or give a new path", why)
	case len(missing) == len(temporalTables):
		return refuse(ErrForeignDatabase, "is an SQLite database of another program (no table %s); it is left as it is: give a new path", strings.Join(missing, ", "))
	case len(missing) > 0:
		return refuse(ErrForeignDatabase, "is an incomplete Temporal database (no table %s): damaged, or left by a start of devcluster before 2026-12 that was interrupted; it is left as it is: remove it to start afresh, or restore a backup", strings.Join(missing, ", "))
	}
	if err := checkLeftState(path, marker, wal); err != nil {
		return refuse(ErrDamagedDatabase, "%v", err)
	}
	// Not stopped cleanly (a file without the marker, of an earlier
	// devcluster, has a log left only by a crash): check now what the
	// server would meet only while serving, after writing into the file.
	if marker == markerRunning || marker == markerRunningJournal || (marker != markerClean && !wal.Empty) {
		if err := quickCheck(db); err != nil {
			return refuse(ErrDamagedDatabase, "is damaged (SQLite's quick_check: %v); it was not stopped cleanly and is left as it is: restore it from a backup, or give a new path", err)
		}
	}
	if err := checkClusterName(db, path, clusterName); err != nil {
		return 0, Info{}, err
	}
	sas, err := fileSearchAttributes(db)
	if err != nil {
		return refuse(nil, "namespaces cannot be read: %v", err)
	}
	return ExistingFile, Info{Shards: fileShards(db, clusterName), SearchAttributes: sas}, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// writable reports, for an existing database file, whether this process
// may write it and create its -wal and -shm files beside it.
func writable(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("is read-only for this user (%v); make it writable (chmod u+w), or copy it to a writable place", oserr.Cause(err))
	}
	_ = f.Close()
	if err := writableDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("is in a directory this user cannot write (%v): SQLite keeps its -wal and -shm files beside the database; make the directory writable, or copy the file to a writable place", err)
	}
	return nil
}

// writableDir reports whether files can be created in dir.
func writableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".devcluster-probe-*")
	if err != nil {
		return oserr.Cause(err)
	}
	_ = f.Close()
	return os.Remove(f.Name())
}

// fileSearchAttributes reads the custom search attributes of every
// namespace row: SQLite maps an alias onto a typed column (Keyword01,
// Int03, ...), so the column name says the type.
func fileSearchAttributes(db *sql.DB) (map[string]map[string]string, error) {
	rows, err := db.Query(`SELECT name, data, data_encoding FROM namespaces`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string]map[string]string{}
	for rows.Next() {
		var name, encoding string
		var data []byte
		if err := rows.Scan(&name, &data, &encoding); err != nil {
			return nil, err
		}
		if sas, ok := decodeSearchAttributes(data, encoding); ok {
			out[name] = sas
		}
	}
	return out, rows.Err()
}

// decodeSearchAttributes reads the custom search attributes (alias ->
// type) of a namespace row's data.
func decodeSearchAttributes(data []byte, encoding string) (map[string]string, bool) {
	enc, err := enumspb.EncodingTypeFromString(encoding)
	if err != nil {
		return nil, false
	}
	var detail persistencespb.NamespaceDetail
	if err := serialization.Decode(&commonpb.DataBlob{EncodingType: enc, Data: data}, &detail); err != nil {
		return nil, false
	}
	sas := map[string]string{}
	for field, alias := range detail.GetConfig().GetCustomSearchAttributeAliases() {
		sas[alias] = strings.TrimRight(field, "0123456789")
	}
	return sas, true
}

// CheckSearchAttributes refuses, before anything is written, configured
// search attributes whose type differs from what the file's namespace has
// under the same name (the server would refuse them only after start).
func CheckSearchAttributes(cfg profiles.Config, info Info) error {
	where, fresh := cfg.Persistence.File, "database file"
	if cfg.Persistence.Postgres() {
		where, fresh = "the database at persistence.url", "database"
	}
	var errs []error
	for i, ns := range cfg.Namespaces {
		have := info.SearchAttributes[ns.Name]
		for name, typ := range ns.SearchAttributes {
			got, ok := have[name]
			if !ok {
				continue
			}
			want, err := IndexedValueType(typ)
			if err != nil {
				return err
			}
			gotType, err := enumspb.IndexedValueTypeFromString(got)
			if err != nil || gotType == want {
				continue
			}
			errs = append(errs, &profiles.FieldError{Key: fmt.Sprintf("namespaces[%d].search-attributes.%s", i, name), Value: typ,
				Msg: fmt.Sprintf("conflicts with %s, where namespace %q has %s as a %s; a search attribute's type cannot change: use another name, or a new %s",
					where, ns.Name, name, got, fresh)})
		}
	}
	return errors.Join(errs...)
}

// fileShards reads the shard count a database file was created with from
// its cluster metadata; 0 when it cannot be read (the server then decides).
func fileShards(db *sql.DB, clusterName string) int32 {
	var data []byte
	var encoding string
	err := db.QueryRow(`SELECT data, data_encoding FROM cluster_metadata_info WHERE metadata_partition = 0 AND cluster_name = ?`, clusterName).Scan(&data, &encoding)
	if err != nil {
		return 0
	}
	return decodeShards(data, encoding)
}

// decodeShards reads the shard count of a cluster metadata row's data; 0
// when it cannot be read.
func decodeShards(data []byte, encoding string) int32 {
	return decodeClusterMetadata(data, encoding).GetHistoryShardCount()
}

// decodeClusterMetadata decodes a cluster_metadata_info row's blob; nil
// when it cannot.
func decodeClusterMetadata(data []byte, encoding string) *persistencespb.ClusterMetadata {
	enc, err := enumspb.EncodingTypeFromString(encoding)
	if err != nil {
		return nil
	}
	var md persistencespb.ClusterMetadata
	if err := serialization.Decode(&commonpb.DataBlob{EncodingType: enc, Data: data}, &md); err != nil {
		return nil
	}
	return &md
}

// creatingPath is where a new database is built before it is renamed to
// path: a start killed half-way leaves only this file, never a half-made
// database under the user's name.
func creatingPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".creating")
}

// txExec runs the schema's statements in one transaction; the server's
// SetupSchemaOnDB calls nothing but Exec.
type txExec struct {
	sqlplugin.AdminDB
	tx *sql.Tx
}

func (t txExec) Exec(stmt string, args ...any) error {
	_, err := t.tx.Exec(stmt, args...)
	return err
}

// SetupSchema creates a new database file at path with the server's
// schema: built in creatingPath(path) in one transaction, synced, and
// renamed into place (an empty file at path, as mktemp leaves, is
// replaced). A leftover of an interrupted creation is removed first: it
// was never a database anyone used.
func SetupSchema(path, key string) error {
	tmp := creatingPath(path)
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		_ = os.Remove(tmp + suffix)
	}
	fail := func(err error) error {
		for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
			_ = os.Remove(tmp + suffix)
		}
		return fmt.Errorf("create schema in %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+tmp+"?mode=rwc&_pragma=journal_mode%3ddelete&_pragma=synchronous%3dfull")
	if err != nil {
		return fail(err)
	}
	db.SetMaxOpenConns(1)
	err = func() error {
		defer func() { _ = db.Close() }()
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if err := sqliteschema.SetupSchemaOnDB(txExec{tx: tx}); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "unable to open") {
			_ = fail(err)
			return &profiles.FieldError{Key: key, Value: path, Msg: fmt.Sprintf("cannot be created: %v; choose a path in a writable directory", err)}
		}
		return fail(err)
	}
	// Workflow payloads are nobody else's business (SQLite made it 0644).
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := syncFile(tmp); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	_ = syncFile(filepath.Dir(path)) // the rename itself
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return f.Sync()
}

// MakeDirs creates data-dir and the archive directories the config names.
func MakeDirs(cfg profiles.Config) error {
	dirs := []struct{ key, dir string }{{"data-dir", cfg.DataDir}}
	if cfg.Archival.History.Enabled {
		dirs = append(dirs, struct{ key, dir string }{"archival.history.dir", cfg.Archival.History.Dir})
	}
	if cfg.Archival.Visibility.Enabled {
		dirs = append(dirs, struct{ key, dir string }{"archival.visibility.dir", cfg.Archival.Visibility.Dir})
	}
	for _, d := range dirs {
		if d.dir == "" {
			continue
		}
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			return &profiles.FieldError{Key: d.key, Value: d.dir, Msg: fmt.Sprintf("cannot be created: %v; choose a writable location", errors.Unwrap(err))}
		}
	}
	return nil
}

// CheckClusterFile refuses an existing database file that is not cluster's
// in a group of replicating clusters: one made for a single cluster (other
// name, global namespaces off) or for another cluster. A cluster's name,
// failover versions and namespaces (local or global) are fixed in its
// database when it is created, so such a file cannot join. exists reports
// whether the file is there. A file that is no Temporal database is left to
// the start's own checks.
func CheckClusterFile(path, key, cluster string) (exists bool, err error) {
	if fileSize(path) < 0 {
		return false, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout%3d5000")
	if err != nil {
		return true, nil
	}
	defer func() { _ = db.Close() }()
	rows, err := db.Query(`SELECT cluster_name, data, data_encoding FROM cluster_metadata_info WHERE metadata_partition = 0`)
	if err != nil {
		return true, nil // not a Temporal database: the start says what it is
	}
	defer func() { _ = rows.Close() }()
	var names []string
	found, global := false, false
	for rows.Next() {
		var name, encoding string
		var data []byte
		if err := rows.Scan(&name, &data, &encoding); err != nil {
			return true, nil
		}
		names = append(names, name)
		if name != cluster {
			continue
		}
		found = true
		enc, err := enumspb.EncodingTypeFromString(encoding)
		if err != nil {
			continue
		}
		var md persistencespb.ClusterMetadata
		if serialization.Decode(&commonpb.DataBlob{EncodingType: enc, Data: data}, &md) == nil {
			global = md.GetIsGlobalNamespaceEnabled()
		}
	}
	if len(names) == 0 {
		return true, nil
	}
	sort.Strings(names)
	switch {
	case !found:
		return true, &profiles.FieldError{Key: key, Value: path, Msg: fmt.Sprintf(
			"belongs to cluster %s, not %q: a cluster's name and failover versions are fixed in its database when it is created; give a path that does not exist yet, or start that cluster without clusters",
			strings.Join(names, ", "), cluster)}
	case !global:
		return true, &profiles.FieldError{Key: key, Value: path, Msg: fmt.Sprintf(
			"is the database of a single cluster %q (global namespaces off, its namespaces local): it cannot replicate; give a path that does not exist yet, or start it without clusters", cluster)}
	}
	return true, nil
}

// VisibilityFileConfig is the SQL config of visibility.file, a second
// SQLite file for visibility (the same DSN at every call, so one pool).
func VisibilityFileConfig(cfg profiles.Config) *config.SQL {
	return SQLiteConfig(profiles.Persistence{File: cfg.Visibility.File, Pragmas: cfg.Persistence.Pragmas})
}
