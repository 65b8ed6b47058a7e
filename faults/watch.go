package faults

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/devcluster/devcluster/internal/filewatch"
)

// Watcher keeps a Set's file rules in step with a faults file: a change is
// in force within moments of the write; a file with any problem is
// rejected whole and the last good rules stay.
type Watcher struct {
	fw *filewatch.Watcher
}

// WatchFile loads path's rules into set and follows the file. The file
// may be absent (no file rules until it appears); its directory must
// exist. A file that exists and is bad at start is an error. onLoad, if
// set, is told each load's outcome.
func WatchFile(path string, set *Set, cat Catalog, logger *slog.Logger, onLoad func(ok bool)) (*Watcher, error) {
	load := func(c filewatch.Contents) error {
		where := "faults file " + c.Path
		var f File
		var err error
		switch {
		case c.Err != nil:
			err = &Error{Where: where, Problems: []string{c.Err.Error()}}
		case c.Exists:
			f, err = ParseFile(where, c.Bytes, cat)
		}
		if onLoad != nil {
			onLoad(err == nil)
		}
		if err != nil {
			if !c.First {
				logger.Error("faults file rejected; the last good rules stay in force", "file", c.Path,
					"problems", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			return err
		}
		set.SetFile(f)
		var rules []string
		for _, r := range f.Rules {
			rules = append(rules, r.String())
		}
		if !c.First || len(rules) > 0 {
			logger.Info("fault rules in force", "file", c.Path, "seed", set.Seed(), "rules", strings.Join(rules, "; "))
		}
		return nil
	}
	fw, err := filewatch.Watch(path, load, logger)
	var de *filewatch.DirError
	if errors.As(err, &de) {
		return nil, &Error{Where: "faults file " + path, Problems: []string{de.Error()}}
	}
	if err != nil {
		return nil, err
	}
	return &Watcher{fw: fw}, nil
}

// Close stops following the file; its rules stay in force.
func (w *Watcher) Close() error { return w.fw.Close() }
