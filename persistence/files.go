package persistence

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// errInUse is a database file another process holds (see lockFile).
var errInUse = errors.New("in use by another process")

// Files hold a cluster's database files (persistence.file and
// visibility.file) while a server runs on them: each locked against other
// processes (Lock) and marked running (Mark) until Close. Its methods are
// safe for concurrent use.
type Files struct {
	files   []struct{ key, path string }
	journal string

	mu    sync.Mutex
	locks map[string]func() // by path
	marks []*marking
}

// NewFiles returns the files of cfg, neither locked nor marked yet.
func NewFiles(cfg profiles.Config) *Files {
	f := &Files{journal: cfg.Persistence.Pragmas["journal_mode"]}
	if f.journal == "" {
		f.journal = filePragmas["journal_mode"]
	}
	for _, kp := range []struct{ key, path string }{{"persistence.file", cfg.Persistence.File}, {"visibility.file", cfg.Visibility.File}} {
		if kp.path != "" {
			f.files = append(f.files, kp)
		}
	}
	return f
}

// Lock locks each file that exists and is not locked yet (see lockFile),
// so that no second devcluster, or a Temporal server, runs on a file while
// this one does: both would take every shard, each stealing them back from
// the other, and a marker one of them writes at its stop would call the
// other's running file clean. Call it before the files are inspected and
// again once new ones exist.
func (f *Files) Lock() error {
	for _, kp := range f.files {
		f.mu.Lock()
		_, held := f.locks[kp.path]
		f.mu.Unlock()
		if held {
			continue
		}
		unlock, err := lockFile(kp.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // a new file: locked once created
		case errors.Is(err, errInUse):
			return &profiles.FieldError{Key: kp.key, Value: kp.path,
				Msg: "is in use by another process (another devcluster, or a Temporal server, runs on it): stop that one first, or use another file"}
		case err != nil:
			return &profiles.FieldError{Key: kp.key, Value: kp.path, Msg: fmt.Sprintf("cannot be locked: %v", oserr.Cause(err))}
		}
		f.mu.Lock()
		if f.locks == nil {
			f.locks = map[string]func(){}
		}
		f.locks[kp.path] = unlock
		f.mu.Unlock()
	}
	return nil
}

// Mark marks each file as running before anything is written into it (see
// marking): a copy of the file without its log, or a file left by a
// crash, is then known at the next start.
func (f *Files) Mark() error {
	for _, kp := range f.files {
		m, err := markRunning(kp.path, f.journal)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.marks = append(f.marks, m)
		f.mu.Unlock()
	}
	return nil
}

// Close marks each file stopped and moves its write-ahead log into it, so
// that the file alone is the whole database (a user may copy just that
// file), then releases the locks. Call it once the server has stopped, or
// never ran. A file that could not be marked is reported to warn: its log
// is still beside it, it stays marked running, and SQLite reads the log at
// the next start. Idempotent.
func (f *Files) Close(warn func(path string, err error)) {
	f.mu.Lock()
	marks, locks := f.marks, f.locks
	f.marks, f.locks = nil, nil
	f.mu.Unlock()
	for _, m := range marks {
		if err := m.markClean(); err != nil {
			warn(m.path, err)
		}
	}
	for _, unlock := range locks {
		unlock()
	}
}
