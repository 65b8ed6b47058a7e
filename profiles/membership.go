package profiles

import (
	"net"
	"slices"
	"strconv"
	"strings"
)

// Membership modes (membership.mode).
const (
	// MembershipAuto is static membership when this process runs every
	// role, ringpop when it runs fewer.
	MembershipAuto = ""
	// MembershipStatic lists every role at its address in this process:
	// no gossip, ready the moment each role starts.
	MembershipStatic = "static"
	// MembershipRingpop is the server's ringpop on each role's membership
	// port, seeded from the shared database, as a production cluster runs.
	MembershipRingpop = "ringpop"
)

// MembershipModes are the values of membership.mode.
var MembershipModes = []string{"auto", MembershipStatic, MembershipRingpop}

// maxMembershipPort is the highest ringpop port the server's SQL schemas
// can record (cluster_membership.rpc_port is a SMALLINT).
const maxMembershipPort = 32767

// Membership says how the roles of a cluster find each other.
type Membership struct {
	// Mode is "static", "ringpop" or "auto" (empty: static when this
	// process runs every role, ringpop when services.run lists fewer).
	// Ringpop needs a database the processes share (persistence.url).
	Mode string `koanf:"mode" json:"mode"`
	// BroadcastAddress is the IP other nodes reach this one at, when the
	// bind IP (ip) is not reachable by them (0.0.0.0, a NAT). Empty: ip,
	// or 127.0.0.1 when ip is 0.0.0.0.
	BroadcastAddress string `koanf:"broadcast-address" json:"broadcast-address"`
}

// Roles returns the roles this process runs, in RoleNames order:
// services.run, or all four when it is empty.
func (c Config) Roles() []string {
	if len(c.Services.Run) == 0 {
		return slices.Clone(RoleNames)
	}
	var out []string
	for _, name := range RoleNames {
		if slices.Contains(c.Services.Run, name) {
			out = append(out, name)
		}
	}
	return out
}

// Runs reports whether this process runs the named role.
func (c Config) Runs(role string) bool {
	return len(c.Services.Run) == 0 || slices.Contains(c.Services.Run, role)
}

// Ringpop reports whether the roles find each other through ringpop on
// the membership ports (several processes form one cluster) rather than
// through static membership inside this process.
func (c Config) Ringpop() bool {
	switch strings.ToLower(c.Membership.Mode) {
	case MembershipRingpop:
		return true
	case MembershipStatic:
		return false
	}
	return len(c.Roles()) < len(RoleNames)
}

// ParseRoles splits a role list such as "frontend,worker" or
// "frontend+worker"; it does not check the names.
func ParseRoles(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' || r == ' ' }) {
		out = append(out, strings.ToLower(f))
	}
	return out
}

// validateMembership checks services.run and membership.*, and refuses
// ringpop where processes cannot share the cluster.
func (c Config) validateMembership(add addFunc) {
	run := strconv.Quote(strings.Join(c.Services.Run, ","))
	seen := map[string]bool{}
	for _, r := range c.Services.Run {
		switch {
		case !slices.Contains(RoleNames, r):
			add("services.run", run, "names %q, which is not a role; use some of %s", r, strings.Join(RoleNames, ", "))
			return
		case seen[r]:
			add("services.run", run, "names %q twice", r)
			return
		}
		seen[r] = true
	}
	mode := strings.ToLower(c.Membership.Mode)
	if mode != MembershipAuto && !slices.Contains(MembershipModes, mode) {
		add("membership.mode", strconv.Quote(c.Membership.Mode), "is not a membership mode; use one of %s", strings.Join(MembershipModes, ", "))
		return
	}
	if b := c.Membership.BroadcastAddress; b != "" {
		if ip := net.ParseIP(b); ip == nil || ip.IsUnspecified() {
			add("membership.broadcast-address", strconv.Quote(b), "is not an IP address other nodes can reach; use this host's address on their network, e.g. 10.0.0.5")
		}
	}
	if c.Ringpop() {
		for _, name := range c.Roles() {
			if p := c.Services.Get(name).MembershipPort; p > maxMembershipPort {
				add("services."+name+".membership-port", p, "is above %d: the server's SQL schema keeps a member's port as a SMALLINT, so a node there cannot register itself; use a port up to %d, or 0 for a free one", maxMembershipPort, maxMembershipPort)
			}
		}
	}
	partial := len(c.Roles()) < len(RoleNames)
	if partial && mode == MembershipStatic {
		add("membership.mode", strconv.Quote(c.Membership.Mode), "cannot run %s alone: static membership needs all four roles in one process; use ringpop (or leave membership.mode out)", strings.Join(c.Roles(), ","))
	}
	if !c.Ringpop() {
		return
	}
	why := "runs " + strings.Join(c.Roles(), ",") + " alone"
	if !partial {
		why = "asks for ringpop membership"
	}
	switch {
	case c.Persistence.InMemory():
		add("persistence.url", `""`, "must be set: this process %s, and the processes of one cluster share its database; an in-memory database lives in one process. Use --db-url postgres://... (the same for every process)", why)
	case c.Persistence.File != "":
		add("persistence.file", strconv.Quote(c.Persistence.File), "cannot be shared: this process %s, and SQLite takes one writing process at a time, which the server's connections do not wait for. Use --db-url postgres://... (the same for every process)", why)
	}
	if len(c.Clusters) > 0 {
		add("clusters", strconv.Quote(strings.Join(c.Clusters, ",")), "runs every cluster in this process; it cannot be combined with services.run or ringpop membership")
	}
	if c.TLS.Enabled && c.TLS.CertDir == "" && !c.TLS.AllFilesGiven() {
		add("tls.cert-dir", `""`, "must be set: this process %s, and the nodes of one cluster share one CA, kept in a directory they all read (the first node makes it there). Give every node the same --cert-dir DIR (devcluster start --nodes makes one for its nodes)", why)
	} else if c.Auth.Enabled && c.TLS.CertDir == "" {
		add("tls.cert-dir", `""`, "must be set: this process %s with auth.enabled, and every frontend node must verify tokens with the one signing key, kept in the directory the nodes share. Give every node the same --cert-dir DIR", why)
	}
}
