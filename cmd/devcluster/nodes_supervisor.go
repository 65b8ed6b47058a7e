package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/profiles"
)

// supervisor runs the nodes. Only its run loop touches the nodes, except
// for the pids a second Ctrl+C kills (under mu).
type supervisor struct {
	exe     string
	env     []string
	cfg     profiles.Config
	loaded  *profiles.Loaded
	restart bool
	// clientProfile is --write-client-profile, which only the first
	// frontend node gets.
	clientProfile string
	nodes         []*node
	first         *node // the node whose frontend is the cluster's address
	began         time.Time

	stdout, stderr *lockedWriter
	exits          chan exitEvent // one per run, sent when it exits

	mu   sync.Mutex
	live map[*node]*os.Process
}

// node is one supervised process and its runs.
type node struct {
	nodeSpec
	args      []string       // start flags of every run
	portsFile string         // where the node writes its ports once ready
	member    map[string]int // ringpop port per role, learnt from the first ready run
	run       *nodeRun       // nil when not running
	ports     json.RawMessage
	parsed    Ports
	restarts  int
	exited    string    // exit status of the last run, while not running
	failures  int       // runs in a row that exited before ready
	restartAt time.Time // when a pending restart is due; zero if none
}

func (n *node) pid() int {
	if n.run == nil {
		return 0
	}
	return n.run.cmd.Process.Pid
}

// nodeRun is one run of a node's process.
type nodeRun struct {
	cmd   *exec.Cmd
	tail  *lineWriter // stderr, which keeps the last lines
	ready bool
	done  chan struct{}
	err   error // of Wait, set before done closes
}

type exitEvent struct {
	n *node
	r *nodeRun
}

// run starts every node, waits for all to be ready and supervises them
// until SIGINT, SIGTERM or SIGHUP, which stops them all.
func (s *supervisor) run(parent context.Context) error {
	s.live = map[*node]*os.Process{}
	// First SIGINT/SIGTERM/SIGHUP: stop the nodes gracefully. Second:
	// kill them.
	ctx, release := twoStageStop(parent, s.stderr, "devcluster: stopping the nodes (a second Ctrl+C kills them)", func() {
		fmt.Fprintln(s.stderr, "devcluster: second signal, killing the nodes")
		s.killAll()
		if s.cfg.PortsFile != "" {
			_ = os.Remove(s.cfg.PortsFile)
		}
		os.Exit(exitRuntime)
	}, 0, nil)
	defer release()

	s.began = time.Now()
	var names []string
	for _, n := range s.nodes {
		names = append(names, n.String())
	}
	fmt.Fprintf(s.stderr, "devcluster: starting %d nodes: %s\n", len(s.nodes), strings.Join(names, ", "))
	for _, n := range s.nodes {
		if ctx.Err() != nil { // a signal while launching: launch no more
			s.stopAll()
			return cli.Exit("interrupted while starting", exitRuntime)
		}
		if err := s.start(n); err != nil {
			s.stopAll()
			return cli.Exit(fmt.Sprintf("start %s: %v", n, err), exitRuntime)
		}
	}
	if err := s.waitReady(ctx); err != nil {
		s.stopAll()
		return err
	}
	if s.cfg.PortsFile != "" {
		if err := s.writePorts(); err != nil {
			s.stopAll()
			return configExit(&profiles.FieldError{Key: "ports-file", Value: s.cfg.PortsFile, Msg: err.Error()}, s.loaded)
		}
		defer func() { _ = os.Remove(s.cfg.PortsFile) }()
	}
	var banner bytes.Buffer
	s.printBanner(&banner, time.Since(s.began))
	_, _ = s.stdout.Write(banner.Bytes())

	if err := s.supervise(ctx); err != nil {
		s.stopAll()
		return err
	}
	if failed := s.stopAll(); len(failed) > 0 {
		return cli.Exit("stop: "+strings.Join(failed, "; "), exitRuntime)
	}
	return nil
}

