// Package persistence is the databases a devcluster runs on, side by side:
//
//   - PostgreSQL (schema.go, prepare.go, config.go, connect.go): databases
//     created, inspected and upgraded with the embedded Temporal server's
//     own schema files (go.temporal.io/server/schema) and its own schema
//     tooling (tools/sql and tools/common/schema, what temporal-sql-tool
//     runs): no psql, no copied SQL; `devcluster db` (manage.go).
//   - SQLite files (sqlite.go, wal.go, sqlitestate.go, files.go,
//     acceptloss.go): inspected before use (a damaged or copied-without-log
//     file, another cluster's, a foreign one are refused), created whole or
//     not at all, locked and marked running while a server runs on them,
//     their log folded in at stop; `devcluster db accept-loss`.
//   - What both share: the namespaces' rows, the visibility indexes
//     (visindex.go), the SQL config the server gets (MainSQLConfig).
//
// It never changes a database it cannot vouch for: a schema newer than
// the embedded server's, a database holding tables that are not a Temporal
// schema, or Temporal's other schema (visibility where the main one should
// be) are refused before anything is written. Both `devcluster start` and
// `devcluster db` use it; it talks to a database, not to a running server.
package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	serverpersistence "go.temporal.io/server/common/persistence"
	serverschema "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	// The postgres12 and postgres12_pgx plugins the tooling connects with.
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
)

// Kind is which of Temporal's two schemas a database holds.
type Kind int

// The kinds.
const (
	Main Kind = iota
	Visibility
)

func (k Kind) String() string {
	if k == Visibility {
		return "visibility"
	}
	return "main"
}

// schemaDir is the kind's directory in the server's embedded schema files.
func (k Kind) schemaDir() string {
	if k == Visibility {
		return "postgresql/v12/visibility"
	}
	return "postgresql/v12/temporal"
}

// serverVersion is the embedded server's release, for messages.
const serverVersion = "v" + headers.ServerVersion

// Want is the schema version the embedded server needs.
func (k Kind) Want() string {
	if k == Visibility {
		return pgschema.VisibilityVersion
	}
	return pgschema.Version
}

// other is the other kind.
func (k Kind) other() Kind {
	if k == Main {
		return Visibility
	}
	return Main
}

// marker is a table only this kind's schema has.
func (k Kind) marker() string {
	if k == Visibility {
		return "executions_visibility"
	}
	return "executions"
}

// Database is one PostgreSQL database devcluster manages.
type Database struct {
	Kind Kind
	// SQL is the server's config for it (plugin postgres12_pgx); its
	// DatabaseName is the database.
	SQL *config.SQL
	// Key is the config key the database comes from (persistence.url,
	// visibility.url); every error names it.
	Key string
	// PasswordKey, if set, is where else the password may come from
	// (persistence.password-file), for error messages.
	PasswordKey string
}

// State is what Inspect found.
type State int

// The states.
const (
	// Missing: the database does not exist.
	Missing State = iota
	// Empty: it exists and holds no table.
	Empty
	// Interrupted: a schema setup began and did not finish (a version
	// table without a version, every table empty): set up again.
	Interrupted
	// Older: a Temporal schema older than Want; upgraded at start.
	Older
	// Current: the schema the embedded server needs.
	Current
	// Newer: a schema newer than the embedded server's; refused.
	Newer
	// Foreign: tables that are not a Temporal schema of this kind; refused.
	Foreign
)

var stateNames = map[State]string{Missing: "missing", Empty: "empty", Interrupted: "setup interrupted",
	Older: "older", Current: "current", Newer: "newer", Foreign: "not a Temporal database"}

func (s State) String() string { return stateNames[s] }

// Status is what Inspect learnt of a database.
type Status struct {
	Database string
	Kind     Kind
	State    State
	// Version is the installed schema version; "" without one.
	Version string
	// Want is the version the embedded server needs.
	Want string
	// Tables are the database's tables (schema-qualified outside public),
	// sorted; for messages about foreign databases.
	Tables []string
	// RecordedAs, for a Foreign database whose schema_version names
	// another database (a database renamed or copied), is that name; its
	// Version is the version recorded there.
	RecordedAs string
	// Unversioned: a Foreign database with this kind's tables, holding
	// rows, and no version for it (its version row was removed).
	Unversioned bool
}

