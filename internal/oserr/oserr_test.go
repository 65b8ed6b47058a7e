package oserr

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCause(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	if got := Cause(err); got.Error() != "no such file or directory" {
		t.Errorf("path error: %q", got)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	_, err = net.Listen("tcp", l.Addr().String())
	got := Cause(fmt.Errorf("wrapped: %w", err))
	if got.Error() != "bind: address already in use" || !errors.Is(got, syscall.EADDRINUSE) {
		t.Errorf("bind error: %q", got)
	}
	plain := errors.New("plain")
	if Cause(plain) != plain {
		t.Error("a plain error is changed")
	}
}
