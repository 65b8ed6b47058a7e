// Package netaddr is the one place that turns a configured IP into the
// address devcluster binds and the address it tells clients to dial.
package netaddr

import (
	"fmt"
	"net"
	"strconv"
)

// BindIP is the address to listen on for a configured ip: "" and
// "localhost" are 127.0.0.1 (the server does not take a host name);
// anything else, wildcards included, as it is.
func BindIP(ip string) string {
	if ip == "" || ip == "localhost" {
		return "127.0.0.1"
	}
	return ip
}

// DialIP is the address clients and other services dial for a configured
// ip: loopback for "", "localhost" and the wildcards (::1 for "::",
// 127.0.0.1 otherwise), which are not addresses one can dial; anything
// else as it is.
func DialIP(ip string) string {
	switch ip {
	case "", "localhost", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return ip
}

// DialHostPort is DialIP for a listen address host:port (as a ports file
// has it: 0.0.0.0:P and [::]:P become loopback); one that is not
// host:port comes back as it is.
func DialHostPort(hostPort string) string {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	return net.JoinHostPort(DialIP(host), port)
}

// IsWildcard reports whether ip means every interface.
func IsWildcard(ip string) bool {
	return ip == "0.0.0.0" || ip == "::"
}

// HostPort joins an IP and a port, bracketing IPv6.
func HostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// ParkInTimeWait connects to l and closes the accepted side first, which
// leaves a TIME_WAIT socket on l's port. Errors are ignored: the trick only
// narrows a race, and the start retries on a bind failure anyway.
func ParkInTimeWait(l net.Listener) {
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return
	}
	s, err := l.Accept()
	if err == nil {
		_ = s.Close()
	}
	_ = c.Close()
}

// FreePort returns a free port on ip, parked in TIME_WAIT (see ParkInTimeWait)
// so that no other process picks it before its server binds it.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", HostPort(BindIP(ip), 0))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer func() { _ = l.Close() }()
	ParkInTimeWait(l)
	return l.Addr().(*net.TCPAddr).Port, nil
}
