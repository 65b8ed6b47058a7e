//go:build !unix

package services

import (
	"net"
	"syscall"
)

// noReuseAddr and reuseAddrAgain do nothing where Go sets no SO_REUSEADDR
// on listeners (Windows): a TIME_WAIT socket there already keeps a port
// from being bound again.
func noReuseAddr(_, _ string, _ syscall.RawConn) error { return nil }

func reuseAddrAgain(net.Listener) error { return nil }
