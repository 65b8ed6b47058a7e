package persistence

// Preparing a database: the checks before anything is changed (Check,
// Preflight) and the changes (create, set up, upgrade).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Prepare makes the database ready for the embedded server, as `start`
// does: it creates a missing database, installs the schema on an empty one
// (or one whose setup was interrupted), upgrades an older one and leaves a
// current one alone. A newer schema or a foreign database is refused with
// nothing changed. It returns the state found before any change.
func Prepare(ctx context.Context, d Database) (Status, error) {
	return run(ctx, d, true, true)
}

// Setup is Prepare without upgrades: an older schema is refused with a
// pointer to Upgrade (`devcluster db upgrade`).
func Setup(ctx context.Context, d Database) (Status, error) {
	return run(ctx, d, true, false)
}

// Upgrade is Prepare without setup: a missing or empty database is refused
// with a pointer to Setup (`devcluster db setup`).
func Upgrade(ctx context.Context, d Database) (Status, error) {
	return run(ctx, d, false, true)
}

func run(ctx context.Context, d Database, setup, upgrade bool) (Status, error) {
	st, err := Inspect(ctx, d)
	if err != nil {
		return st, err
	}
	if err := d.refuse(st, setup, upgrade); err != nil {
		return st, err
	}
	switch st.State {
	case Missing:
		if err := d.create(ctx); err != nil {
			return st, err
		}
		return st, d.setup(ctx, false)
	case Empty:
		return st, d.setup(ctx, false)
	case Interrupted:
		return st, d.setup(ctx, true)
	case Older:
		// The server's upgrade scripts may touch the indexes its schema
		// made: a lean visibility table gets them back first (the next
		// start makes it lean again).
		if d.Kind == Visibility {
			if err := ApplyPostgresVisibilityIndexes(ctx, d, "full"); err != nil && !errors.Is(err, ErrNotOwner) {
				return st, err
			}
		}
		return st, d.upgrade(ctx, "")
	}
	return st, nil
}

// Check returns the error Prepare (setup and upgrade true), Setup (setup
// only) or Upgrade (upgrade only) would give for a database in state st,
// without connecting: a newer schema, a foreign database, or a state the
// other command handles; nil when it may go ahead. Callers that prepare
// several databases check them all first, so that none is changed when
// another is refused.
func Check(d Database, st Status, setup, upgrade bool) error { return d.refuse(st, setup, upgrade) }

// refuse returns the error for a state the caller may not act on.
func (d Database) refuse(st Status, setup, upgrade bool) error {
	db := d.SQL.DatabaseName
	switch {
	case st.State == Newer:
		return d.fail(ErrNewerSchema, "database %s has Temporal %s schema %s, newer than the %s this devcluster's server (Temporal %s) runs; it was left unchanged: use a devcluster built with a newer Temporal server, or another database",
			db, d.Kind, st.Version, st.Want, serverVersion)
	case st.State == Foreign && st.RecordedAs != "":
		return d.fail(ErrForeign, "database %s holds Temporal's %s schema %s, recorded in its schema_version under the name %s (the database was renamed or copied): the server reads the version by the database's own name; it was left unchanged: rename it back, or record the new name (UPDATE schema_version SET db_name = '%s' WHERE db_name = '%s')",
			db, d.Kind, st.Version, st.RecordedAs, db, st.RecordedAs)
	case st.State == Foreign && st.Unversioned:
		return d.fail(ErrForeign, "database %s holds Temporal's %s tables with rows (%s) but no schema version (its schema_version has no row for it): the version row was removed, or its setup did not finish; it was left unchanged: restore it from a backup, or point %s at a new or empty database",
			db, d.Kind, tableList(st.Tables), d.Key)
	case st.State == Foreign && st.Version != "":
		return d.fail(ErrForeign, "database %s holds Temporal's %s schema (%s), not the %s one; it was left unchanged: give %s a database of its own (a missing one is created)",
			db, d.Kind.other(), st.Version, d.Kind, d.Key)
	case st.State == Foreign:
		return d.fail(ErrForeign, "database %s is not a Temporal database (%s); it was left unchanged: point %s at a new or empty database (a missing one is created)",
			db, tableList(st.Tables), d.Key)
	case !upgrade && st.State == Older:
		return d.fail(ErrNeedsUpgrade, "database %s has Temporal %s schema %s, older than %s; upgrade it with devcluster db upgrade (devcluster start does it too)",
			db, d.Kind, st.Version, st.Want)
	case !setup && (st.State == Missing || st.State == Empty || st.State == Interrupted):
		return d.fail(ErrNoSchema, "database %s is %s: there is no schema to upgrade; set it up with devcluster db setup (devcluster start does it too)",
			db, st.State)
	}
	return nil
}

// tableList names a few tables for a message.
func tableList(tables []string) string {
	if len(tables) == 0 {
		return "no tables"
	}
	shown := tables
	if len(shown) > 4 {
		shown = shown[:4]
	}
	out := "tables " + strings.Join(shown, ", ")
	if len(tables) > len(shown) {
		out += fmt.Sprintf(" and %d more", len(tables)-len(shown))
	}
	if !slices.Contains(tables, "schema_version") {
		out += "; no schema_version"
	}
	return out
}

