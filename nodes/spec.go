// Package nodes runs one Temporal cluster as several devcluster processes
// (nodes) on a shared PostgreSQL database, joined by ringpop: the
// supervisor behind `devcluster start --nodes`, importable by tests and
// benchmarks.
//
// Plan turns one validated config and a node spec ("3", or role sets such
// as "frontend+worker,history,matching") into a Supervisor of Nodes, each
// with its own config (roles, ports, ports file). A Node is one process:
// the devcluster executable run as `start --node-file F`, where F is its
// config written by the supervisor (profiles.WriteNodeFile); it is ready
// once it has written its ports file (internal/portsfile). The Supervisor
// starts them all, waits until each is ready, restarts a node that exits
// (if asked) on the same ports, and stops them all in a bounded time.
//
// It starts processes and does not import the server, except through
// persistence to ask PostgreSQL for its connection limit.
package nodes

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/devcluster/devcluster/profiles"
)

// Example is what a node spec looks like.
const Example = "e.g. --nodes 3 (three full nodes) or --nodes frontend+worker,history,matching (one process per entry)"

// servingRoles are the roles a cluster cannot serve a call without.
var servingRoles = []string{profiles.Frontend, profiles.History, profiles.Matching}

// Spec is one process of a cluster: its name and the roles it runs.
type Spec struct {
	Name  string
	Roles []string // in profiles.RoleNames order
}

// Runs is the roles joined by '+', as in a node spec.
func (s Spec) Runs() string { return strings.Join(s.Roles, "+") }

func (s Spec) String() string {
	if len(s.Roles) == 0 {
		return s.Name
	}
	return s.Name + " (" + s.Runs() + ")"
}

// Has reports whether the node runs role.
func (s Spec) Has(role string) bool { return slices.Contains(s.Roles, role) }

// ParseSpec reads a node spec: a positive number of full nodes, or role
// sets (roles joined by '+') separated by commas. warning is set when no
// node runs the worker role.
func ParseSpec(spec string) (nodes []Spec, warning string, err error) {
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	spec = strings.TrimSpace(spec)
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 {
			return nil, "", bad("%d is not a positive number of nodes; %s", n, Example)
		}
		for i := range n {
			nodes = append(nodes, Spec{Name: fmt.Sprintf("node%d", i+1), Roles: slices.Clone(profiles.RoleNames)})
		}
		return nodes, "", nil
	}
	if spec == "" {
		return nil, "", bad("is empty; %s", Example)
	}
	have := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		if strings.TrimSpace(entry) == "" {
			return nil, "", bad("%q has an empty entry (two commas in a row, or one at an end); %s", spec, Example)
		}
		var roles []string
		for _, r := range strings.Split(entry, "+") {
			r = strings.ToLower(strings.TrimSpace(r))
			switch {
			case !slices.Contains(profiles.RoleNames, r):
				where := strconv.Quote(spec) + ": "
				if strings.EqualFold(spec, r) {
					where = ""
				}
				return nil, "", bad("%s%q is neither a number of nodes nor a role; roles are %s, joined by + within a node; %s",
					where, r, strings.Join(profiles.RoleNames, ", "), Example)
			case slices.Contains(roles, r):
				return nil, "", bad("%q: node %d names %s twice", spec, i+1, r)
			}
			roles = append(roles, r)
			have[r] = true
		}
		slices.SortFunc(roles, func(a, b string) int {
			return slices.Index(profiles.RoleNames, a) - slices.Index(profiles.RoleNames, b)
		})
		nodes = append(nodes, Spec{Name: fmt.Sprintf("node%d", i+1), Roles: roles})
	}
	var missing []string
	for _, r := range servingRoles {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return nil, "", bad("%q runs no %s; a cluster needs frontend, history and matching, each in some node, e.g. --nodes frontend+worker,history,matching",
			spec, strings.Join(missing, " and no "))
	}
	if !have[profiles.Worker] {
		warning = fmt.Sprintf("--nodes %q runs no worker role: the server's system workflows (schedules, batch operations, namespace deletion) will not run; add worker to a node, e.g. frontend+worker", spec)
	}
	return nodes, warning, nil
}

// PerCPU bounds the number of nodes by default: each node is a whole
// Temporal server process (about 150 MB, a burst of CPU at start, about 18
// database connections at rest), so a cluster of many more nodes than
// cores starts slowly, starves, stops slowly and exhausts the database's
// connections.
const PerCPU = 4

// DefaultLimit is the most nodes a cluster has unless its user raises the
// limit on purpose: PerCPU per CPU this process may use.
func DefaultLimit() int { return PerCPU * runtime.NumCPU() }