// start starts a run of n: with the ringpop ports of its first run, if
// known, so that it rejoins at its old address.
func (s *supervisor) start(n *node) error {
	args := append([]string{"start"}, n.args...)
	for _, role := range n.Roles {
		if p, ok := n.member[role]; ok {
			args = append(args, fmt.Sprintf("--%s=%d", memberPortFlags[role], p))
		}
	}
	if err := os.Remove(n.portsFile); err != nil && !os.IsNotExist(err) {
		return err
	}
	prefix := "[" + n.Name + " " + n.runs() + "] "
	r := &nodeRun{cmd: exec.Command(s.exe, args...), done: make(chan struct{}), tail: newLineWriter(s.stderr, prefix)}
	stdout := newLineWriter(s.stdout, prefix)
	r.cmd.Env, r.cmd.Stdout, r.cmd.Stderr = s.env, stdout, r.tail
	r.cmd.SysProcAttr = nodeProcAttr()
	if err := r.cmd.Start(); err != nil {
		return err
	}
	n.run, n.exited = r, ""
	s.mu.Lock()
	s.live[n] = r.cmd.Process
	s.mu.Unlock()
	go func() {
		r.err = r.cmd.Wait()
		stdout.flush()
		r.tail.flush()
		s.mu.Lock()
		if s.live[n] == r.cmd.Process {
			delete(s.live, n)
		}
		s.mu.Unlock()
		close(r.done)
		s.exits <- exitEvent{n, r}
	}()
	return nil
}

// checkReady reads n's ports file, which the node writes once ready, and
// reports whether the current run is ready.
func (s *supervisor) checkReady(n *node) bool {
	if n.run == nil || n.run.ready {
		return n.run != nil
	}
	b, err := os.ReadFile(n.portsFile) // written atomically: whole or absent
	if err != nil {
		return false
	}
	var p Ports
	if json.Unmarshal(b, &p) != nil {
		return false
	}
	n.run.ready, n.ports, n.parsed, n.failures = true, json.RawMessage(bytes.TrimSpace(b)), p, 0
	if n.member == nil && p.Node != nil {
		n.member = map[string]int{}
		for role, addr := range p.Node.Membership {
			if _, port, err := net.SplitHostPort(addr); err == nil {
				n.member[role], _ = strconv.Atoi(port)
			}
		}
	}
	return true
}

// waitReady waits until every node is ready, one exits (the start fails
// with its last lines), a signal arrives or startup.timeout passes.
func (s *supervisor) waitReady(ctx context.Context) error {
	timeout := time.NewTimer(s.cfg.Startup.Timeout)
	defer timeout.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return cli.Exit("interrupted while starting", exitRuntime)
		case ev := <-s.exits:
			ev.n.run = nil
			code := exitRuntime
			var ee *exec.ExitError
			if errors.As(ev.r.err, &ee) && ee.ExitCode() == exitUsage {
				code = exitUsage // the node refused its config: so do we
			}
			return cli.Exit(fmt.Sprintf("%s exited while starting (%s); its last lines:\n%s", ev.n, exitStatus(ev.r.err), ev.r.tail.lastLines()), code)
		case <-timeout.C:
			var slow []string
			for _, n := range s.nodes {
				if !s.checkReady(n) {
					slow = append(slow, fmt.Sprintf("%s; its last lines:\n%s", n, n.run.tail.lastLines()))
				}
			}
			return cli.Exit(fmt.Sprintf("nodes not ready after %s (startup.timeout): %s", s.cfg.Startup.Timeout, strings.Join(slow, "\n")), exitRuntime)
		case <-tick.C:
			ready := 0
			for _, n := range s.nodes {
				if s.checkReady(n) {
					ready++
				}
			}
			if ready == len(s.nodes) {
				return nil
			}
		}
	}
}

