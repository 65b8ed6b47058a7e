package persistence

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// AcceptLoss makes a database file that a start refuses for a damaged or
// missing write-ahead log usable again, losing what cannot be had, and
// says what it did in one line. Run it only while no devcluster uses the
// file.
//   - A damaged log: the log is first copied to PATH-wal.damaged (nothing
//     is lost for good: a backup tool or an expert may still get more out
//     of it); then SQLite replays the frames before the damage into the
//     file, the rest of the log is dropped, and the line says how many
//     frames (and at least how many committed transactions) were dropped.
//   - A file marked running without its log (a copy made without it): the
//     file is accepted as it is, as of its last checkpoint.
//
// Either way the file is then marked stopped cleanly, with its log folded
// in, and checked with quick_check. A file with nothing to accept is left
// as it is. key names the config key of path in errors.
func AcceptLoss(path, key string) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", &profiles.FieldError{Key: key, Value: path, Msg: fmt.Sprintf(format, args...)}
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("cannot be read: %v; give the path of the database file the start refused", oserr.Cause(err))
	}
	header := make([]byte, 16)
	_, err = io.ReadFull(f, header)
	_ = f.Close()
	if err != nil || !bytes.Equal(header, []byte("SQLite format 3\x00")) {
		return fail("is not an SQLite database; there is nothing to accept")
	}
	wal, err := scanWAL(path + "-wal")
	if err != nil {
		return fail("its write-ahead log cannot be read: %v", err)
	}
	marker, err := fileMarker(path)
	if err != nil {
		return fail("cannot be read: %v", oserr.Cause(err))
	}
	var what string
	switch {
	case wal.Damaged():
		kept := path + "-wal.damaged"
		if fileSize(kept) >= 0 {
			return fail("has a damaged log, and %s is already there (from an earlier accept-loss?); move it away first", kept)
		}
		if err := copyFile(path+"-wal", kept); err != nil {
			return fail("cannot keep the damaged log as %s: %v", kept, err)
		}
		if wal.HeaderDamaged {
			what = fmt.Sprintf("%s: the log's header was damaged: dropped all %d frame(s) of the log, kept as %s", path, wal.Frames, filepath.Base(kept))
		} else {
			what = fmt.Sprintf("%s: kept %d frame(s) (%d committed transaction(s)) before the damage at frame %d; dropped %d frame(s), with at least %d committed transaction(s); the log is kept as %s",
				path, wal.Replayed, wal.Commits, wal.Valid+1, wal.Dropped(), wal.LaterCommits, filepath.Base(kept))
		}
	case marker == markerRunning && wal.Empty:
		what = fmt.Sprintf("%s: accepted without its write-ahead log, as of its last checkpoint; what only the log held is lost", path)
	default:
		return fmt.Sprintf("%s: nothing to accept (its log is whole, or it was stopped cleanly); left as it is", path), nil
	}
	m, err := markRunning(path, "wal")
	if err != nil {
		return "", err
	}
	if err := m.markClean(); err != nil {
		return "", err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return "", err
	}
	defer func() { _ = db.Close() }()
	if err := quickCheck(db); err != nil {
		what += fmt.Sprintf("; quick_check finds the file damaged too (%v): restore a backup, or give a new path", err)
	}
	return what, nil
}

// copyFile copies from to a new file to, synced.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