// String renders one line for `devcluster db status`.
func (s Status) String() string {
	switch s.State {
	case Missing:
		return fmt.Sprintf("%s (%s): does not exist; devcluster creates it with schema %s", s.Database, s.Kind, s.Want)
	case Empty:
		return fmt.Sprintf("%s (%s): empty; devcluster installs schema %s", s.Database, s.Kind, s.Want)
	case Interrupted:
		return fmt.Sprintf("%s (%s): a schema setup was interrupted; devcluster sets up schema %s again", s.Database, s.Kind, s.Want)
	case Older:
		return fmt.Sprintf("%s (%s): schema %s, older than %s; devcluster upgrades it", s.Database, s.Kind, s.Version, s.Want)
	case Current:
		return fmt.Sprintf("%s (%s): schema %s, current", s.Database, s.Kind, s.Version)
	case Newer:
		return fmt.Sprintf("%s (%s): schema %s, newer than this devcluster's %s; refused", s.Database, s.Kind, s.Version, s.Want)
	}
	if s.Version != "" {
		return fmt.Sprintf("%s (%s): holds Temporal's %s schema %s; refused", s.Database, s.Kind, s.Kind.other(), s.Version)
	}
	return fmt.Sprintf("%s (%s): not a Temporal %s database (%s); refused", s.Database, s.Kind, s.Kind, tableList(s.Tables))
}

// Inspect reports the state of the database without changing anything.
func Inspect(ctx context.Context, d Database) (Status, error) {
	st := Status{Database: d.SQL.DatabaseName, Kind: d.Kind, Want: d.Kind.Want()}
	conn, err := d.connect(ctx, d.SQL.DatabaseName)
	if errors.Is(err, errMissing) {
		st.State = Missing
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return d.inspect(ctx, conn, st)
}

func (d Database) inspect(ctx context.Context, conn *pgx.Conn, st Status) (Status, error) {
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\_%'`)
	if err != nil {
		return st, d.queryError("list tables", err)
	}
	public := map[string]bool{}
	for rows.Next() {
		var sch, name string
		if err := rows.Scan(&sch, &name); err != nil {
			rows.Close()
			return st, d.queryError("list tables", err)
		}
		if sch == "public" {
			public[name] = true
			st.Tables = append(st.Tables, name)
		} else {
			st.Tables = append(st.Tables, sch+"."+name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, d.queryError("list tables", err)
	}
	slices.Sort(st.Tables)
	if len(st.Tables) == 0 {
		st.State = Empty
		return st, nil
	}
	if !public["schema_version"] {
		st.State = Foreign
		return st, nil
	}
	var version string
	err = conn.QueryRow(ctx, `SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1`, d.SQL.DatabaseName).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		interrupted, err := d.interruptedSetup(ctx, conn, st.Tables)
		if err != nil {
			return st, err
		}
		st.State = Foreign
		if interrupted {
			st.State = Interrupted
			return st, nil
		}
		// The server reads the version by the database's own name: a
		// renamed database keeps its old name in schema_version.
		var other, otherVersion string
		if conn.QueryRow(ctx, `SELECT db_name, curr_version FROM schema_version WHERE version_partition = 0 ORDER BY db_name LIMIT 1`).Scan(&other, &otherVersion) == nil && public[d.Kind.marker()] {
			st.RecordedAs, st.Version = other, otherVersion
		} else if public[d.Kind.marker()] {
			st.Unversioned = true
		}
		return st, nil
	case err != nil:
		st.State = Foreign
		return st, nil
	}
	if !public[d.Kind.marker()] {
		st.State = Foreign
		if public[d.Kind.other().marker()] {
			st.Version = version // Temporal's other schema: said so in the refusal
		}
		return st, nil
	}
	st.Version = version
	have, err := semver.ParseTolerant(version)
	if err != nil {
		st.State = Foreign
		return st, nil
	}
	want := semver.MustParse(st.Want + ".0")
	switch have.Compare(want) {
	case -1:
		st.State = Older
	case 0:
		st.State = Current
	default:
		st.State = Newer
	}
	return st, nil
}

// interruptedSetup reports whether tables are what an unfinished setup of
// this kind leaves: only tables of its schema file and the version tables,
// and no row in any of them but those the schema file inserts itself (the
// server never starts on a database without a version, so nothing of
// anyone's is lost by starting over).
func (d Database) interruptedSetup(ctx context.Context, conn *pgx.Conn, tables []string) (bool, error) {
	own, seeded, err := schemaTables(d.Kind)
	if err != nil {
		return false, err
	}
	own["schema_version"], own["schema_update_history"] = true, true
	for _, t := range tables {
		if !own[t] {
			return false, nil
		}
	}
	for _, t := range tables {
		if seeded[t] {
			continue
		}
		var any bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
			return false, d.queryError("read table "+t, err)
		}
		if any {
			return false, nil
		}
	}
	return true, nil
}

// schemaTables lists the tables the kind's schema file creates, and those
// it inserts rows into.
func schemaTables(k Kind) (created, seeded map[string]bool, err error) {
	stmts, err := schemaStatements(path.Join(k.schemaDir(), "schema.sql"))
	if err != nil {
		return nil, nil, err
	}
	created, seeded = map[string]bool{}, map[string]bool{}
	name := func(s string) string {
		s, _, _ = strings.Cut(s, "(")
		return strings.Trim(s, `"`)
	}
	for _, s := range stmts {
		f := strings.Fields(strings.ToLower(s))
		switch {
		case len(f) >= 6 && f[0] == "create" && f[1] == "table" && f[2] == "if":
			created[name(f[5])] = true
		case len(f) >= 3 && f[0] == "create" && f[1] == "table":
			created[name(f[2])] = true
		case len(f) >= 3 && f[0] == "insert" && f[1] == "into":
			seeded[name(f[2])] = true
		}
	}
	return created, seeded, nil
}

func schemaStatements(file string) ([]string, error) {
	b, err := fs.ReadFile(serverschema.Assets(), file)
	if err != nil {
		return nil, fmt.Errorf("read the server's schema file %s: %w", file, err)
	}
	return serverpersistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(b)})
}