// supervise reports nodes that exit and, with --restart, starts them
// again: at once after a run that was ready, else after a delay that
// doubles (0.5 s up to 30 s) so that a node that cannot start does not
// spin. It returns nil at a signal.
func (s *supervisor) supervise(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-s.exits:
			n := ev.n
			if n.run != ev.r {
				continue
			}
			n.run, n.exited = nil, exitStatus(ev.r.err)
			fmt.Fprintf(s.stderr, "devcluster: %s exited: %s\n", n, n.exited)
			if s.restart {
				delay := time.Duration(0)
				if !ev.r.ready {
					n.failures++
					delay = restartDelay(n.failures)
				}
				n.restartAt = time.Now().Add(delay)
				fmt.Fprintf(s.stderr, "devcluster: restarting %s in %s\n", n, delay)
			}
			s.rewritePorts()
			if !s.restart && s.running() == 0 {
				return cli.Exit("every node exited", exitRuntime)
			}
		case <-tick.C:
			for _, n := range s.nodes {
				if !n.restartAt.IsZero() && !time.Now().Before(n.restartAt) {
					n.restartAt = time.Time{}
					n.restarts++
					if err := s.start(n); err != nil {
						fmt.Fprintf(s.stderr, "devcluster: restart %s: %v\n", n, err)
						n.failures++
						n.restartAt = time.Now().Add(restartDelay(n.failures))
					}
					continue
				}
				if n.run != nil && !n.run.ready && s.checkReady(n) {
					fmt.Fprintf(s.stderr, "devcluster: %s is ready again (pid %d)\n", n, n.pid())
					s.rewritePorts()
				}
			}
		}
	}
}

// restartDelay is the wait before restarting a node after failures runs
// in a row that never became ready: 0.5 s, doubled each time, up to 30 s.
func restartDelay(failures int) time.Duration {
	d := 500 * time.Millisecond
	for i := 1; i < failures && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

func (s *supervisor) running() int {
	count := 0
	for _, n := range s.nodes {
		if n.run != nil {
			count++
		}
	}
	return count
}

// killWait bounds the wait for nodes killed with SIGKILL to be reaped (and
// their output read to the end): the kernel ends a killed process at once,
// so this is only reached when the machine is starved.
const killWait = 5 * time.Second

// stopAll stops every running node, in a bounded time at any number of
// nodes: it sends SIGINT to all of them at once, waits for them all until
// shutdown.timeout, then sends SIGKILL to all those left at once and
// waits for them at most killWait more. It returns what went wrong, per
// node; a node not reaped even then is reported and left to the kernel's
// parent-death signal.
func (s *supervisor) stopAll() []string {
	var running []*node
	for _, n := range s.nodes {
		n.restartAt = time.Time{}
		if n.run != nil {
			_ = n.run.cmd.Process.Signal(os.Interrupt)
			running = append(running, n)
		}
	}
	graceful := time.NewTimer(s.cfg.Shutdown.Timeout)
	defer graceful.Stop()
	var failed, killed []string
	var left []*node
	for i, n := range running {
		select {
		case <-n.run.done:
			if n.run.err != nil {
				failed = append(failed, fmt.Sprintf("%s: %s", n, exitStatus(n.run.err)))
			}
			n.run = nil
			continue
		case <-graceful.C:
		}
		// The deadline passed: kill every node still running at once,
		// not one after the other.
		for _, m := range running[i:] {
			select {
			case <-m.run.done:
				if m.run.err != nil {
					failed = append(failed, fmt.Sprintf("%s: %s", m, exitStatus(m.run.err)))
				}
				m.run = nil
			default:
				_ = m.run.cmd.Process.Kill()
				left = append(left, m)
			}
		}
		break
	}
	reaped := time.NewTimer(killWait)
	defer reaped.Stop()
	for _, n := range left {
		select {
		case <-n.run.done:
			killed = append(killed, n.Name)
		case <-reaped.C:
			failed = append(failed, fmt.Sprintf("%s (pid %d) not reaped %s after SIGKILL", n, n.pid(), killWait))
			reaped.Reset(0) // the others are not waited for either
		}
		n.run = nil
	}
	if len(killed) > 0 {
		failed = append(failed, fmt.Sprintf("killed %s: not stopped within %s (shutdown.timeout)", strings.Join(killed, ", "), s.cfg.Shutdown.Timeout))
	}
	return failed
}

// killAll kills every running node at once (a second Ctrl+C).
func (s *supervisor) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.live {
		_ = p.Kill()
	}
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
