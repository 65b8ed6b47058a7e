package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/profiles"
)

// TestCleanStopLeavesWholeFile: after a clean stop the database file alone
// is the whole database (its log folded in), so a copy of just that file,
// without its -wal, starts with every workflow. Before, the file was a 4 KB
// shell, and a start on the copy made an empty database over it.
func TestCleanStopLeavesWholeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "dev.db")
	c := startOnFile(t, db, "--search-attribute", "Color=Keyword")
	addr := c.frontend(t, 30*time.Second)
	cl := dialFrontend(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: crashTaskQueue}, "WaitForSignal")
	cancel()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.stop(t)
	if n := fileSize(db + "-wal"); n > 0 {
		t.Errorf("%s-wal holds %d bytes after a clean stop, want none (folded into the file)", db, n)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600: workflow payloads are the user's alone", db, fi.Mode(), err)
	}

	// The copy a user makes: the file alone.
	cp := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, db, cp)
	r := startOnFile(t, cp)
	addr = r.frontend(t, 30*time.Second)
	if strings.Contains(r.stderr.String(), "creating it again") {
		t.Errorf("the copy was made again:\n%s", r.stderr.String())
	}
	verifyAcked(t, addr, []string{"kept"})
	// The banner lists what the database has, not only what the flags say.
	r.waitBanner(t, 10*time.Second)
	if banner := r.stdout.String(); !strings.Contains(banner, "Color (Keyword)") {
		t.Errorf("banner does not list the file's search attribute Color:\n%s", banner)
	}
	r.stop(t)
	integrityCheck(t, cp)
}