// SetupVersion installs an older schema version of the kind (one of the
// server's versioned directories, e.g. "1.10") on a missing or empty
// database: the first version's schema, then the changes up to version.
// It exists to test upgrades.
func SetupVersion(ctx context.Context, d Database, version string) error {
	st, err := Inspect(ctx, d)
	if err != nil {
		return err
	}
	switch st.State {
	case Missing:
		if err := d.create(ctx); err != nil {
			return err
		}
	case Empty:
	default:
		return d.fail(nil, "database %s is %s; SetupVersion needs a missing or empty one", d.SQL.DatabaseName, st.State)
	}
	err = d.withTool(ctx, d.SQL.DatabaseName, func(c *sqltool.Connection) error {
		return schema.NewSetupSchemaTask(c, &schema.SetupConfig{
			SchemaName:     path.Join(d.Kind.schemaDir(), "versioned", "v1.0"),
			InitialVersion: "1.0",
		}, log.NewNoopLogger()).Run()
	})
	if err != nil || version == "1.0" {
		return err
	}
	return d.upgrade(ctx, version)
}

// Drop drops the database, ending its connections (for tests that make a
// database each). A missing database is no error.
func Drop(ctx context.Context, d Database) error {
	var conn *pgx.Conn
	var err error
	for _, maint := range maintenanceDatabases {
		if conn, err = d.connect(ctx, maint); !errors.Is(err, errMissing) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{d.SQL.DatabaseName}.Sanitize()+` WITH (FORCE)`); err != nil {
		return d.queryError("drop database", err)
	}
	return nil
}

// Lock serialises devcluster processes that prepare the same database at
// once (the nodes of one cluster starting together): it takes a PostgreSQL
// advisory lock named after d's database, in a maintenance database (a
// lock is local to the database it is taken in, and d's may not exist
// yet). The returned func releases it. When no maintenance database can be
// reached, it returns without a lock: a lone process needs none.
func Lock(ctx context.Context, d Database) (func(), error) {
	for _, maint := range maintenanceDatabases {
		if maint == "template1" {
			continue // a session there would block CREATE DATABASE
		}
		conn, err := d.connect(ctx, maint)
		if err != nil {
			continue
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, "devcluster:"+d.SQL.DatabaseName); err != nil {
			_ = conn.Close(context.Background())
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		// Closing the session releases the lock.
		return func() { _ = conn.Close(context.Background()) }, nil
	}
	return func() {}, nil
}
