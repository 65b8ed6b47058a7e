// Package filewatch follows a file a person edits while a cluster runs
// (the dynamic-config file, the faults file): its contents are handed to a
// load function at start and again within moments of every change, however
// the editor or orchestrator writes it (in place, rename over, delete and
// re-create, a Kubernetes ConfigMap's symlink swap), with a poll as the
// fallback where the file system sends no events.
package filewatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Timing: editors write a file in several steps (truncate, write, rename);
// events are gathered for Settle before the file is read. PollInterval is
// the fallback for file systems that send no events.
const (
	Settle       = 30 * time.Millisecond
	PollInterval = time.Second
)

// Contents is what a load is given.
type Contents struct {
	Path   string // the file's absolute path
	Bytes  []byte
	Exists bool  // false: there is no file (Bytes is nil)
	Err    error // the file exists but cannot be read (*ReadError)
	First  bool  // the load at Watch
}

// Load receives the file's contents. Its error at the first load ends
// Watch with it; later ones are the load's to report (the watcher keeps
// going, and does not call it again for the same contents).
type Load func(Contents) error

// Watcher follows one file.
type Watcher struct {
	path   string
	load   Load
	logger *slog.Logger

	fsw  *fsnotify.Watcher
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	sum    [32]byte
	exists bool
	seen   bool // sum and exists are valid
}

// Watch loads path and follows it. The file may be absent (load is told
// so); its directory must exist (else a *DirError).
func Watch(path string, load Load, logger *slog.Logger) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &DirError{Path: path, Dir: dir}
	}
	w := &Watcher{path: abs, load: load, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	if err := w.reload(true); err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	// Watch the directory, not the file: editors and ConfigMaps replace the
	// file, which ends a watch on the file itself.
	if err := fsw.Add(dir); err != nil {
		_ = fsw.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w.fsw = fsw
	go w.run()
	return w, nil
}

// DirError is a watched file whose directory does not exist.
type DirError struct{ Path, Dir string }

func (e *DirError) Error() string {
	return fmt.Sprintf("directory %s does not exist; create it (the file itself may appear later)", e.Dir)
}

// Path is the watched file's absolute path.
func (w *Watcher) Path() string { return w.path }

// Close stops following the file; what was loaded stays loaded.
func (w *Watcher) Close() error {
	select {
	case <-w.stop:
		return nil
	default:
	}
	close(w.stop)
	<-w.done
	return w.fsw.Close()
}

func (w *Watcher) run() {
	defer close(w.done)
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-w.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.concerns(ev.Name) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(Settle)
			} else {
				timer.Reset(Settle)
			}
			fire = timer.C
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.logger.Warn("file watch error; falling back to polling", "file", w.path, "err", err)
		case <-fire:
			fire = nil
			_ = w.reload(false)
		case <-ticker.C:
			_ = w.reload(false)
		}
	}
}

// concerns reports whether an event in the directory may change the file:
// the file itself, or anything a symlink chain through the directory uses
// (Kubernetes swaps a "..data" symlink).
func (w *Watcher) concerns(name string) bool {
	base := filepath.Base(w.path)
	n := filepath.Base(name)
	return n == base || strings.HasPrefix(n, "..") || isSymlink(w.path)
}

func isSymlink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// ReadError is a file that exists but cannot be read.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("cannot be read: %v", e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// reload reads the file and loads it if its contents changed.
func (w *Watcher) reload(first bool) error {
	b, err := os.ReadFile(w.path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return w.load(Contents{Path: w.path, Exists: true, Err: &ReadError{Path: w.path, Err: err}, First: first})
	}
	sum := sha256.Sum256(b)
	w.mu.Lock()
	same := w.seen && sum == w.sum && exists == w.exists
	w.sum, w.exists, w.seen = sum, exists, true // a bad file is not loaded again either
	w.mu.Unlock()
	if same {
		return nil
	}
	if !exists {
		b = nil
	}
	return w.load(Contents{Path: w.path, Bytes: b, Exists: exists, First: first})
}
