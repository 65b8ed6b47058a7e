// Package atomicfile writes a file so that a reader sees the old file or
// the whole new one, never a part, and a crash leaves one or the other:
// the one way devcluster writes its certificates, keys, ports files and
// client profiles.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// TempInfix marks the temporary files Write creates beside path, named
// "." + base name + TempInfix + a random suffix.
const TempInfix = ".tmp-"

// Write writes data to a temporary file in path's directory, gives it
// mode, syncs it to disk and renames it over path. On failure the
// temporary file is removed and path is left as it was; the error is the
// operating system's (see oserr.Cause for words).
func Write(path string, data []byte, mode fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+TempInfix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Stale returns the temporary files an interrupted Write to path left.
func Stale(path string) []string {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+TempInfix+"*"))
	return matches
}
