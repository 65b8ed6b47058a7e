package main

// `devcluster start --nodes SPEC`: one command that runs a local cluster of
// several processes (nodes) on a shared PostgreSQL database and supervises
// them. Each node is this executable run as `start --services ROLES`; the
// supervisor picks their ports, waits until each has written its ports
// file, prints one banner for them all, restarts a node that dies (with
// --restart) and stops them all at Ctrl+C.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/nodes"
	"github.com/devcluster/devcluster/profiles"
)

const (
	flagNodes      = "nodes"
	flagRestart    = "restart"
	flagNodesLimit = "nodes-limit"
	flagChaos      = "chaos"
	// flagNodeFile (hidden) hands a node started by --nodes its config:
	// see supervisedNode.
	flagNodeFile = nodes.NodeFileFlag
)

// nodesFlags are the start flags of a supervised multi-process cluster.
func nodesFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagNodes, Usage: "run a local cluster of several processes and supervise them: N full nodes, or one process per comma-separated role set, e.g. frontend+worker,history,matching; needs --db-url"},
		&cli.BoolFlag{Name: flagRestart, Usage: "with --nodes, start a node that exits again, on the same ports"},
		&cli.StringFlag{Name: flagChaos, Usage: "with --nodes and --restart, SIGKILL a node that runs no frontend on a schedule, e.g. kill-every=30s (,seed=N to replay); each kill and the time until the node rejoined are reported"},
		&cli.IntFlag{Name: flagNodesLimit, Usage: fmt.Sprintf("the most processes --nodes may start (default %d per CPU core, %d here); raise it on purpose", nodes.PerCPU, nodes.DefaultLimit())},
		&cli.StringFlag{Name: flagNodeFile, Hidden: true},
	}
}

// supervisedNode reports whether this process is a node started by
// --nodes, with its config in a node file (--node-file) written by the
// supervisor from the config it composed and checked: the node reads no
// other layer. Such a node prints no banner (the supervisor prints one for
// all), and when its supervisor dies it must still stop gracefully on
// the SIGTERM the kernel then sends it (see nodeProcAttr):
//   - it ignores SIGPIPE: its output goes through pipes to the supervisor,
//     and it would otherwise die at its first line into a pipe nobody reads;
//   - a second signal does not make it exit at once (startAction): the
//     kernel sends the parent-death signal again as each thread of a dying
//     multi-threaded parent exits, and the supervisor's own "at once" is
//     SIGKILL anyway.
func supervisedNode(c *cli.Context) bool {
	if !c.IsSet(flagNodeFile) {
		return false
	}
	signal.Ignore(syscall.SIGPIPE)
	return true
}

// checkNodesLimit refuses more nodes than --nodes-limit (or the default),
// before anything is launched.
func checkNodesLimit(c *cli.Context, count int) error {
	limit, why := nodes.DefaultLimit(), fmt.Sprintf("%d per CPU core: each node is a whole Temporal server process with its own database connections, and a machine runs only so many", nodes.PerCPU)
	if c.IsSet(flagNodesLimit) {
		if limit = c.Int(flagNodesLimit); limit < 1 {
			return &usageError{fmt.Sprintf("flag --%s: %d is not a positive number; give the most nodes --%s may start, e.g. --%s %d", flagNodesLimit, limit, flagNodes, flagNodesLimit, nodes.DefaultLimit())}
		}
		why = "--" + flagNodesLimit
	}
	if count > limit {
		return &usageError{fmt.Sprintf("flag --%s: %d nodes are more than the limit of %d (%s); start fewer, or raise the limit on purpose with --%s %d",
			flagNodes, count, limit, why, flagNodesLimit, count)}
	}
	return nil
}

