package services

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	persistencesql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// memberHeartbeatCutoff is how recent a node's heartbeat in the shared
// database must be for it to count as a member: the server's own cutoff
// for ringpop seeds (healthyHostLastHeartbeatCutoff). A node heartbeats
// every 10-15 s, so one that died drops out within 20 s.
const memberHeartbeatCutoff = 20 * time.Second

// ServingRoles are the roles a cluster cannot serve a call without: a
// frontend to take it, history to run workflows, matching to hand out
// tasks. Without a worker role only the server's own system workflows
// (schedules, batch operations, namespace deletion) wait.
var ServingRoles = []string{profiles.Frontend, profiles.History, profiles.Matching}

// Member is one node of one role, as the shared database lists it.
type Member struct {
	Role string `json:"role"`
	// Address is the node's ringpop address (broadcast address and
	// membership port).
	Address       string    `json:"address"`
	SessionStart  time.Time `json:"session_start"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

var roleTypes = map[string]persistence.ServiceType{
	profiles.Frontend: persistence.Frontend,
	profiles.History:  persistence.History,
	profiles.Matching: persistence.Matching,
	profiles.Worker:   persistence.Worker,
}

func roleName(t persistence.ServiceType) string {
	for name, rt := range roleTypes {
		if rt == t {
			return name
		}
	}
	return fmt.Sprintf("role %d", t)
}

// Members lists the live members of the cluster by role (ringpop
// membership only; nil otherwise): every node whose heartbeat the shared
// database holds from the last 20 s, this process's roles included.
func (s *Server) Members(ctx context.Context) (map[string][]Member, error) {
	if !s.cfg.Ringpop() || s.sqlCfg == nil {
		return nil, nil
	}
	db, err := s.membershipDB()
	if err != nil {
		return nil, err
	}
	rows, err := liveMemberRows(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("read cluster members from database %s: %w", s.sqlCfg.DatabaseName, err)
	}
	out := map[string][]Member{}
	for _, r := range rows {
		name := roleName(r.Role)
		out[name] = append(out[name], Member{Role: name, Address: net.JoinHostPort(r.RPCAddress, strconv.Itoa(int(r.RPCPort))),
			SessionStart: r.SessionStart, LastHeartbeat: r.LastHeartbeat})
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Address, b.Address) })
	}
	return out, nil
}

// MissingRoles returns the serving roles (see ServingRoles) that members
// lacks, in order.
func MissingRoles(members map[string][]Member) []string {
	var out []string
	for _, r := range ServingRoles {
		if len(members[r]) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// membershipDB is a connection pool on the main database for reading the
// membership table, opened on first use and closed at Stop.
func (s *Server) membershipDB() (sqlplugin.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memberDB != nil {
		return s.memberDB, nil
	}
	db, err := persistencesql.NewSQLDB(sqlplugin.DbKindMain, s.sqlCfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", s.sqlCfg.DatabaseName, err)
	}
	s.memberDB = db
	return db, nil
}

func (s *Server) closeMembershipDB() {
	s.mu.Lock()
	db := s.memberDB
	s.memberDB = nil
	s.mu.Unlock()
	if db != nil {
		_ = db.Close()
	}
}

// waitMembers polls the membership until every serving role has a member,
// logging once which roles it waits for (a node started before its peers
// waits for them, bounded by the start's deadline).
func (s *Server) waitMembers(ctx context.Context) error {
	step := 50 * time.Millisecond
	var said string
	for {
		if err := s.Err(); err != nil {
			return err
		}
		members, err := s.Members(ctx)
		var missing []string
		if err == nil {
			// This node's own roles first: its heartbeat rows are written
			// once its ringpop has started, and only then is it a member.
			for _, role := range s.cfg.Roles() {
				if !hasMember(members[role], s.MembershipAddr(role)) {
					missing = append(missing, "this node's "+role)
				}
			}
			if len(missing) == 0 {
				missing = MissingRoles(members)
			}
			if len(missing) == 0 {
				return nil
			}
			if now := strings.Join(missing, ", "); now != said {
				s.logger.Info("waiting for the cluster's roles to join", "runs", strings.Join(s.cfg.Roles(), ","), "waiting_for", now)
				said = now
			}
			err = fmt.Errorf("no %s in the cluster yet: start the node(s) that run them with the same persistence.url", strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last error: %w)", ErrNotReady, ctx.Err(), err)
		case <-time.After(step):
		}
		step = min(step*2, 500*time.Millisecond)
	}
}

// MembershipAddr returns the ringpop address (broadcast address and
// membership port) of the named role of this process, or "" when the
// process does not run it or uses static membership.
func (s *Server) MembershipAddr(name string) string {
	svc := s.cfg.Services.Get(name)
	if svc == nil || !s.cfg.Ringpop() || !s.cfg.Runs(name) {
		return ""
	}
	return netaddr.HostPort(broadcastAddress(s.cfg), svc.MembershipPort)
}

// checkMemberAddresses refuses to start a ringpop node whose ringpop
// address another live node of the cluster already announces: ringpop
// takes an address for a node's identity, and two nodes at one address
// would each be taken for the other. A node on this host at that address
// holds the port, which the port check reports; this catches one on
// another host given the same broadcast address. A row whose address no
// longer answers is a node that died (a restart at the same address is
// fine).
func (s *Server) checkMemberAddresses(ctx context.Context) error {
	members, err := s.Members(ctx)
	if err != nil {
		return err
	}
	live := map[string]Member{}
	for _, ms := range members {
		for _, m := range ms {
			live[m.Address] = m
		}
	}
	for _, role := range s.cfg.Roles() {
		addr := s.MembershipAddr(role)
		m, ok := live[addr]
		if !ok {
			continue
		}
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			continue
		}
		_ = conn.Close()
		key, value := "services."+role+".membership-port", any(s.cfg.Services.Get(role).MembershipPort)
		if s.cfg.Membership.BroadcastAddress != "" {
			key, value = "membership.broadcast-address", s.cfg.Membership.BroadcastAddress
		}
		return &profiles.FieldError{Key: key, Value: value,
			Msg: fmt.Sprintf("makes this node's %s ringpop address %s, which a live %s node of the cluster already announces (heartbeat %s ago) and answers at; two nodes cannot share an address: give this node its own broadcast address or membership port",
				role, addr, m.Role, time.Since(m.LastHeartbeat).Round(time.Second))}
	}
	return nil
}

func hasMember(ms []Member, addr string) bool {
	for _, m := range ms {
		if m.Address == addr {
			return true
		}
	}
	return false
}
