package dynamicconfig

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	dc "go.temporal.io/server/common/dynamicconfig"
)

// Timing of the watcher. Editors write a file in several steps (truncate,
// write, rename); events are gathered for settle before the file is read.
// The poll is a fallback for file systems that send no events.
const (
	settle       = 30 * time.Millisecond
	pollInterval = time.Second
)

// Status is what the watcher knows about its file.
type Status struct {
	Path     string
	Exists   bool
	LastGood time.Time // zero: never loaded
	LastErr  error     // the last reload's problem; nil when it was good
	OK       int       // good reloads, the first load included
	Failed   int       // rejected reloads
}

// Watcher keeps a Client's file layer in step with a dynamic-config file.
// A change is applied within settle of the write; a file with any problem
// is rejected whole and the last good values stay in force.
type Watcher struct {
	path   string
	client *Client
	logger *slog.Logger
	onLoad func(ok bool) // metrics hook; may be nil

	fsw  *fsnotify.Watcher
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	status Status
	sum    [32]byte
	seen   bool // sum is valid
}

// WatchFile loads path into client's file layer and keeps it there as the
// file changes. The file may be absent (it sets nothing until it appears);
// its directory must exist. A file that exists and is invalid at start is an
// error: the cluster should not start on a config its owner did not mean.
func WatchFile(path string, client *Client, logger *slog.Logger, onLoad func(ok bool)) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &FileError{Path: path, Msg: fmt.Sprintf("directory %s does not exist; create it (the file itself may appear later)", dir)}
	}
	w := &Watcher{path: abs, client: client, logger: logger, onLoad: onLoad,
		stop: make(chan struct{}), done: make(chan struct{})}
	w.status.Path = abs
	if err := w.reload(true); err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	// Watch the directory, not the file: editors and ConfigMaps replace the
	// file (rename over, delete and re-create, symlink swap), which ends a
	// watch on the file itself.
	if err := fsw.Add(dir); err != nil {
		_ = fsw.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w.fsw = fsw
	go w.run()
	return w, nil
}

// Status returns a snapshot of the watcher's state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Close stops watching; the values in force stay.
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
	ticker := time.NewTicker(pollInterval)
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
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			fire = timer.C
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.logger.Warn("dynamic config watch error; falling back to polling", "file", w.path, "err", err)
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

// reload reads the file and applies it if its contents changed. At start
// (first) a bad file is returned as an error; later it is logged and the
// last good values stay.
func (w *Watcher) reload(first bool) error {
	b, err := os.ReadFile(w.path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return w.fail(first, &FileError{Path: w.path, Msg: fmt.Sprintf("cannot be read: %v", err)})
	}
	sum := sha256.Sum256(b)
	w.mu.Lock()
	same := w.seen && sum == w.sum && exists == w.status.Exists
	w.mu.Unlock()
	if same {
		return nil
	}
	var values dc.ConfigValueMap
	if exists {
		values, err = ParseFile(w.path, b)
		if err != nil {
			w.mu.Lock()
			w.sum, w.seen = sum, true // do not report the same bad file again
			w.mu.Unlock()
			return w.fail(first, err)
		}
	} else {
		values = dc.ConfigValueMap{}
	}
	old := w.client.layerCopy(LayerFile)
	changed := w.client.SetLayer(LayerFile, values)
	w.mu.Lock()
	w.sum, w.seen = sum, true
	w.status.Exists = exists
	w.status.LastGood = time.Now()
	w.status.LastErr = nil
	w.status.OK++
	w.mu.Unlock()
	if w.onLoad != nil {
		w.onLoad(true)
	}
	if !first || len(values) > 0 {
		w.logChanges(old, values, changed, exists, first)
	}
	return nil
}

func (w *Watcher) fail(first bool, err error) error {
	w.mu.Lock()
	w.status.LastErr = err
	w.status.Failed++
	w.mu.Unlock()
	if w.onLoad != nil {
		w.onLoad(false)
	}
	if first {
		return err
	}
	w.logger.Error("dynamic config file rejected; the last good values stay in force",
		"file", w.path, "problems", strings.ReplaceAll(err.Error(), "\n", "; "))
	return err
}

// logChanges logs the diff of the file layer and warns about keys the
// server reads only at start.
func (w *Watcher) logChanges(old, now dc.ConfigValueMap, _ []dc.Key, exists, first bool) {
	var lines []string
	var restart []string
	keys := map[dc.Key]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	for k := range keys {
		o, n := old[k], now[k]
		if bytes.Equal([]byte(fmt.Sprint(o)), []byte(fmt.Sprint(n))) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %s -> %s", displayKey(k), describeValues(o), describeValues(n)))
		if s, ok := Lookup(k.String()); ok && s.Restart && !first {
			restart = append(restart, s.Key)
		}
	}
	sort.Strings(lines)
	msg := "dynamic config file applied"
	if !exists {
		msg = "dynamic config file removed; its values no longer apply"
	}
	w.logger.Info(msg, "file", w.path, "changed", strings.Join(lines, "; "))
	if len(restart) > 0 {
		sort.Strings(restart)
		w.logger.Warn("the server reads these keys only at start: restart devcluster to apply them", "keys", strings.Join(restart, ", "))
	}
}

// displayKey spells a key as the server's registry does.
func displayKey(k dc.Key) string {
	if s, ok := Lookup(k.String()); ok {
		return s.Key
	}
	return k.String()
}

func describeValues(cvs []dc.ConstrainedValue) string {
	if cvs == nil {
		return "(unset)"
	}
	parts := make([]string, len(cvs))
	for i, cv := range cvs {
		parts[i] = fmt.Sprint(cv.Value)
		if c := describeConstraints(cv.Constraints); c != "" {
			parts[i] += " [" + c + "]"
		}
	}
	return strings.Join(parts, ", ")
}

// describeConstraints renders the set constraints, e.g. "namespace=default".
func describeConstraints(c dc.Constraints) string {
	var parts []string
	if c.Namespace != "" {
		parts = append(parts, "namespace="+c.Namespace)
	}
	if c.NamespaceID != "" {
		parts = append(parts, "namespaceId="+c.NamespaceID)
	}
	if c.TaskQueueName != "" {
		parts = append(parts, "taskQueueName="+c.TaskQueueName)
	}
	if c.Destination != "" {
		parts = append(parts, "destination="+c.Destination)
	}
	if c.ShardID != 0 {
		parts = append(parts, fmt.Sprintf("shardId=%d", c.ShardID))
	}
	if c.TaskQueueType != 0 {
		parts = append(parts, "taskQueueType="+c.TaskQueueType.String())
	}
	if c.TaskType != 0 {
		parts = append(parts, "taskType="+c.TaskType.String())
	}
	return strings.Join(parts, ",")
}

// DescribeConstraints renders a value's constraints for people.
func DescribeConstraints(c dc.Constraints) string { return describeConstraints(c) }

func (c *Client) layerCopy(l Layer) dc.ConfigValueMap {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(dc.ConfigValueMap, len(c.layers[l]))
	for k, v := range c.layers[l] {
		out[k] = v
	}
	return out
}
