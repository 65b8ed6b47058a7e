package main

// `devcluster start --nodes SPEC`: one command that runs a local cluster of
// several processes (nodes) on a shared PostgreSQL database and supervises
// them. Each node is this executable run as `start --services ROLES`; the
// supervisor picks their ports, waits until each has written its ports
// file, prints one banner for them all, restarts a node that dies (with
// --restart) and stops them all at Ctrl+C.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/dbschema"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

const (
	flagNodes      = "nodes"
	flagRestart    = "restart"
	flagNodesLimit = "nodes-limit"
	// flagSupervised (hidden) marks a node started by --nodes: see
	// supervisedNode.
	flagSupervised = "supervised"
)

const nodesExample = "e.g. --nodes 3 (three full nodes) or --nodes frontend+worker,history,matching (one process per entry)"

// nodesFlags are the start flags of a supervised multi-process cluster.
func nodesFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagNodes, Usage: "run a local cluster of several processes and supervise them: N full nodes, or one process per comma-separated role set, e.g. frontend+worker,history,matching; needs --db-url"},
		&cli.BoolFlag{Name: flagRestart, Usage: "with --nodes, start a node that exits again, on the same ports"},
		&cli.IntFlag{Name: flagNodesLimit, Usage: fmt.Sprintf("the most processes --nodes may start (default %d per CPU core, %d here); raise it on purpose", nodesPerCPU, defaultNodesLimit())},
		&cli.BoolFlag{Name: flagSupervised, Hidden: true},
	}
}

// supervisedNode reports whether this process is a node started by
// --nodes. Such a node prints no banner (the supervisor prints one for
// all), and when its supervisor dies it must still stop gracefully on
// the SIGTERM the kernel then sends it (see nodeProcAttr):
//   - it ignores SIGPIPE: its output goes through pipes to the supervisor,
//     and it would otherwise die at its first line into a pipe nobody reads;
//   - a second signal does not make it exit at once (startAction): the
//     kernel sends the parent-death signal again as each thread of a dying
//     multi-threaded parent exits, and the supervisor's own "at once" is
//     SIGKILL anyway.
func supervisedNode(c *cli.Context) bool {
	if !c.Bool(flagSupervised) {
		return false
	}
	signal.Ignore(syscall.SIGPIPE)
	return true
}

// nodeFlags are the start flags the supervisor sets per node (or refuses);
// every other flag reaches each node as the user gave it.
var nodeFlags = []string{flagNodes, flagRestart, flagNodesLimit, flagSupervised, flagPortsFile, flagPort, flagHTTPPort, flagUIPort, flagHeadless,
	flagHistoryPort, flagMatchingPort, flagWorkerPort, flagFrontendMember, flagHistoryMember, flagMatchingMember, flagWorkerMember,
	flagServices, flagClusters, flagMembership, flagWriteClientProfile}

// grpcPortFlags and memberPortFlags name each role's port flags.
var (
	grpcPortFlags   = map[string]string{profiles.Frontend: flagPort, profiles.History: flagHistoryPort, profiles.Matching: flagMatchingPort, profiles.Worker: flagWorkerPort}
	memberPortFlags = map[string]string{profiles.Frontend: flagFrontendMember, profiles.History: flagHistoryMember, profiles.Matching: flagMatchingMember, profiles.Worker: flagWorkerMember}
)

// nodeSpec is one process of --nodes.
type nodeSpec struct {
	Name  string
	Roles []string // in profiles.ServiceNames order
}

func (n nodeSpec) runs() string      { return strings.Join(n.Roles, "+") }
func (n nodeSpec) String() string    { return n.Name + " (" + n.runs() + ")" }
func (n nodeSpec) has(r string) bool { return slices.Contains(n.Roles, r) }

