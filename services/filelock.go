package services

import (
	"errors"
	"fmt"
	"os"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// errInUse is a database file another process holds (see lockFile).
var errInUse = errors.New("in use by another process")

// lockFiles locks each database file that exists and is not locked yet by
// this server (see lockFile), so that no second devcluster, or a Temporal
// server, runs on a file while this one does: both would take every
// shard, each stealing them back from the other, and a marker one of them
// writes at its stop would call the other's running file clean. It is
// called before the files are inspected and again once new ones exist.
// The locks are released by unlockFiles.
func (s *Server) lockFiles() error {
	for _, f := range []struct{ key, path string }{{"persistence.file", s.cfg.Persistence.File}, {"visibility.file", s.cfg.Visibility.File}} {
		s.mu.Lock()
		_, held := s.locks[f.path]
		s.mu.Unlock()
		if f.path == "" || held {
			continue
		}
		unlock, err := lockFile(f.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // a new file: locked once created
		case errors.Is(err, errInUse):
			return &profiles.FieldError{Key: f.key, Value: f.path,
				Msg: "is in use by another process (another devcluster, or a Temporal server, runs on it): stop that one first, or use another file"}
		case err != nil:
			return &profiles.FieldError{Key: f.key, Value: f.path, Msg: fmt.Sprintf("cannot be locked: %v", oserr.Cause(err))}
		}
		s.mu.Lock()
		if s.locks == nil {
			s.locks = map[string]func(){}
		}
		s.locks[f.path] = unlock
		s.mu.Unlock()
	}
	return nil
}

// unlockFiles releases the locks of lockFiles; idempotent.
func (s *Server) unlockFiles() {
	s.mu.Lock()
	locks := s.locks
	s.locks = nil
	s.mu.Unlock()
	for _, unlock := range locks {
		unlock()
	}
}
