// Package netaddr is the one place that turns a configured IP into the
// address devcluster binds and the address it tells clients to dial.
package netaddr

import (
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

// IsWildcard reports whether ip means every interface.
func IsWildcard(ip string) bool {
	return ip == "0.0.0.0" || ip == "::"
}

// HostPort joins an IP and a port, bracketing IPv6.
func HostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
