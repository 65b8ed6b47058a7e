//go:build unix

package services

import (
	"net"
	"syscall"
)

// noReuseAddr clears SO_REUSEADDR, which Go sets on every listener, before
// bind: without it the kernel refuses a port held by a TIME_WAIT socket,
// which is how another devcluster process parks the low ports it picked
// (netaddr.ParkInTimeWait) until its server binds them. So two processes starting
// together never pick the same ringpop port.
func noReuseAddr(_, _ string, c syscall.RawConn) error {
	return setReuseAddr(c, 0)
}

// reuseAddrAgain sets SO_REUSEADDR back on a listener bound with
// noReuseAddr. The socket that netaddr.ParkInTimeWait leaves in TIME_WAIT inherits
// the listener's options, and the server's own bind of the port later
// succeeds only if that socket has SO_REUSEADDR too.
func reuseAddrAgain(l net.Listener) error {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return nil
	}
	c, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	return setReuseAddr(c, 1)
}

func setReuseAddr(c syscall.RawConn, on int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, on)
	}); err != nil {
		return err
	}
	return serr
}
