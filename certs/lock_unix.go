//go:build unix

package certs

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on path (created 0600), waiting for
// another process that holds it; the kernel drops it if this one dies.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, keyMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}