// nodesAction is `start --nodes`: it checks the input (exit 2), starts
// the nodes, waits until all are ready, and supervises them until a signal.
func nodesAction(c *cli.Context) error {
	specs, warning, err := nodes.ParseSpec(c.String(flagNodes))
	if err != nil {
		return configExit(&usageError{"flag --" + flagNodes + ": " + err.Error()}, nil)
	}
	if err := checkNodesLimit(c, len(specs)); err != nil {
		return configExit(err, nil)
	}
	var chaos *nodes.Chaos
	if c.IsSet(flagChaos) {
		if !c.Bool(flagRestart) {
			return cli.Exit(fmt.Sprintf("flag --%s kills nodes for --%s to start again: add --%s", flagChaos, flagRestart, flagRestart), exitUsage)
		}
		ch, err := nodes.ParseChaos(c.String(flagChaos))
		if err != nil {
			return cli.Exit("flag --"+flagChaos+": "+err.Error(), exitUsage)
		}
		chaos = &ch
	}
	for _, f := range []string{flagServices, flagClusters} {
		if c.IsSet(f) {
			return cli.Exit(fmt.Sprintf("flag --%s cannot be combined with --%s, which gives each process its roles; drop --%s (list role sets in --%s instead, %s)",
				f, flagNodes, f, flagNodes, nodes.Example), exitUsage)
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
	dir, err := os.MkdirTemp("", "devcluster-nodes-")
	if err != nil {
		return cli.Exit("start --nodes: "+err.Error(), exitRuntime)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if nodes.SharedCertDir(&cfg, dir) {
		loaded.Config = cfg
	}
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
	if warning := nodes.ConnectionsWarning(c.Context, cfg, len(specs)); warning != "" {
		fmt.Fprintln(c.App.ErrWriter, "devcluster: warning: "+warning)
	}
	s, err := nodes.Plan(cfg, specs, nodes.PlanOptions{Exe: exe, Dir: dir, Loaded: loaded})
	var fe *profiles.FieldError
	switch {
	case errors.As(err, &fe):
		return configExit(err, loaded)
	case err != nil:
		return cli.Exit("start --nodes: "+err.Error(), exitRuntime)
	}
	s.Restart, s.Chaos, s.Stdout, s.Stderr = c.Bool(flagRestart), chaos, c.App.Writer, c.App.ErrWriter
	clientProfile := c.String(flagWriteClientProfile)
	if clientProfile != "" {
		s.First().Args = append(s.First().Args, "--"+flagWriteClientProfile+"="+clientProfile)
	}
	return supervise(c.Context, s, loaded, clientProfile)
}

// supervise starts the nodes, prints the banner once all are ready, and
// runs them until SIGINT, SIGTERM or SIGHUP, which stops them all.
func supervise(parent context.Context, s *nodes.Supervisor, loaded *profiles.Loaded, clientProfile string) error {
	// First SIGINT/SIGTERM/SIGHUP: stop the nodes gracefully. Second:
	// kill them.
	ctx, release := twoStageStop(parent, s.Stderr, "devcluster: stopping the nodes (a second Ctrl+C kills them)", func() {
		fmt.Fprintln(s.Stderr, "devcluster: second signal, killing the nodes")
		s.Kill()
		if s.PortsFile != "" {
			_ = os.Remove(s.PortsFile)
		}
		os.Exit(exitRuntime)
	}, 0, nil)
	defer release()

	began := time.Now()
	if err := s.Start(ctx); err != nil {
		var ee *nodes.ExitError
		var pe *nodes.PortsFileError
		switch {
		case errors.As(err, &ee) && ee.Code == exitUsage:
			return cli.Exit(err.Error(), exitUsage) // the node refused its config: so do we
		case errors.As(err, &pe):
			return configExit(&profiles.FieldError{Key: "ports-file", Value: pe.Path, Msg: pe.Err.Error()}, loaded)
		}
		return cli.Exit(err.Error(), exitRuntime)
	}
	if s.PortsFile != "" {
		defer func() { _ = os.Remove(s.PortsFile) }()
	}
	var banner bytes.Buffer
	printNodesBanner(&banner, s, loaded, clientProfile, time.Since(began))
	_, _ = s.Stdout.Write(banner.Bytes())

	err := s.Supervise(ctx)
	failed := s.Stop()
	switch {
	case err != nil:
		return cli.Exit(err.Error(), exitRuntime)
	case len(failed) > 0:
		return cli.Exit("stop: "+strings.Join(failed, "; "), exitRuntime)
	}
	return nil
}
