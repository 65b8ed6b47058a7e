package services

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
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence/serialization"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/devcluster/devcluster/profiles"
)

// ErrForeignDatabase reports a --db-file that exists but is not a Temporal
// SQLite database. devcluster refuses it rather than half-using it.
var ErrForeignDatabase = errors.New("not a devcluster database")

const storeName = "sqlite-default"

// filePragmas are the defaults for a database file: a WAL journal with
// synchronous=NORMAL keeps every committed transaction across a process
// crash (not across a power loss) and is much faster than the driver's
// rollback journal with full sync.
var filePragmas = map[string]string{
	"journal_mode": "wal",
	"synchronous":  "normal",
	"busy_timeout": "10000",
}

// newSQLConfig returns the single *config.SQL used for schema setup,
// namespace creation and the server: the SQLite plugin pools connections by
// DSN, and two spellings of one database would open two pools (and, in
// memory, a second empty database).
func newSQLConfig(p profiles.Persistence) *config.SQL {
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

// dbState says what prepareDatabase found.
type dbState int

const (
	dbMemory dbState = iota
	dbNewFile
	dbExistingFile
	dbInterrupted // a schema whose creation was cut short; recreated
)

// hasRows reports whether table exists and holds a row.
func hasRows(db *sql.DB, table string) bool {
	var one int
	err := db.QueryRow(`SELECT 1 FROM ` + table + ` LIMIT 1`).Scan(&one)
	return err == nil
}

// inspectFile decides whether path is a new database, an existing Temporal
// database, or something devcluster must refuse. It does not modify the file.
func inspectFile(path, clusterName string) (dbState, int32, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		di, derr := os.Stat(dir)
		if derr != nil {
			return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path,
				Msg: fmt.Sprintf("cannot be created: directory %s does not exist; create it first", dir)}
		}
		if !di.IsDir() {
			return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path,
				Msg: fmt.Sprintf("cannot be created: %s is not a directory", dir)}
		}
		return dbNewFile, 0, nil
	case err != nil:
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Msg: fmt.Sprintf("cannot be read: %v", err)}
	case fi.IsDir():
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Msg: "is a directory; give a file path such as " + filepath.Join(path, "devcluster.db")}
	case fi.Size() == 0:
		// An empty file (as mktemp makes) is a new database.
		return dbNewFile, 0, nil
	}

	f, err := os.Open(path)
	if err != nil {
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Msg: fmt.Sprintf("cannot be read: %v", err)}
	}
	header := make([]byte, 16)
	_, err = io.ReadFull(f, header)
	_ = f.Close()
	if err != nil || !bytes.Equal(header, []byte("SQLite format 3\x00")) {
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Err: ErrForeignDatabase,
			Msg: "is not an SQLite database; give a new path (it is created) or remove the file"}
	}

	// Read-only look at the tables, through a connection of our own that is
	// closed before the server opens the file.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout%3d5000")
	if err != nil {
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Msg: fmt.Sprintf("cannot be opened: %v", err)}
	}
	defer func() { _ = db.Close() }()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Err: ErrForeignDatabase,
			Msg: fmt.Sprintf("cannot be read as SQLite: %v", err)}
	}
	defer func() { _ = rows.Close() }()
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err == nil {
			tables[name] = true
		}
	}
	var missing []string
	for _, t := range []string{"namespaces", "cluster_metadata_info", "executions", "executions_visibility"} {
		if !tables[t] {
			missing = append(missing, t)
		}
	}
	if (len(tables) == 0 || len(missing) < 4) && !hasRows(db, "namespaces") {
		// No table at all, or some of Temporal's tables and no namespace:
		// a start that was killed while it created the schema (statements
		// commit one by one, so the file can stop anywhere, even with
		// every checked table but not the search indexes after them).
		// Nothing was ever stored in it (a workflow needs a namespace, and
		// namespaces are inserted after the schema is complete), so it is
		// made again.
		return dbInterrupted, 0, nil
	}
	if len(missing) > 0 {
		return 0, 0, &profiles.FieldError{Key: "persistence.file", Value: path, Err: ErrForeignDatabase,
			Msg: fmt.Sprintf("is an SQLite database but not a Temporal one (no table %s); give a new path or remove the file", strings.Join(missing, ", "))}
	}
	return dbExistingFile, fileShards(db, clusterName), nil
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
	enc, err := enumspb.EncodingTypeFromString(encoding)
	if err != nil {
		return 0
	}
	var md persistencespb.ClusterMetadata
	if err := serialization.Decode(&commonpb.DataBlob{EncodingType: enc, Data: data}, &md); err != nil {
		return 0
	}
	return md.HistoryShardCount
}

