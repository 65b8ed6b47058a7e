package persistence

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/profiles"
)

// database returns the Database of kind for a URL on the shared server.
func database(t *testing.T, raw string, kind Kind) Database {
	t.Helper()
	u, err := profiles.ParseDatabaseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	key := "persistence.url"
	if kind == Visibility {
		key = "visibility.url"
	}
	return Database{Kind: kind, SQL: SQLConfig(u, ""), Key: key}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestPrepare creates a missing database with the current schema, then
// leaves it alone.
func TestPrepare(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	for _, kind := range []Kind{Main, Visibility} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			name, url := pg.NewDatabase(t)
			d := database(t, url, kind)
			st, err := Prepare(ctx(t), d)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if st.State != Missing {
				t.Errorf("state before = %s, want missing", st.State)
			}
			st, err = Inspect(ctx(t), d)
			if err != nil || st.State != Current || st.Version != kind.Want() {
				t.Fatalf("Inspect after Prepare = %+v, %v; want current %s", st, err, kind.Want())
			}
			if got := pg.QueryString(t, name, `SELECT count(*)::text FROM schema_update_history`); got != "1" {
				t.Errorf("schema_update_history has %s rows, want 1 (the setup)", got)
			}
			st, err = Prepare(ctx(t), d)
			if err != nil || st.State != Current {
				t.Fatalf("second Prepare = %+v, %v; want current, nothing done", st, err)
			}
			if got := pg.QueryString(t, name, `SELECT count(*)::text FROM schema_update_history`); got != "1" {
				t.Errorf("schema_update_history has %s rows after a second Prepare, want 1", got)
			}
		})
	}
}

// TestUpgrade installs an older schema from the server's versioned files
// and upgrades it: through Upgrade (what `db upgrade` runs) for the main
// schema, through Prepare (what start runs) for visibility.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	for _, tc := range []struct {
		kind Kind
		from string
		run  func(context.Context, Database) (Status, error)
	}{{Main, "1.10", Upgrade}, {Visibility, "1.5", Prepare}} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			t.Parallel()
			name, url := pg.NewDatabase(t)
			d := database(t, url, tc.kind)
			if err := SetupVersion(ctx(t), d, tc.from); err != nil {
				t.Fatalf("SetupVersion %s: %v", tc.from, err)
			}
			st, err := Inspect(ctx(t), d)
			if err != nil || st.State != Older || st.Version != tc.from {
				t.Fatalf("Inspect = %+v, %v; want older at %s", st, err, tc.from)
			}
			if _, err := Setup(ctx(t), d); !errors.Is(err, ErrNeedsUpgrade) || !strings.Contains(err.Error(), "devcluster db upgrade") {
				t.Errorf("Setup on an older schema = %v, want ErrNeedsUpgrade pointing at db upgrade", err)
			}
			if _, err := tc.run(ctx(t), d); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			st, err = Inspect(ctx(t), d)
			if err != nil || st.State != Current {
				t.Fatalf("Inspect after upgrade = %+v, %v; want current", st, err)
			}
			if got := pg.QueryString(t, name, `SELECT max(new_version) FROM schema_update_history WHERE new_version = $1`, tc.kind.Want()); got != tc.kind.Want() {
				t.Errorf("no upgrade to %s in schema_update_history", tc.kind.Want())
			}
		})
	}
}

