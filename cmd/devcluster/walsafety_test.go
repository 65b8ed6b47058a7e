package main

// Damage a start must find before it writes (issue 32): a write-ahead log
// damaged in the middle, a copy of a running file without its log, damaged
// data pages in a file left by a crash, another cluster's file. The
// refusals themselves are rows of TestRefusedStartsLeaveFilesAlone; the
// helpers that damage a real database are here, with a test under load.

import (
	"context"
	bin "encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walGeneration reads the page size and the page numbers of the frames of
// the current generation of db's -wal: the frames from the first one on
// that carry the header's salts (SQLite writes a generation from the log's
// first frame on).
func walGeneration(t *testing.T, db string) (pageSize int64, pages []uint32) {
	t.Helper()
	b, err := os.ReadFile(db + "-wal")
	if err != nil || len(b) < 32 {
		t.Fatalf("no -wal with a header beside %s (%v)", db, err)
	}
	be := bin.BigEndian
	pageSize = int64(be.Uint32(b[8:]))
	salts := string(b[16:24])
	for off := int64(32); off+24+pageSize <= int64(len(b)); off += 24 + pageSize {
		if string(b[off+8:off+16]) != salts {
			break
		}
		pages = append(pages, be.Uint32(b[off:]))
	}
	return pageSize, pages
}

// damageWALMiddle writes 8 KiB of garbage into the middle of the current
// generation of db's -wal, where committed transactions follow.
func damageWALMiddle(t *testing.T, db string) {
	t.Helper()
	pageSize, pages := walGeneration(t, db)
	if len(pages) < 8 {
		t.Fatalf("the -wal of %s holds %d frames of this generation; want a few more to damage the middle", db, len(pages))
	}
	off := 32 + int64(len(pages)/2)*(24+pageSize) + 100
	overwrite(t, db+"-wal", off, 8<<10)
}

// damageDataPage overwrites, with garbage, a page of db's second half
// that its -wal does not hold a newer copy of: damage SQLite meets only
// when it reads that page.
func damageDataPage(t *testing.T, db string) {
	t.Helper()
	pageSize, pages := walGeneration(t, db)
	inLog := map[uint32]bool{}
	for _, p := range pages {
		inLog[p] = true
	}
	n := uint32(fileSize(db) / pageSize)
	for p := n / 2; p <= n; p++ {
		if p > 1 && !inLog[p] {
			overwrite(t, db, int64(p-1)*pageSize, int(pageSize))
			return
		}
	}
	t.Fatalf("every page of %s's second half is in its log", db)
}

// overwrite writes n bytes of garbage at off in path.
func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	g := make([]byte, n)
	for i := range g {
		g[i] = byte(i*7 + 3)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(g, off); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLogUnderLoad: a file killed under load, its acknowledged
// workflows in the -wal, with 8 KiB of garbage written into the middle of
// the log, is refused (before, SQLite replayed up to the damage and the
// start dropped the rest for good, with exit 0 and no word); the same
// crash without the damage starts with every acknowledged workflow; and
// `db accept-loss` makes the damaged copy usable, saying what it drops.
func TestDamagedLogUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills devcluster; skipped with -short")
	}
	db := filepath.Join(t.TempDir(), "load.db")
	// No automatic checkpoint during the load: one that copied frames from
	// after the damage point into the file (the log reaches SQLite's 1,000
	// frames under a fast load) leaves a file that no cut of the log makes
	// whole again, and accept-loss then rightly finds it damaged too.
	noCheckpoint := filepath.Join(t.TempDir(), "no-checkpoint.yaml")
	if err := os.WriteFile(noCheckpoint, []byte("persistence:\n  pragmas:\n    wal_autocheckpoint: \"0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startOnFile(t, db, "--config", noCheckpoint)
	cl := dialFrontend(t, c.frontend(t, 30*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	l := runLoad(ctx, cl, "load")
	go func() {
		<-l.reached
		_ = c.cmd.Process.Kill()
		<-c.done
		cancel()
	}()
	acked := l.ackedIDs()
	cancel()
	cl.Close()
	c.killNow(t)
	if len(acked) < crashKillAfter {
		t.Fatalf("only %d starts acknowledged before the kill, want at least %d", len(acked), crashKillAfter)
	}

	damaged := filepath.Join(t.TempDir(), "damaged.db")
	copyDB(t, db, damaged)
	damageWALMiddle(t, damaged)
	before := fileSums(t, damaged)
	code, _, stderr := runBinary(t, "start", "--profile", "test", "--db-file", damaged)
	if code != exitUsage {
		t.Errorf("exit code %d on a damaged log, want %d\nstderr:\n%s", code, exitUsage, stderr)
	}
	for _, w := range []string{"persistence.file", "damaged write-ahead log", "committed transaction", "accept-loss", "backup"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	for name, sum := range before {
		if after := fileSums(t, damaged); after[name] != sum {
			t.Errorf("%s changed by a refused start", name)
		}
	}

	// The crash alone is no damage: every acknowledged start is there.
	r := startOnFile(t, db)
	verifyAcked(t, r.frontend(t, 30*time.Second), acked)
	r.stop(t)

	// The user accepts the loss; the damaged log is kept beside the file.
	code, stdout, stderr := runBinary(t, "db", "accept-loss", "--db-file", damaged)
	if code != 0 || !strings.Contains(stdout, "dropped") || !strings.Contains(stdout, "committed transaction") {
		t.Fatalf("db accept-loss: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("db accept-loss: %s", strings.TrimSpace(stdout))
	if fileSize(damaged+"-wal.damaged") <= 0 {
		t.Errorf("the damaged log was not kept as %s-wal.damaged", damaged)
	}
	a := startOnFile(t, damaged)
	a.frontend(t, 30*time.Second)
	a.stop(t)
	integrityCheck(t, damaged)
}