// setupSchema creates the schema in a new file. A failure removes the file
// so that the next start does not find a half-made database.
func setupSchema(sqlCfg *config.SQL, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return &profiles.FieldError{Key: "persistence.file", Value: path, Msg: fmt.Sprintf("cannot be created: %v; choose a path in a writable directory", errors.Unwrap(err))}
	}
	_ = f.Close()
	if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
		_ = os.Remove(path)
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			_ = os.Remove(path + suffix)
		}
		return fmt.Errorf("create schema in %s: %w", path, err)
	}
	return nil
}

// namespaceConfigs builds the rows CreateNamespaces inserts for the
// configured namespaces. Existing namespaces are left as they are;
// registerSearchAttributes adds missing attributes after start.
func namespaceConfigs(cfg profiles.Config) ([]*sqliteschema.NamespaceConfig, error) {
	out := make([]*sqliteschema.NamespaceConfig, 0, len(cfg.Namespaces))
	for i, ns := range cfg.Namespaces {
		sas := make(map[string]enumspb.IndexedValueType, len(ns.SearchAttributes))
		for name, typ := range ns.SearchAttributes {
			v, err := indexedValueType(typ)
			if err != nil {
				return nil, err
			}
			sas[name] = v
		}
		nc, err := sqliteschema.NewNamespaceConfig(cfg.Cluster.Name, ns.Name, false, sas)
		if err != nil {
			return nil, &profiles.FieldError{Key: fmt.Sprintf("namespaces[%d].search-attributes", i), Msg: err.Error()}
		}
		nc.Detail.Config.Retention = timestamp.DurationPtr(retention(ns))
		// NewNamespaceConfig leaves archival off whatever the cluster says.
		if a := cfg.Archival.History; a.Enabled {
			nc.Detail.Config.HistoryArchivalState = enumspb.ARCHIVAL_STATE_ENABLED
			nc.Detail.Config.HistoryArchivalUri = ArchivalURI(a.Dir)
		}
		if a := cfg.Archival.Visibility; a.Enabled {
			nc.Detail.Config.VisibilityArchivalState = enumspb.ARCHIVAL_STATE_ENABLED
			nc.Detail.Config.VisibilityArchivalUri = ArchivalURI(a.Dir)
		}
		out = append(out, nc)
	}
	return out, nil
}

func retention(ns profiles.Namespace) time.Duration {
	if ns.Retention <= 0 {
		return 24 * time.Hour
	}
	return ns.Retention
}

func indexedValueType(typ string) (enumspb.IndexedValueType, error) {
	canon, ok := profiles.CanonicalSearchAttributeType(typ)
	if !ok {
		return 0, fmt.Errorf("unknown search attribute type %q", typ)
	}
	return enumspb.IndexedValueTypeFromString(canon)
}

// createNamespaces inserts the namespaces that do not exist yet.
func createNamespaces(sqlCfg *config.SQL, nss []*sqliteschema.NamespaceConfig) error {
	return sqliteschema.CreateNamespaces(sqlCfg, nss...)
}

// makeDirs creates data-dir and the archive directories the config names.
func makeDirs(cfg profiles.Config) error {
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

// prepareVisibilityFile creates the schema in a new visibility file, or
// checks that an existing one is a Temporal database.
func prepareVisibilityFile(cfg profiles.Config) error {
	state, _, err := inspectFile(cfg.Visibility.File, cfg.Cluster.Name)
	if err != nil {
		if fe, ok := err.(*profiles.FieldError); ok {
			fe.Key = "visibility.file"
		}
		return err
	}
	if state == dbNewFile {
		if err := setupSchema(visibilitySQLConfig(cfg), cfg.Visibility.File); err != nil {
			if fe, ok := err.(*profiles.FieldError); ok {
				fe.Key = "visibility.file"
			}
			return err
		}
	}
	return nil
}