// TestRefuse: a newer schema, a foreign database and the other kind's
// schema are refused, and nothing in them changes.
func TestRefuse(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, name, url string)
		want    error
		parts   []string
		check   string // a query whose answer must not change
	}{
		{
			name: "newer schema",
			prepare: func(t *testing.T, name, url string) {
				if _, err := Prepare(ctx(t), database(t, url, Main)); err != nil {
					t.Fatal(err)
				}
				pg.MustExec(t, name, `UPDATE schema_version SET curr_version = '1.99'`)
			},
			want:  ErrNewerSchema,
			parts: []string{"persistence.url: database ", "has Temporal main schema 1.99, newer than the " + Main.Want(), "left unchanged", "newer Temporal server"},
			check: `SELECT curr_version || (SELECT count(*) FROM schema_update_history)::text FROM schema_version`,
		},
		{
			name: "foreign database",
			prepare: func(t *testing.T, name, url string) {
				pg.MustExec(t, "postgres", `CREATE DATABASE "`+name+`"`)
				pg.MustExec(t, name, `CREATE TABLE orders (id int PRIMARY KEY, total numeric)`, `INSERT INTO orders VALUES (1, 9.5)`)
			},
			want:  ErrForeign,
			parts: []string{"is not a Temporal database (tables orders; no schema_version)", "left unchanged", "point persistence.url at a new or empty database"},
			check: `SELECT string_agg(table_name, ',' ORDER BY table_name) || (SELECT count(*) FROM orders)::text FROM information_schema.tables WHERE table_schema = 'public'`,
		},
		{
			name: "foreign database with a version table of its own",
			prepare: func(t *testing.T, name, url string) {
				pg.MustExec(t, "postgres", `CREATE DATABASE "`+name+`"`)
				pg.MustExec(t, name, `CREATE TABLE schema_version (version_partition int, db_name text, curr_version text)`,
					`CREATE TABLE users (id int)`, `INSERT INTO users VALUES (1)`)
			},
			want:  ErrForeign,
			parts: []string{"is not a Temporal database (tables schema_version, users)"},
			check: `SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'`,
		},
		{
			name: "visibility schema where the main one goes",
			prepare: func(t *testing.T, name, url string) {
				if _, err := Prepare(ctx(t), database(t, url, Visibility)); err != nil {
					t.Fatal(err)
				}
			},
			want:  ErrForeign,
			parts: []string{"holds Temporal's visibility schema (" + Visibility.Want() + "), not the main one", "give persistence.url a database of its own"},
			check: `SELECT count(*)::text FROM information_schema.tables WHERE table_schema = 'public'`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name, url := pg.NewDatabase(t)
			tc.prepare(t, name, url)
			before := pg.QueryString(t, name, tc.check)
			for _, run := range []func(context.Context, Database) (Status, error){Prepare, Setup, Upgrade} {
				_, err := run(ctx(t), database(t, url, Main))
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				for _, p := range tc.parts {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error %q lacks %q", err, p)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
			}
			if after := pg.QueryString(t, name, tc.check); after != before {
				t.Errorf("the database changed: %q -> %q", before, after)
			}
		})
	}
}

