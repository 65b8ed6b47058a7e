package dynamicconfig

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"

	"github.com/devcluster/devcluster/internal/filewatch"
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
// A change is applied within filewatch.Settle of the write; a file with
// any problem is rejected whole and the last good values stay in force.
type Watcher struct {
	path   string
	client *Client
	logger *slog.Logger
	onLoad func(ok bool) // metrics hook; may be nil
	fw     *filewatch.Watcher

	mu     sync.Mutex
	status Status
}

// WatchFile loads path into client's file layer and keeps it there as the
// file changes. The file may be absent (it sets nothing until it appears);
// its directory must exist. A file that exists and is invalid at start is an
// error: the cluster should not start on a config its owner did not mean.
func WatchFile(path string, client *Client, logger *slog.Logger, onLoad func(ok bool)) (*Watcher, error) {
	w := &Watcher{client: client, logger: logger, onLoad: onLoad}
	fw, err := filewatch.Watch(path, w.load, logger)
	var de *filewatch.DirError
	if errors.As(err, &de) {
		return nil, &FileError{Path: path, Msg: de.Error()}
	}
	if err != nil {
		return nil, err
	}
	w.fw = fw
	return w, nil
}

// Status returns a snapshot of the watcher's state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Close stops watching; the values in force stay.
func (w *Watcher) Close() error { return w.fw.Close() }

// load applies the file's contents when they parse. At start (c.First) a
// bad file is returned as an error; later it is logged and the last good
// values stay.
func (w *Watcher) load(c filewatch.Contents) error {
	if w.path == "" {
		abs, _ := filepath.Abs(c.Path)
		w.path = abs
		w.mu.Lock()
		w.status.Path = abs
		w.mu.Unlock()
	}
	if c.Err != nil {
		return w.fail(c.First, &FileError{Path: w.path, Msg: c.Err.Error()})
	}
	values := dc.ConfigValueMap{}
	if c.Exists {
		var err error
		if values, err = ParseFile(w.path, c.Bytes); err != nil {
			return w.fail(c.First, err)
		}
	}
	old := w.client.layerCopy(LayerFile)
	changed := w.client.SetLayer(LayerFile, values)
	w.mu.Lock()
	w.status.Exists = c.Exists
	w.status.LastGood = time.Now()
	w.status.LastErr = nil
	w.status.OK++
	w.mu.Unlock()
	if w.onLoad != nil {
		w.onLoad(true)
	}
	if !c.First || len(values) > 0 {
		w.logChanges(old, values, changed, c.Exists, c.First)
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