// parseNodes reads --nodes: a positive number of full nodes, or role sets
// (roles joined by '+') separated by commas. warning is set when no node
// runs the worker role.
func parseNodes(spec string) (nodes []nodeSpec, warning string, err error) {
	bad := func(format string, args ...any) error {
		return &usageError{"flag --" + flagNodes + ": " + fmt.Sprintf(format, args...)}
	}
	spec = strings.TrimSpace(spec)
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 {
			return nil, "", bad("%d is not a positive number of nodes; %s", n, nodesExample)
		}
		for i := range n {
			nodes = append(nodes, nodeSpec{Name: fmt.Sprintf("node%d", i+1), Roles: slices.Clone(profiles.ServiceNames)})
		}
		return nodes, "", nil
	}
	if spec == "" {
		return nil, "", bad("is empty; %s", nodesExample)
	}
	have := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		if strings.TrimSpace(entry) == "" {
			return nil, "", bad("%q has an empty entry (two commas in a row, or one at an end); %s", spec, nodesExample)
		}
		var roles []string
		for _, r := range strings.Split(entry, "+") {
			r = strings.ToLower(strings.TrimSpace(r))
			switch {
			case !slices.Contains(profiles.ServiceNames, r):
				where := strconv.Quote(spec) + ": "
				if strings.EqualFold(spec, r) {
					where = ""
				}
				return nil, "", bad("%s%q is neither a number of nodes nor a role; roles are %s, joined by + within a node; %s",
					where, r, strings.Join(profiles.ServiceNames, ", "), nodesExample)
			case slices.Contains(roles, r):
				return nil, "", bad("%q: node %d names %s twice", spec, i+1, r)
			}
			roles = append(roles, r)
			have[r] = true
		}
		slices.SortFunc(roles, func(a, b string) int {
			return slices.Index(profiles.ServiceNames, a) - slices.Index(profiles.ServiceNames, b)
		})
		nodes = append(nodes, nodeSpec{Name: fmt.Sprintf("node%d", i+1), Roles: roles})
	}
	var missing []string
	for _, r := range services.ServingRoles {
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

// nodesPerCPU bounds --nodes by default: each node is a whole Temporal
// server process (about 150 MB, a burst of CPU at start, about 25
// database connections at rest), so a cluster of many more nodes than
// cores starts slowly, starves, stops slowly and exhausts the database's
// connections.
const nodesPerCPU = 4

// defaultNodesLimit is the most nodes --nodes starts unless --nodes-limit
// says otherwise: nodesPerCPU per CPU this process may use.
func defaultNodesLimit() int { return nodesPerCPU * runtime.NumCPU() }

// checkNodesLimit refuses more nodes than --nodes-limit (or the default),
// before anything is launched.
func checkNodesLimit(c *cli.Context, nodes int) error {
	limit, why := defaultNodesLimit(), fmt.Sprintf("%d per CPU core: each node is a whole Temporal server process with its own database connections, and a machine runs only so many", nodesPerCPU)
	if c.IsSet(flagNodesLimit) {
		if limit = c.Int(flagNodesLimit); limit < 1 {
			return &usageError{fmt.Sprintf("flag --%s: %d is not a positive number; give the most nodes --%s may start, e.g. --%s %d", flagNodesLimit, limit, flagNodes, flagNodesLimit, defaultNodesLimit())}
		}
		why = "--" + flagNodesLimit
	}
	if nodes > limit {
		return &usageError{fmt.Sprintf("flag --%s: %d nodes are more than the limit of %d (%s); start fewer, or raise the limit on purpose with --%s %d",
			flagNodes, nodes, limit, why, flagNodesLimit, nodes)}
	}
	return nil
}

// nodeConnections is about how many PostgreSQL connections a full node
// holds at rest (measured: 50 for two nodes on PostgreSQL 15, its main
// pool filled to its cap of 20 and a few of the visibility pool's); under
// load and with each role in a process of its own it differs.
const nodeConnections = 25

// connectionsWarning reads the database server's connection limit and
// returns a warning when nodes full nodes would likely exhaust it (they
// would then fail with "too many clients", at start or later under load);
// "" when they fit or the server cannot be asked (the nodes report why).
// It is a warning, not a refusal: the figure per node is an estimate.
func connectionsWarning(ctx context.Context, cfg profiles.Config, nodes int) string {
	main, _, err := dbschema.Databases(cfg)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := dbschema.Connections(ctx, main)
	if err != nil || nodes*nodeConnections <= l.Free() {
		return ""
	}
	return fmt.Sprintf("--nodes: %d nodes hold about %d database connections (about %d each), and the PostgreSQL server at %s has %d free (max_connections %d, %d reserved, %d in use); nodes may fail with \"too many clients\": start fewer nodes, or raise max_connections",
		nodes, nodes*nodeConnections, nodeConnections, main.SQL.ConnectAddr, max(l.Free(), 0), l.Max, l.Reserved, l.InUse)
}

// nodesAction is `start --nodes`: it checks the input (exit 2), starts
// the nodes, waits until all are ready, and supervises them until a signal.
func nodesAction(c *cli.Context) error {
	specs, warning, err := parseNodes(c.String(flagNodes))
	if err != nil {
		return configExit(err, nil)
	}
	if err := checkNodesLimit(c, len(specs)); err != nil {
		return configExit(err, nil)
	}
	for _, f := range []string{flagServices, flagClusters} {
		if c.IsSet(f) {
			return cli.Exit(fmt.Sprintf("flag --%s cannot be combined with --%s, which gives each process its roles; drop --%s (list role sets in --%s instead, %s)",
				f, flagNodes, f, flagNodes, nodesExample), exitUsage)
		}
	}
	if c.IsSet(flagMembership) && strings.EqualFold(c.String(flagMembership), profiles.MembershipStatic) {
		return cli.Exit(fmt.Sprintf("flag --%s static cannot be combined with --%s: the nodes find each other through ringpop; drop --%s", flagMembership, flagNodes, flagMembership), exitUsage)
	}
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	cfg := loaded.Config
	if !cfg.Persistence.Postgres() {
		return cli.Exit(fmt.Sprintf("flag --%s needs --%s postgres://...: the nodes are separate processes that share one database, and an in-memory or SQLite (--%s) database cannot be shared",
			flagNodes, flagDBURL, flagDBFile), exitUsage)
	}
	// What each node will be told, checked once here: the refusals of
	// ringpop membership (TLS, auth, clusters from a config file) exit 2
	// before any process starts.
	probe := cfg.Clone()
	probe.Membership.Mode, probe.Services.Run = profiles.MembershipRingpop, nil
	if err := probe.Validate(); err != nil {
		return configExit(err, loaded)
	}
	if err := removeStalePortsFile(cfg.PortsFile); err != nil {
		return configExit(err, loaded)
	}
	exe, err := os.Executable()
	if err != nil {
		return cli.Exit("start --nodes: find this executable: "+err.Error(), exitRuntime)
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, "devcluster: warning: "+warning)
	}
	if warning := connectionsWarning(c.Context, cfg, len(specs)); warning != "" {
		fmt.Fprintln(c.App.ErrWriter, "devcluster: warning: "+warning)
	}
	s := &supervisor{
		exe: exe, env: os.Environ(), cfg: cfg, loaded: loaded, restart: c.Bool(flagRestart),
		stdout: &lockedWriter{w: c.App.Writer}, stderr: &lockedWriter{w: c.App.ErrWriter},
		exits: make(chan exitEvent, len(specs)),
	}
	dir, err := os.MkdirTemp("", "devcluster-nodes-")
	if err != nil {
		return cli.Exit("start --nodes: "+err.Error(), exitRuntime)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := s.plan(c, specs, dir); err != nil {
		return cli.Exit("start --nodes: "+err.Error(), exitRuntime)
	}
	return s.run(c.Context)
}

// plan gives each node its flags: the user's (minus nodeFlags), its roles,
// ringpop membership, a ports file and ports. The first node with a
// frontend gets the user's frontend ports and Web UI; every node is told
// that frontend's address (the cluster metadata names it), except the
// other frontend nodes, which get their own free ports and no UI.
func (s *supervisor) plan(c *cli.Context, specs []nodeSpec, dir string) error {
	common := passThroughArgs(c, os.Environ())
	ip := s.cfg.IP
	free := func() (int, error) { return services.FreePort(ip) }
	fe := s.cfg.Services.Frontend
	port, httpPort := fe.GRPCPort, fe.HTTPPort
	var err error
	if port == 0 {
		if port, err = free(); err != nil {
			return err
		}
	}
	if httpPort == 0 {
		if httpPort, err = free(); err != nil {
			return err
		}
	}
	for _, spec := range specs {
		n := &node{nodeSpec: spec, portsFile: filepath.Join(dir, spec.Name+".json")}
		args := append(slices.Clone(common), "--"+flagSupervised, "--"+flagServices+"="+spec.runs(),
			"--"+flagMembership+"="+profiles.MembershipRingpop, "--"+flagPortsFile+"="+n.portsFile)
		for _, role := range spec.Roles {
			if role == profiles.Frontend {
				continue
			}
			p, err := free()
			if err != nil {
				return err
			}
			args = append(args, fmt.Sprintf("--%s=%d", grpcPortFlags[role], p))
		}
		switch {
		case spec.has(profiles.Frontend) && s.first == nil:
			s.first = n
			args = append(args, fmt.Sprintf("--%s=%d", flagPort, port), fmt.Sprintf("--%s=%d", flagHTTPPort, httpPort))
			if c.IsSet(flagHeadless) {
				args = append(args, fmt.Sprintf("--%s=%t", flagHeadless, c.Bool(flagHeadless)))
			}
			switch {
			case s.cfg.UI.Port != 0:
				args = append(args, fmt.Sprintf("--%s=%d", flagUIPort, s.cfg.UI.Port))
			case fe.GRPCPort == 0 && s.cfg.UI.Enabled: // free ports asked for: not port+1000
				p, err := free()
				if err != nil {
					return err
				}
				args = append(args, fmt.Sprintf("--%s=%d", flagUIPort, p))
			}
			if name := c.String(flagWriteClientProfile); name != "" {
				args = append(args, "--"+flagWriteClientProfile+"="+name)
				s.clientProfile = name
			}
		case spec.has(profiles.Frontend):
			own, err := free()
			if err != nil {
				return err
			}
			ownHTTP := -1
			if httpPort != -1 {
				if ownHTTP, err = free(); err != nil {
					return err
				}
			}
			args = append(args, fmt.Sprintf("--%s=%d", flagPort, own), fmt.Sprintf("--%s=%d", flagHTTPPort, ownHTTP), "--"+flagHeadless)
		default:
			args = append(args, fmt.Sprintf("--%s=%d", flagPort, port), fmt.Sprintf("--%s=%d", flagHTTPPort, httpPort), "--"+flagHeadless)
		}
		n.args = args
		s.nodes = append(s.nodes, n)
	}
	return nil
}

// passThroughArgs renders the start flags the user set, except nodeFlags,
// as --name=value (repeated for lists). Layer flags taken from their
// environment variable are left out: the nodes inherit the environment.
func passThroughArgs(c *cli.Context, environ []string) []string {
	var out []string
	for _, f := range startFlags() {
		name := f.Names()[0]
		if slices.Contains(nodeFlags, name) || !c.IsSet(name) {
			continue
		}
		if (name == flagProfile && strings.HasPrefix(flagOrEnvOrigin(c, name, envProfile, environ), "env ")) ||
			(name == flagConfig && strings.HasPrefix(flagOrEnvOrigin(c, name, envConfig, environ), "env ")) {
			continue
		}
		switch f.(type) {
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				out = append(out, "--"+name+"="+v)
			}
		case *cli.GenericFlag:
			if w, ok := c.Generic(name).(*wholeValues); ok {
				for _, v := range *w {
					out = append(out, "--"+name+"="+v)
				}
			}
		case *cli.DurationFlag:
			out = append(out, "--"+name+"="+c.Duration(name).String())
		default:
			out = append(out, fmt.Sprintf("--%s=%v", name, c.Value(name)))
		}
	}
	return out
}