// maintenanceDatabases are where CREATE DATABASE runs, in order: the
// server's plugin tries the same two.
var maintenanceDatabases = []string{"postgres", "defaultdb", "template1"}

// Preflight reports, without changing anything, whether Prepare could do
// what a database in state st needs: create a missing database (the user
// may create databases), or create or alter tables in an empty, interrupted
// or older one (the user may create in its public schema). Callers that
// prepare several databases preflight every one before preparing any, so
// that a refusal of the second leaves the first as it was.
func Preflight(ctx context.Context, d Database, st Status) error {
	switch st.State {
	case Missing:
		_, err := d.mayCreate(ctx)
		return err
	case Empty, Interrupted, Older:
		conn, err := d.connect(ctx, d.SQL.DatabaseName)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		var may bool
		if err := conn.QueryRow(ctx, `SELECT has_schema_privilege(current_user, 'public', 'CREATE')`).Scan(&may); err != nil {
			return d.queryError("read privileges", err)
		}
		if !may {
			return d.fail(ErrPermission, "database %s is %s, and user %q may not create tables in its schema public; grant it (GRANT CREATE ON SCHEMA public TO \"%s\", or make the user the database's owner), or use another database",
				d.SQL.DatabaseName, st.State, d.SQL.User, d.SQL.User)
		}
	}
	return nil
}

// mayCreate checks with a connection of its own that the user may create
// databases (the server's tooling hides why a connection failed), and
// returns the maintenance database to create it from.
func (d Database) mayCreate(ctx context.Context) (string, error) {
	var conn *pgx.Conn
	var maint string
	var err error
	for _, maint = range maintenanceDatabases {
		if conn, err = d.connect(ctx, maint); !errors.Is(err, errMissing) {
			break
		}
	}
	if errors.Is(err, errMissing) {
		return "", d.fail(nil, "database %s does not exist, and there is no database to create it from (tried %s); create it first",
			d.SQL.DatabaseName, strings.Join(maintenanceDatabases, ", "))
	}
	if err != nil {
		return "", err
	}
	var may bool
	qerr := conn.QueryRow(ctx, `SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&may)
	_ = conn.Close(context.Background())
	if qerr == nil && !may {
		return "", d.fail(ErrPermission, "database %s does not exist, and user %q may not create databases; create it first (CREATE DATABASE \"%s\" OWNER \"%s\"), or use a user with CREATEDB",
			d.SQL.DatabaseName, d.SQL.User, d.SQL.DatabaseName, d.SQL.User)
	}
	return maint, nil
}

// create creates the database through the server's tooling, once
// mayCreate has found that the user may.
func (d Database) create(ctx context.Context) error {
	maint, err := d.mayCreate(ctx)
	if err != nil {
		return err
	}
	if err := d.withTool(ctx, maint, func(c *sqltool.Connection) error { return c.CreateDatabase(d.SQL.DatabaseName) }); err != nil {
		return d.queryError("create database "+d.SQL.DatabaseName, err)
	}
	return nil
}

// setup installs the kind's current schema with the server's SetupTask;
// over an interrupted setup it first drops the (empty) tables that setup
// left.
func (d Database) setup(ctx context.Context, again bool) error {
	return d.withTool(ctx, d.SQL.DatabaseName, func(c *sqltool.Connection) error {
		if again {
			if err := c.DropAllTables(); err != nil {
				return d.queryError("drop the tables of an interrupted setup", err)
			}
		}
		task := schema.NewSetupSchemaTask(c, &schema.SetupConfig{
			SchemaName:     d.Kind.schemaDir(),
			InitialVersion: d.Kind.Want(),
		}, log.NewNoopLogger())
		if err := task.Run(); err != nil {
			return d.queryError("install the "+d.Kind.String()+" schema", err)
		}
		return nil
	})
}

// upgrade applies the server's versioned schema changes above the
// installed version, up to target ("" for the embedded server's).
func (d Database) upgrade(ctx context.Context, target string) error {
	return d.withTool(ctx, d.SQL.DatabaseName, func(c *sqltool.Connection) error {
		task := schema.NewUpdateSchemaTask(c, &schema.UpdateConfig{
			DBName:        d.SQL.DatabaseName,
			SchemaName:    d.Kind.schemaDir(),
			TargetVersion: target,
		}, log.NewNoopLogger())
		if err := task.Run(); err != nil {
			return d.queryError("upgrade the "+d.Kind.String()+" schema", err)
		}
		return nil
	})
}

// withTool runs f with the server's schema-tool connection to database db.
// The tooling takes no context: f runs on its own goroutine and ctx ends
// the wait (the statement in flight finishes on its own).
func (d Database) withTool(ctx context.Context, db string, f func(*sqltool.Connection) error) error {
	cfg := *d.SQL
	cfg.DatabaseName = db
	done := make(chan error, 1)
	go func() {
		conn, err := sqltool.NewConnection(&cfg, log.NewNoopLogger())
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		done <- f(conn)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return d.fail(nil, "database %s: %v while its schema was being changed; the change goes on in the background and is finished (or redone) at the next start", d.SQL.DatabaseName, ctx.Err())
	}
}
