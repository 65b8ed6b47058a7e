package persistence

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walDB is a database in WAL mode that never checkpoints on its own, so
// that its log holds every transaction; its files are copied while the
// connection is open (closing the last connection would fold the log in).
type walDB struct {
	path string
	db   *sql.DB
}

func openWALDB(t *testing.T) *walDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode%3dwal&_pragma=wal_autocheckpoint%3d0&_pragma=cache_size%3d-64")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	w := &walDB{path: path, db: db}
	w.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`)
	return w
}

func (w *walDB) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := w.db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// insert commits n transactions of one row each, ids from first.
func (w *walDB) insert(t *testing.T, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		w.exec(t, fmt.Sprintf(`INSERT INTO t VALUES (%d, randomblob(3000))`, i))
	}
}

// snapshot copies the database and its log, as they are on disk now.
func (w *walDB) snapshot(t *testing.T) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(w.path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// rowsIn opens db as SQLite does (replaying its log) and counts the rows.
func rowsIn(t *testing.T, db string) int {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	var n int
	if err := conn.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func scan(t *testing.T, db string) walScan {
	t.Helper()
	w, err := scanWAL(db + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestScanWAL(t *testing.T) {
	t.Parallel()
	const rows = 60
	w := openWALDB(t)
	w.insert(t, 0, rows)

	t.Run("whole log", func(t *testing.T) {
		db := w.snapshot(t)
		s := scan(t, db)
		if s.Damaged() || s.HeaderDamaged || s.Valid != s.Frames || s.Replayed != s.Valid || s.Commits < rows {
			t.Fatalf("scan = %+v, want every frame valid and replayed, >= %d commits", s, rows)
		}
	})

	t.Run("torn tail", func(t *testing.T) {
		// A crash in the middle of writing the last frame: the file ends
		// inside it.
		db := w.snapshot(t)
		full := scan(t, db)
		if err := os.Truncate(db+"-wal", fileSize(db+"-wal")-1000); err != nil {
			t.Fatal(err)
		}
		s := scan(t, db)
		if s.Damaged() || s.Frames != full.Frames-1 {
			t.Fatalf("scan = %+v, want a torn tail, not damage", s)
		}
		if n := rowsIn(t, db); n != rows-1 {
			t.Errorf("%d rows after the replay, want %d (the torn transaction dropped)", n, rows-1)
		}
	})

	t.Run("garbage in the middle", func(t *testing.T) {
		db := w.snapshot(t)
		full := scan(t, db)
		writeAt(t, db+"-wal", fileSize(db+"-wal")/2, garbage(8<<10))
		s := scan(t, db)
		if !s.Damaged() || s.LaterCommits == 0 || s.Dropped() <= 0 || s.Valid >= full.Frames/2+1 {
			t.Fatalf("scan = %+v, want damage with commits after it", s)
		}
		// What the check guards against: SQLite replays up to the damage
		// and drops the rest without a word.
		if n := rowsIn(t, db); n >= rows {
			t.Errorf("%d rows after the replay; the test expects SQLite to drop those after the damage", n)
		}
	})

	t.Run("damaged header", func(t *testing.T) {
		db := w.snapshot(t)
		writeAt(t, db+"-wal", 17, []byte{0xee}) // inside salt-1
		s := scan(t, db)
		if !s.HeaderDamaged || !s.Damaged() {
			t.Fatalf("scan = %+v, want a damaged header", s)
		}
	})

	t.Run("garbage header", func(t *testing.T) {
		db := w.snapshot(t)
		writeAt(t, db+"-wal", 0, garbage(8<<10))
		if s := scan(t, db); !s.HeaderDamaged || !s.Damaged() {
			t.Fatalf("scan = %+v, want a damaged header", s)
		}
	})

	t.Run("no log or an empty one", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "none.db")
		if s := scan(t, db); !s.Empty || s.Damaged() {
			t.Fatalf("scan = %+v, want empty", s)
		}
		if err := os.WriteFile(db+"-wal", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if s := scan(t, db); !s.Empty || s.Damaged() {
			t.Fatalf("scan = %+v, want empty", s)
		}
	})
}

// TestScanWALOlderGeneration: after a checkpoint SQLite writes the log
// from its first frame again, with new salts, and leaves the older frames
// behind it; they are not damage.
func TestScanWALOlderGeneration(t *testing.T) {
	t.Parallel()
	w := openWALDB(t)
	w.insert(t, 0, 60)
	w.exec(t, `PRAGMA wal_checkpoint(PASSIVE)`)
	w.insert(t, 60, 5)
	db := w.snapshot(t)
	s := scan(t, db)
	if s.Damaged() || s.Valid >= s.Frames || s.Replayed != s.Valid || s.LaterFrames != 0 {
		t.Fatalf("scan = %+v, want a few valid frames, then older ones", s)
	}
	if n := rowsIn(t, db); n != 65 {
		t.Errorf("%d rows, want 65", n)
	}
	// Damage in the older frames loses nothing either.
	db = w.snapshot(t)
	writeAt(t, db+"-wal", fileSize(db+"-wal")-20000, garbage(8<<10))
	if s := scan(t, db); s.Damaged() {
		t.Fatalf("scan = %+v after damage to older frames, want no damage", s)
	}
}

// TestScanWALOpenTransaction: a transaction larger than the page cache
// spills frames into the log before it commits; a crash then leaves
// frames of this generation without a commit frame, which is no loss.
func TestScanWALOpenTransaction(t *testing.T) {
	t.Parallel()
	w := openWALDB(t)
	w.insert(t, 0, 10)
	conn, err := w.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Rollback() }()
	for i := 100; i < 200; i++ {
		if _, err := conn.Exec(fmt.Sprintf(`INSERT INTO t VALUES (%d, randomblob(3000))`, i)); err != nil {
			t.Fatal(err)
		}
	}
	db := w.snapshot(t)
	s := scan(t, db)
	if s.Damaged() || s.Valid <= s.Replayed {
		t.Fatalf("scan = %+v, want uncommitted frames after the last commit, and no damage", s)
	}
	// Damage among the uncommitted frames loses nothing committed.
	writeAt(t, db+"-wal", fileSize(db+"-wal")-30000, garbage(8<<10))
	if s := scan(t, db); s.Damaged() {
		t.Fatalf("scan = %+v, want no damage: the frames after the break hold no commit", s)
	}
	if n := rowsIn(t, db); n != 10 {
		t.Errorf("%d rows, want the 10 committed", n)
	}
}

// TestMarkers: a file marked running keeps a -wal beside it until it is
// marked clean; a copy of the file alone is then refused, and a clean
// stop leaves a whole file marked clean.
func TestMarkers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if m, _ := fileMarker(path); m != 0 {
		t.Fatalf("marker %x on a new file, want 0", m)
	}
	mk, err := markRunning(path, "wal")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := fileMarker(path); m != markerRunning {
		t.Fatalf("marker %x in the main file after markRunning, want %x", m, markerRunning)
	}
	if fileSize(path+"-wal") <= 0 {
		t.Fatalf("no -wal beside a file marked running")
	}
	// The copy a user makes of the file alone.
	cp := filepath.Join(t.TempDir(), "copy.db")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m, _ := fileMarker(cp)
	if err := checkLeftState(cp, m, scan(t, cp)); err == nil || !strings.Contains(err.Error(), "without its write-ahead log") {
		t.Fatalf("copy without its log: %v, want refused", err)
	}
	if err := checkLeftState(path, markerRunning, scan(t, path)); err != nil {
		t.Fatalf("the file with its log: %v", err)
	}
	if err := mk.markClean(); err != nil {
		t.Fatal(err)
	}
	if m, _ := fileMarker(path); m != markerClean {
		t.Fatalf("marker %x after markClean, want %x", m, markerClean)
	}
	if n := fileSize(path + "-wal"); n > 0 {
		t.Fatalf("-wal of %d bytes after markClean, want none", n)
	}
	if err := checkLeftState(path, markerClean, scan(t, path)); err != nil {
		t.Fatalf("clean file: %v", err)
	}
}

// TestAcceptLoss: a damaged log is kept aside, what comes before the
// damage is folded in, and the file is marked clean; a copy without its
// log is accepted as it is; a whole file is left alone.
func TestAcceptLoss(t *testing.T) {
	t.Parallel()
	const rows = 60
	w := openWALDB(t)
	w.insert(t, 0, rows)

	db := w.snapshot(t)
	writeAt(t, db+"-wal", fileSize(db+"-wal")/2, garbage(8<<10))
	s := scan(t, db)
	what, err := AcceptLoss(db, "persistence.file")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("dropped %d frame(s)", s.Dropped()); !strings.Contains(what, want) {
		t.Errorf("AcceptLoss said %q, want %q in it", what, want)
	}
	if fileSize(db+"-wal.damaged") <= 0 {
		t.Errorf("the damaged log was not kept")
	}
	if m, _ := fileMarker(db); m != markerClean {
		t.Errorf("marker %x after AcceptLoss, want clean", m)
	}
	if n := rowsIn(t, db); n == 0 || n >= rows {
		t.Errorf("%d rows after AcceptLoss, want those before the damage", n)
	}
	if _, err := AcceptLoss(db, "persistence.file"); err != nil {
		t.Errorf("a second AcceptLoss: %v", err)
	}

	// A copy, without its log, of a file marked running.
	src := filepath.Join(t.TempDir(), "src.db")
	copyFileT(t, w.snapshot(t), src)
	mk, err := markRunning(src, "wal")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mk.markClean() }()
	cp := filepath.Join(t.TempDir(), "cp.db")
	copyFileT(t, src, cp)
	if what, err := AcceptLoss(cp, "persistence.file"); err != nil || !strings.Contains(what, "accepted without its write-ahead log") {
		t.Fatalf("AcceptLoss on a copy without its log: %q, %v", what, err)
	}
	if m, _ := fileMarker(cp); m != markerClean {
		t.Errorf("marker %x after AcceptLoss, want clean", m)
	}
	before, _ := os.ReadFile(cp)
	if what, err := AcceptLoss(cp, "persistence.file"); err != nil || !strings.Contains(what, "nothing to accept") {
		t.Fatalf("AcceptLoss on a whole file: %q, %v", what, err)
	}
	if after, _ := os.ReadFile(cp); string(after) != string(before) {
		t.Errorf("AcceptLoss changed a file with nothing to accept")
	}
}

func copyFileT(t *testing.T, from, to string) {
	t.Helper()
	if err := copyFile(from, to); err != nil {
		t.Fatal(err)
	}
}