// TestInterruptedSetup: a setup that stopped half-way (version tables,
// some empty Temporal tables, no version) is set up again.
func TestInterruptedSetup(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, url := pg.NewDatabase(t)
	d := database(t, url, Main)
	if _, err := Prepare(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	// What a setup killed after a few tables leaves.
	pg.MustExec(t, name, `DELETE FROM schema_version`, `DELETE FROM schema_update_history`, `DROP TABLE executions`, `DROP TABLE namespaces`)
	st, err := Inspect(ctx(t), d)
	if err != nil || st.State != Interrupted {
		t.Fatalf("Inspect = %+v, %v; want setup interrupted", st, err)
	}
	if _, err := Upgrade(ctx(t), d); !errors.Is(err, ErrNoSchema) {
		t.Errorf("Upgrade = %v, want ErrNoSchema", err)
	}
	if _, err := Prepare(ctx(t), d); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if st, err := Inspect(ctx(t), d); err != nil || st.State != Current {
		t.Fatalf("Inspect = %+v, %v; want current", st, err)
	}
	// With a row in one of its tables it is somebody's data: refused.
	pg.MustExec(t, name, `DELETE FROM schema_version`,
		`INSERT INTO namespaces (partition_id, id, name, notification_version, data, data_encoding, is_global) VALUES (54321, '\x01', 'orders', 1, '\x00', 'Proto3', false)`)
	_, err = Prepare(ctx(t), d)
	if !errors.Is(err, ErrForeign) {
		t.Errorf("Prepare over tables with rows and no version = %v, want ErrForeign", err)
	}
	for _, want := range []string{"holds Temporal's main tables with rows", "no schema version", "left unchanged"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "not a Temporal database") {
		t.Errorf("a Temporal database without its version is called not a Temporal database: %v", err)
	}
}

// TestRenamedDatabase: a Temporal database renamed after its setup keeps
// its old name in schema_version; it is refused as such, with the fix,
// not called "not a Temporal database".
func TestRenamedDatabase(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	old, url := pg.NewDatabase(t)
	if _, err := Prepare(ctx(t), database(t, url, Main)); err != nil {
		t.Fatal(err)
	}
	renamed := pgtest.DatabaseName()
	t.Cleanup(func() { pg.Drop(t, renamed) })
	pg.MustExec(t, "postgres", fmt.Sprintf(`ALTER DATABASE %q RENAME TO %q`, old, renamed))
	d := database(t, pg.URL(renamed), Main)
	before := pg.QueryString(t, renamed, `SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'`)
	_, err := Prepare(ctx(t), d)
	if !errors.Is(err, ErrForeign) {
		t.Fatalf("Prepare of a renamed database = %v, want ErrForeign", err)
	}
	for _, want := range []string{"recorded in its schema_version under the name " + old, "renamed", "UPDATE schema_version SET db_name = '" + renamed + "'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if after := pg.QueryString(t, renamed, `SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'`); after != before {
		t.Errorf("tables %s -> %s: the refused database changed", before, after)
	}
	// The fix the message gives works.
	pg.MustExec(t, renamed, fmt.Sprintf(`UPDATE schema_version SET db_name = '%s' WHERE db_name = '%s'`, renamed, old))
	if st, err := Prepare(ctx(t), d); err != nil || st.State != Current {
		t.Errorf("after the fix: Prepare = %+v, %v; want current", st, err)
	}
}

// TestBadInput: each connection problem is one line naming the key and
// the fix, well within a startup timeout, and creates nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	closed := freeClosedPort(t)
	webAddr := httpLikeServer(t)
	tests := []struct {
		name  string
		url   func(db string) string
		want  error
		parts []string
	}{
		{"unreachable", func(db string) string { return "postgres://u:p@127.0.0.1:" + closed + "/" + db },
			ErrUnreachable, []string{"persistence.url: cannot reach PostgreSQL at 127.0.0.1:" + closed, "connection refused", "start the server, or fix HOST:PORT"}},
		{"an HTTP server on the port", func(db string) string { return "postgres://u:p@" + webAddr + "/" + db },
			ErrUnreachable, []string{"persistence.url: what answers at " + webAddr + " is not PostgreSQL", "fix HOST:PORT"}},
		{"wrong password", func(db string) string {
			return strings.Replace(pg.URL(db), ":"+pg.Password+"@", ":wrong@", 1)
		}, ErrAuth, []string{`refused user "devcluster"`, "password authentication failed", "fix the user or password in persistence.url"}},
		{"no permission to create the database", func(db string) string { return pg.RoleURL(pgtest.Limited, db) },
			ErrPermission, []string{`user "limited" may not create databases`, "create it first", "or use a user with CREATEDB"}},
		{"TLS refused", func(db string) string { return pg.URL(db, "sslmode=require") },
			ErrTLS, []string{"does not offer TLS, which sslmode=require asks for", "turn TLS on in the server", "sslmode=disable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := pgtest.DatabaseName()
			t.Cleanup(func() { pg.Drop(t, name) })
			began := time.Now()
			_, err := Prepare(ctx(t), database(t, tc.url(name), Main))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Prepare = %v, want %v", err, tc.want)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			msg := err.Error()
			for _, p := range tc.parts {
				if !strings.Contains(msg, p) {
					t.Errorf("error %q lacks %q", msg, p)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, pg.Password) {
				t.Errorf("error is not one line, or shows the password: %q", msg)
			}
			if pg.DatabaseExists(t, name) {
				t.Errorf("database %s was created", name)
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, _ := pg.NewDatabase(t)
	cfg := profiles.Default()
	cfg.Persistence.URL = strings.Replace(pg.URL(name), ":"+pg.Password+"@", "@", 1)
	cfg.Persistence.PasswordFile = t.TempDir() + "/pw"
	if _, _, err := Databases(cfg); err == nil || !strings.Contains(err.Error(), "persistence.password-file: ") {
		t.Errorf("missing password file: %v", err)
	}
	writeFile(t, cfg.Persistence.PasswordFile, pg.Password+"\n")
	main, vis, err := Databases(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Database{main, vis} {
		if _, err := Prepare(ctx(t), d); err != nil {
			t.Fatalf("Prepare %s: %v", d.Kind, err)
		}
	}
	if vis.SQL.DatabaseName != name+"_visibility" {
		t.Errorf("visibility database = %s", vis.SQL.DatabaseName)
	}
	writeFile(t, cfg.Persistence.PasswordFile, "wrong\n")
	main, _, _ = Databases(cfg)
	if _, err := Inspect(ctx(t), main); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "or persistence.password-file") {
		t.Errorf("wrong password from the file: %v", err)
	}
}

// httpLikeServer listens on loopback and answers whatever it is sent as an
// HTTP server answers a request it cannot parse; it returns its address.
func httpLikeServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// TestPostgresVisibilityIndexes: lean keeps the 8 indexes of the common
// queries and the primary key, and records the others; lean again changes
// nothing; full restores every index exactly as the server's schema made
// it, and removes the record.
func TestPostgresVisibilityIndexes(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, url := pg.NewDatabase(t)
	d := database(t, url, Visibility)
	if _, err := Prepare(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	defs := func() string {
		return pg.QueryString(t, name, `SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY indexrelid::regclass::text)
			FROM pg_index WHERE indrelid = 'executions_visibility'::regclass`)
	}
	count := func() string {
		return pg.QueryString(t, name, `SELECT count(*)::text FROM pg_index WHERE indrelid = 'executions_visibility'::regclass`)
	}
	full := defs()
	if n := count(); n != "74" {
		t.Fatalf("the server's schema has %s indexes on executions_visibility, want 74 (server v1.32.2)", n)
	}
	for range 2 {
		if err := ApplyPostgresVisibilityIndexes(ctx(t), d, "lean"); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != "9" {
			t.Fatalf("lean left %s indexes, want 9 (8 and the primary key)", n)
		}
		if n := pg.QueryString(t, name, `SELECT count(*)::text FROM `+droppedIndexTable); n != "65" {
			t.Fatalf("%s records %s indexes, want 65", droppedIndexTable, n)
		}
	}
	// A lean database is still the server's current schema, for Inspect
	// (the record table is devcluster's own, not a foreign one).
	if st, err := Inspect(ctx(t), d); err != nil || st.State != Current {
		t.Fatalf("Inspect after lean = %+v, %v", st, err)
	}
	for ix := range leanVisibilityIndexes {
		if !strings.Contains(defs(), "INDEX "+ix+" ON") {
			t.Errorf("lean dropped %s", ix)
		}
	}
	if err := ApplyPostgresVisibilityIndexes(ctx(t), d, "full"); err != nil {
		t.Fatal(err)
	}
	if got := defs(); got != full {
		t.Fatalf("full restored other indexes:\n%s\nwant:\n%s", got, full)
	}
	if got := pg.QueryString(t, name, `SELECT coalesce(to_regclass('`+droppedIndexTable+`')::text, 'gone')`); got != "gone" {
		t.Fatalf("%s left after full: %s", droppedIndexTable, got)
	}
	// Still the server's current schema, for Inspect.
	if st, err := Inspect(ctx(t), d); err != nil || st.State != Current {
		t.Fatalf("Inspect after lean and full = %+v, %v", st, err)
	}
	// A user who does not own the table leaves the indexes as they are.
	other := database(t, pg.RoleURL(pgtest.Limited, name), Visibility)
	if err := ApplyPostgresVisibilityIndexes(ctx(t), other, "lean"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("lean by a user who does not own the table: %v, want ErrNotOwner", err)
	}
	if n := count(); n != "74" {
		t.Fatalf("%s indexes after a refused lean, want 74", n)
	}
}