// TestRefusedStartsLeaveFilesAlone starts devcluster on database files it
// must refuse: each start exits 2 with a message that names the file (or the
// key) and what to do, and leaves every file of the database byte for byte
// as it was.
func TestRefusedStartsLeaveFilesAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster several times; skipped with -short")
	}
	// One real database, made by a start and a kill so that its last
	// changes are still in the -wal file (as after a crash).
	base := filepath.Join(t.TempDir(), "base.db")
	c := startOnFile(t, base, "--search-attribute", "Color=Keyword")
	addr := c.frontend(t, 30*time.Second)
	cl := dialFrontend(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "in-the-log", TaskQueue: crashTaskQueue}, "WaitForSignal")
	cancel()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.killNow(t)
	if fileSize(base+"-wal") <= 0 {
		t.Fatalf("the killed cluster left no -wal; the cases below need one")
	}

	// A file of a group of replicating clusters a and b, stopped cleanly.
	group := filepath.Join(t.TempDir(), "group.db")
	g := startOnFile(t, group, "--clusters", "a,b")
	g.frontend(t, 60*time.Second)
	g.stop(t)
	otherName := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(otherName, []byte("cluster:\n  name: other\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	heldPort := fmt.Sprint(held.Addr().(*net.TCPAddr).Port)

	cases := []struct {
		name    string
		prepare func(t *testing.T, db string)
		args    []string
		want    []string
	}{
		{"copy without its log", func(t *testing.T, db string) {
			// A database whose every change is in a log that was not
			// copied: an SQLite file with no table.
			sqliteExec(t, db, "PRAGMA user_version = 7")
		}, nil, []string{"persistence.file", "no tables", "-wal", "left as it is"}},
		{"empty database of another program", func(t *testing.T, db string) {
			sqliteExec(t, db, "PRAGMA user_version = 1")
			if err := os.WriteFile(db+"-wal", nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, []string{"persistence.file", "no tables"}},
		{"another program's database", func(t *testing.T, db string) {
			sqliteExec(t, db, "CREATE TABLE people (name TEXT)", "INSERT INTO people VALUES ('ada')")
		}, nil, []string{"persistence.file", "another program", "give a new path"}},
		{"damaged log", func(t *testing.T, db string) {
			copyDB(t, base, db)
			garbage := make([]byte, 8<<10)
			for i := range garbage {
				garbage[i] = byte(i*7 + 3)
			}
			f, err := os.OpenFile(db+"-wal", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(garbage, 0); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}, nil, []string{"persistence.file", "damaged write-ahead log", "-wal", "backup"}},
		{"log damaged in the middle", func(t *testing.T, db string) {
			// Committed transactions follow the damage: SQLite would drop
			// them for good.
			copyDB(t, base, db)
			damageWALMiddle(t, db)
		}, nil, []string{"persistence.file", "damaged write-ahead log", "committed transaction", "accept-loss"}},
		{"copy of a crashed file without its log", func(t *testing.T, db string) {
			// The file is marked running: its log holds the latest state.
			copyFile(t, base, db)
		}, nil, []string{"persistence.file", "without its write-ahead log", "dev.db-wal", "accept-loss", "left as it is"}},
		{"damaged data page in a crashed file", func(t *testing.T, db string) {
			copyDB(t, base, db)
			damageDataPage(t, db)
		}, nil, []string{"persistence.file", "is damaged", "quick_check", "left as it is"}},
		{"another cluster's file", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--config", otherName}, []string{"cluster.name", `"other"`, `"active"`, "left as it is"}},
		{"member file of a group started alone", func(t *testing.T, db string) {
			copyDB(t, profiles.ClusterFile(group, "a"), db)
		}, nil, []string{"cluster.name", `"active"`, `"a", "b"`}},
		{"incomplete Temporal database", func(t *testing.T, db string) {
			copyDB(t, base, db)
			sqliteExec(t, db, "DROP TABLE executions")
		}, nil, []string{"persistence.file", "incomplete Temporal database", "executions"}},
		{"search attribute of another type", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--search-attribute", "Color=Int"}, []string{"search-attributes.Color", "Keyword", "flag --search-attribute", "cannot change"}},
		{"shard count differs", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--shards", "4"}, []string{"persistence.shards", "4", "fixed"}},
		{"log without its database", func(t *testing.T, db string) {
			// The database was moved away after a crash; its log stayed.
			copyFile(t, base+"-wal", db+"-wal")
		}, nil, []string{"persistence.file", "no database but a log", "-wal"}},
		{"not a regular file", func(t *testing.T, db string) {
			empty := db + ".target"
			if err := os.WriteFile(empty, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(empty, db); err != nil {
				t.Fatal(err)
			}
		}, nil, []string{"persistence.file", "not a regular file"}},
		{"port in use", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--port", heldPort}, []string{"services.frontend.grpc-port", "already in use", "flag --port"}},
		{"dynamic config value out of range", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--dynamic-config-value", "limit.maxIDLength=-1"}, []string{"limit.maxIDLength", "negative", "flag --dynamic-config-value"}},
		{"ip not on this host", func(t *testing.T, db string) {
			copyDB(t, base, db)
		}, []string{"--ip", "192.0.2.77"}, []string{"ip", "192.0.2.77", "not an address of this host", "flag --ip"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "dev.db")
			tc.prepare(t, db)
			before := fileSums(t, db)
			args := append([]string{"start", "--profile", "test", "--db-file", db}, tc.args...)
			code, _, stderr := runBinary(t, args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "creating it again") {
				t.Errorf("the file was made again:\n%s", stderr)
			}
			after := fileSums(t, db)
			for name, sum := range before {
				if after[name] != sum {
					t.Errorf("%s changed by a refused start (%s -> %s)", name, sum, after[name])
				}
			}
		})
	}
}

// TestReadOnlyDatabase: a database file this user cannot write is refused
// at once with the file's name and the fix, not with SQLite's "attempt to
// write a readonly database" from somewhere inside the start.
func TestReadOnlyDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "dev.db")
	c := startOnFile(t, db)
	c.frontend(t, 30*time.Second)
	c.stop(t)

	if os.Geteuid() == 0 {
		// Root writes any file whatever its mode: make the file system
		// read-only instead.
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", ro).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", ro).Run() })
		copyFile(t, db, filepath.Join(ro, "dev.db"))
		if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
			t.Skipf("cannot remount read-only: %v %s", err, out)
		}
		db = filepath.Join(ro, "dev.db")
	} else if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	before := fileSums(t, db)
	code, _, stderr := runBinary(t, "start", "--profile", "test", "--db-file", db)
	if code != exitUsage {
		t.Errorf("exit code %d, want %d\nstderr:\n%s", code, exitUsage, stderr)
	}
	for _, w := range []string{"persistence.file", db, "read-only", "writable"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if after := fileSums(t, db); after[filepath.Base(db)] != before[filepath.Base(db)] {
		t.Errorf("the read-only file changed")
	}
}

// fileSums returns the SHA-256 of db and of each of its companion files
// that exists, by base name.
func fileSums(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, suffix := range []string{"", "-wal", "-journal"} {
		f, err := os.Open(db + suffix)
		if err != nil {
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(db+suffix)] = hex.EncodeToString(h.Sum(nil))
	}
	if len(out) == 0 {
		t.Fatalf("no file at %s", db)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyDB copies a database file with its -wal, as a backup tool would.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	copyFile(t, from, to)
	if fileSize(from+"-wal") >= 0 {
		copyFile(t, from+"-wal", to+"-wal")
	}
}

// sqliteExec runs statements on db (created when absent) and closes it.
func sqliteExec(t *testing.T, db string, stmts ...string) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	for _, s := range stmts {
		if _, err := conn.Exec(s); err != nil {
			t.Fatalf("%s on %s: %v", s, db, err)
		}
	}
}

// TestSecondProcessOnOneFileRefused: a second devcluster on a database
// file another one runs on exits 2 naming persistence.file, and the first
// keeps its shard and its workflows. (It used to start too and take the
// shard over: the first then failed every write with "Failed to update
// shard".)
func TestSecondProcessOnOneFileRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	db := filepath.Join(t.TempDir(), "dev.db")
	first := startOnFile(t, db)
	addr := first.frontend(t, 30*time.Second)
	code, _, stderr := runBinary(t, "start", "--profile", "test", "--db-file", db)
	if code != 2 || !strings.Contains(stderr, "persistence.file") || !strings.Contains(stderr, "in use by another process") {
		t.Fatalf("a second start on %s: exit %d\n%s\nwant exit 2 naming persistence.file, in use", db, code, stderr)
	}
	cl := dialFrontend(t, addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "after-refusal", TaskQueue: crashTaskQueue}, "WaitForSignal"); err != nil {
		t.Fatalf("the first cluster after the refused second start: %v", err)
	}
	first.stop(t)
	if strings.Contains(first.stderr.String(), "Failed to update shard") {
		t.Errorf("the first cluster lost its shard:\n%s", first.stderr.String())
	}
	// Stopped, the file is free again.
	again := startOnFile(t, db)
	verifyAcked(t, again.frontend(t, 30*time.Second), []string{"after-refusal"})
	again.stop(t)
}
