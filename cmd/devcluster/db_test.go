package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// TestDBCommands runs `devcluster db status|setup|upgrade` on a throwaway
// PostgreSQL server: a missing database, an older schema and a newer one.
func TestDBCommands(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, url := pg.NewDatabase(t)
	db := func(wantCode int, wantOut string, args ...string) {
		t.Helper()
		code, out, errOut := runBinary(t, append(args, "--db-url", url)...)
		if code != wantCode || !strings.Contains(out+errOut, wantOut) {
			t.Fatalf("devcluster %s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, wantOut, out, errOut)
		}
		if strings.Contains(out+errOut, pg.Password) {
			t.Errorf("devcluster %s prints the password", strings.Join(args, " "))
		}
	}
	db(1, name+" (main): does not exist; devcluster creates it with schema "+persistence.Main.Want(), "db", "status")
	db(0, name+"_visibility (visibility): created, schema "+persistence.Visibility.Want()+" installed", "db", "setup")
	db(0, name+" (main): schema "+persistence.Main.Want()+", current", "db", "status")
	db(0, "current; nothing to do", "db", "setup")

	// An older main schema: setup refuses, upgrade upgrades, touching
	// neither database before both are checked.
	older, olderURL := pg.NewDatabase(t)
	u, _ := profiles.ParseDatabaseURL(olderURL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := persistence.SetupVersion(ctx, persistence.Database{Kind: persistence.Main, SQL: persistence.SQLConfig(u, ""), Key: "persistence.url"}, "1.12"); err != nil {
		t.Fatal(err)
	}
	url = olderURL
	db(1, older+" (main): schema 1.12, older than "+persistence.Main.Want()+"; devcluster upgrades it", "db", "status")
	db(2, "persistence.url: database "+older+" has Temporal main schema 1.12, older than "+persistence.Main.Want()+"; upgrade it with devcluster db upgrade", "db", "setup")
	if pg.DatabaseExists(t, older+"_visibility") {
		t.Error("a refused db setup created the visibility database")
	}
	// upgrade brings both to the current schema, creating the missing one.
	db(0, older+" (main): schema upgraded from 1.12 to "+persistence.Main.Want(), "db", "upgrade")
	if !pg.DatabaseExists(t, older+"_visibility") {
		t.Error("db upgrade did not create the missing visibility database")
	}
	db(0, "current", "db", "status")

	// A newer schema is refused by every command, changed by none.
	pg.MustExec(t, older, `UPDATE schema_version SET curr_version = '9.0'`)
	db(1, "schema 9.0, newer than this devcluster's "+persistence.Main.Want()+"; refused", "db", "status")
	db(2, "persistence.url: database "+older+" has Temporal main schema 9.0, newer than the "+persistence.Main.Want(), "db", "upgrade")
	db(2, "it was left unchanged", "start", "--port", "0", "--http-port", "0")
	if v := pg.QueryString(t, older, `SELECT curr_version FROM schema_version`); v != "9.0" {
		t.Errorf("version after refusals = %s", v)
	}
}

// TestStartOnPostgres starts the binary with the URL from the environment
// (a password file holding the password): the banner names the database
// without its password, and SIGINT stops it.
func TestStartOnPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, url := pg.NewDatabase(t)
	pwFile := t.TempDir() + "/pg.pw"
	if err := os.WriteFile(pwFile, []byte(pg.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noPassword := strings.Replace(url, ":"+pg.Password+"@", "@", 1)
	p := startProcEnv(t, []string{"DEVCLUSTER_PERSISTENCE_URL=" + noPassword, "DEVCLUSTER_PERSISTENCE_PASSWORD_FILE=" + pwFile},
		"start", "--port", "0", "--http-port", "0", "--headless", "--namespace", "orders")
	addr := p.waitBanner(t, 90*time.Second)
	banner := p.stdout.String()
	if want := "PostgreSQL postgres://devcluster@" + pg.Addr() + "/" + name + " (visibility: " + name + "_visibility)"; !strings.Contains(banner, want) {
		t.Errorf("banner lacks %q:\n%s", want, banner)
	}
	if code, out, errOut := runBinary(t, "wait-ready", "--address", addr, "--namespace", "orders", "--timeout", "30s"); code != 0 {
		t.Fatalf("wait-ready exit %d: %s%s", code, out, errOut)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0", code)
	}
	if strings.Contains(p.stdout.String()+p.stderr.String(), pg.Password) {
		t.Error("the password was printed")
	}
}

// TestPostgresBadInput: bad database settings, each one line on stderr
// naming the key, where it came from and the fix, exit 2, well within the
// startup timeout.
func TestPostgresBadInput(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	db := pgtest.DatabaseName()
	wrong := strings.Replace(pg.URL(db), ":"+pg.Password+"@", ":wrong-pw@", 1)
	cases := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"another scheme", []string{"--db-url", "mysql://root:pw@127.0.0.1:3306/temporal"}, nil,
			[]string{`persistence.url: "mysql://root:xxxxx@127.0.0.1:3306/temporal" has scheme mysql`, "(from flag --db-url)"}},
		{"unreachable", []string{"--db-url", "postgres://u:pw@127.0.0.1:1/" + db}, nil,
			[]string{"persistence.url: cannot reach PostgreSQL at 127.0.0.1:1", "start the server, or fix HOST:PORT", "(from flag --db-url)"}},
		{"wrong password", nil, []string{"DEVCLUSTER_PERSISTENCE_URL=" + wrong},
			[]string{"persistence.url: PostgreSQL at " + pg.Addr() + ` refused user "devcluster"`, "(from env DEVCLUSTER_PERSISTENCE_URL)"}},
		{"no permission to create the database", []string{"--db-url", pg.RoleURL(pgtest.Limited, db)}, nil,
			[]string{`user "limited" may not create databases`, "CREATEDB", "(from flag --db-url)"}},
		{"TLS refused", []string{"--db-url", pg.URL(db, "sslmode=require")}, nil,
			[]string{"does not offer TLS, which sslmode=require asks for", "ssl = on"}},
		{"file and url", []string{"--db-url", pg.URL(db), "--db-file", "x.db"}, nil,
			[]string{"persistence.url: ", "unset persistence.file to run on PostgreSQL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			p := startProcEnv(t, tc.env, append([]string{"start", "--port", "0", "--http-port", "0", "--headless"}, tc.args...)...)
			code := p.exitCode(t, 30*time.Second)
			errOut := strings.TrimSpace(p.stderr.String())
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if lines := strings.Count(errOut, "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, errOut)
			}
			if strings.Contains(errOut, pg.Password) || strings.Contains(errOut, "wrong-pw") {
				t.Errorf("stderr shows a password:\n%s", errOut)
			}
			if took := time.Since(began); took > 15*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
	if pg.DatabaseExists(t, db) {
		t.Errorf("a refused start created database %s", db)
	}
}
