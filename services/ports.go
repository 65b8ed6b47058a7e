package services

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// portSlot is one port of the config that may need resolving.
type portSlot struct {
	key  string
	port *int
	// optional slots stay 0 when unset (membership ports); others get a
	// free port.
	optional bool
	// low slots get a free port up to MaxMembershipPort.
	low bool
}

// MaxMembershipPort is the highest ringpop port a cluster can use: the
// server's SQL schemas keep a member's port as a SMALLINT
// (cluster_membership.rpc_port), and a node on a higher port cannot
// register itself. The kernel hands out ports from 32768 up for port 0,
// so ringpop ports are picked below that.
const MaxMembershipPort = 32767

// lowPortMin is the lowest ringpop port listenLow picks.
const lowPortMin = 10000

// listenLow binds a free port in [lowPortMin, MaxMembershipPort], starting
// at a random one.
func listenLow(ip string) (net.Listener, error) {
	return listenLowFrom(ip, lowPortMin+rand.IntN(MaxMembershipPort-lowPortMin+1))
}

// listenLowFrom is listenLow trying first from, then others spread over
// the range. It skips ports parked in TIME_WAIT (see noReuseAddr): the
// kernel's own choice for port 0 does so, but a port named explicitly is
// otherwise bound over a TIME_WAIT socket, and two processes starting
// together could both pick it.
func listenLowFrom(ip string, from int) (net.Listener, error) {
	n := MaxMembershipPort - lowPortMin + 1
	lc := net.ListenConfig{Control: noReuseAddr}
	var last error
	for i := 0; i < 200; i++ {
		port := lowPortMin + (from-lowPortMin+i*7919)%n
		l, err := lc.Listen(context.Background(), "tcp", netaddr.HostPort(ip, port))
		if err == nil {
			if err := reuseAddrAgain(l); err != nil {
				_ = l.Close()
				return nil, err
			}
			return l, nil
		}
		last = err
	}
	return nil, last
}

// portSlots lists the ports this process binds: those of the roles it
// runs. With ringpop, each role listens on its membership port, so that
// port is chosen and checked like the gRPC one.
func portSlots(cfg *profiles.Config) []portSlot {
	var slots []portSlot
	ringpop := cfg.Ringpop()
	for _, name := range cfg.Roles() {
		s := cfg.Services.Get(name)
		prefix := "services." + name + "."
		slots = append(slots, portSlot{key: prefix + "grpc-port", port: &s.GRPCPort})
		if name == profiles.Frontend && s.HTTPPort != -1 {
			slots = append(slots, portSlot{key: prefix + "http-port", port: &s.HTTPPort})
		}
		slots = append(slots, portSlot{key: prefix + "membership-port", port: &s.MembershipPort, optional: !ringpop, low: ringpop})
	}
	return slots
}

// ResolvePorts returns a copy of cfg in which every port left at 0 holds a
// free port, after checking that every port the user chose is free. A taken
// port is a *profiles.FieldError wrapping profiles.ErrPortInUse that names
// the key; all taken ports are reported at once.
//
// The server cannot bind port 0 itself (static membership must know every
// address in advance), so free ports are found by binding :0. Each is then
// left in TIME_WAIT through one loopback connection: the kernel does not hand
// a port in TIME_WAIT to the next bind(:0), yet the server's own listen
// (SO_REUSEADDR, as Go sets it) succeeds. That keeps parallel clusters in one
// machine from being given the same port between our check and their bind.
func ResolvePorts(cfg profiles.Config) (profiles.Config, error) {
	out := cfg.Clone()
	ip := netaddr.BindIP(out.IP)
	held, err := holdFixedPorts(&out, ip) // held until every port is chosen, so none repeats
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	if err != nil {
		return cfg, err
	}
	var fresh []net.Listener
	for _, slot := range portSlots(&out) {
		if *slot.port != 0 || slot.optional {
			continue
		}
		if slot.low {
			l, err := listenLow(ip)
			if err != nil {
				return cfg, fmt.Errorf("find a free port below %d for %s on %s: %w", MaxMembershipPort+1, slot.key, ip, err)
			}
			held = append(held, l)
			fresh = append(fresh, l)
			*slot.port = l.Addr().(*net.TCPAddr).Port
			continue
		}
		l, err := net.Listen("tcp", netaddr.HostPort(ip, 0))
		if err != nil {
			return cfg, fmt.Errorf("find a free port for %s on %s: %w", slot.key, ip, err)
		}
		held = append(held, l)
		fresh = append(fresh, l)
		*slot.port = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range fresh {
		netaddr.ParkInTimeWait(l)
	}
	return out, nil
}

// CheckPorts reports every fixed port of cfg that cannot be bound, without
// choosing the free ones (ResolvePorts does, and checks again, at start).
func CheckPorts(cfg profiles.Config) error {
	out := cfg.Clone()
	if err := checkIP(out.IP); err != nil {
		return err
	}
	held, err := holdFixedPorts(&out, netaddr.BindIP(out.IP))
	for _, l := range held {
		_ = l.Close()
	}
	return err
}

// checkIP refuses an ip that no interface of this host has: every port
// would fail to bind on it, and the error belongs to ip, not to a port.
func checkIP(ip string) error {
	l, err := net.Listen("tcp", netaddr.HostPort(netaddr.BindIP(ip), 0))
	if err == nil {
		_ = l.Close()
		return nil
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return &profiles.FieldError{Key: "ip", Value: ip,
			Msg: "is not an address of this host; use 127.0.0.1, 0.0.0.0 for every interface, or an address `ip addr` lists"}
	}
	return &profiles.FieldError{Key: "ip", Value: ip, Msg: fmt.Sprintf("cannot be bound: %v", errors.Unwrap(err))}
}

// holdFixedPorts binds every non-zero port of cfg and returns the
// listeners it got (the caller closes them) and an error for each port it
// could not bind.
func holdFixedPorts(cfg *profiles.Config, ip string) ([]net.Listener, error) {
	var errs []error
	var held []net.Listener
	for _, slot := range portSlots(cfg) {
		if *slot.port == 0 {
			continue
		}
		l, err := net.Listen("tcp", netaddr.HostPort(ip, *slot.port))
		if err != nil {
			errs = append(errs, portError(slot.key, *slot.port, err))
			continue
		}
		held = append(held, l)
	}
	return held, errors.Join(errs...)
}

func portError(key string, port int, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return &profiles.FieldError{Key: key, Value: port, Err: profiles.ErrPortInUse,
			Msg: "is already in use; stop what holds it, choose another port, or pass 0 for a free one"}
	}
	return &profiles.FieldError{Key: key, Value: port, Msg: fmt.Sprintf("cannot be bound: %v", errors.Unwrap(err))}
}
