//go:build unix

package persistence

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the file at path without waiting
// (flock, which SQLite's own fcntl locks do not interact with on Linux),
// held until unlock; errInUse when another process holds it. The kernel
// drops the lock when the process dies, so a crash leaves none behind.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errInUse
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil // closing the descriptor drops the lock
}
