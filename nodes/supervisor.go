package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/devcluster/devcluster/internal/portsfile"
)

// Supervisor runs the nodes of one cluster. Only one goroutine at a time
// may call its methods, except Kill.
type Supervisor struct {
	Nodes []*Node
	// Restart starts a node that exits again: at once after a run that
	// was ready, else after a delay that doubles (see RestartDelay).
	Restart bool
	// StartupTimeout bounds Start; ShutdownTimeout the graceful part of
	// Stop.
	StartupTimeout, ShutdownTimeout time.Duration
	// Chaos, when set, kills nodes on a schedule (Restart must be on).
	Chaos *Chaos
	// PortsFile, when set, is written once all nodes are ready and again
	// whenever one exits or is ready again (portsfile.Nodes).
	PortsFile string
	// Stdout and Stderr receive the nodes' output, each line whole and
	// behind its node's name, and (Stderr) the supervisor's own reports.
	// From Start on, they are wrapped so that writes do not interleave:
	// write a banner to them, not to what they wrapped.
	Stdout, Stderr io.Writer

	first *Node
	exits chan exitEvent
	mu    sync.Mutex // guards live
	live  map[*Node]*os.Process
}

// ErrInterrupted is returned by Start when ctx ended first.
var ErrInterrupted = errors.New("interrupted while starting")

// ErrAllExited is returned by Supervise when every node exited and none is
// restarted.
var ErrAllExited = errors.New("every node exited")

// First is the first node that runs a frontend: its addresses are the
// cluster's (the banner's, the ports file's).
func (s *Supervisor) First() *Node {
	if s.first == nil {
		for _, n := range s.Nodes {
			if n.Has("frontend") {
				s.first = n
				break
			}
		}
	}
	return s.first
}

func (s *Supervisor) init() {
	if s.exits != nil {
		return
	}
	s.Stdout = &lockedWriter{w: orDiscard(s.Stdout)}
	s.Stderr = &lockedWriter{w: orDiscard(s.Stderr)}
	s.exits = make(chan exitEvent, len(s.Nodes))
	s.live = map[*Node]*os.Process{}
	for _, n := range s.Nodes {
		n.exits = s.exits
		if n.Stdout == nil {
			n.Stdout = s.Stdout
		}
		if n.Stderr == nil {
			n.Stderr = s.Stderr
		}
	}
}

func (s *Supervisor) report(format string, args ...any) {
	fmt.Fprintf(s.Stderr, "devcluster: "+format+"\n", args...)
}

// startNode starts a run of n and keeps its process for Kill.
func (s *Supervisor) startNode(n *Node) error {
	if err := n.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.live[n] = n.run.cmd.Process
	s.mu.Unlock()
	return nil
}

// ended forgets the process of run r of n, which exited.
func (s *Supervisor) ended(n *Node, r *nodeRun) {
	s.mu.Lock()
	if s.live[n] == r.cmd.Process {
		delete(s.live, n)
	}
	s.mu.Unlock()
}

// Start starts every node and waits until all are ready, one exits (an
// *ExitError), ctx ends (ErrInterrupted) or StartupTimeout passes. On
// failure it stops the nodes it started. With PortsFile it writes the
// ports file once all are ready.
func (s *Supervisor) Start(ctx context.Context) error {
	s.init()
	var names []string
	for _, n := range s.Nodes {
		names = append(names, n.String())
	}
	s.report("starting %d nodes: %s", len(s.Nodes), strings.Join(names, ", "))
	for _, n := range s.Nodes {
		if ctx.Err() != nil { // a signal while launching: launch no more
			s.Stop()
			return ErrInterrupted
		}
		if err := s.startNode(n); err != nil {
			s.Stop()
			return fmt.Errorf("start %s: %w", n, err)
		}
	}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return err
	}
	if s.PortsFile != "" {
		if err := s.WritePorts(); err != nil {
			s.Stop()
			return &PortsFileError{Path: s.PortsFile, Err: err}
		}
	}
	return nil
}

// PortsFileError is a ports file that could not be written.
type PortsFileError struct {
	Path string
	Err  error
}

func (e *PortsFileError) Error() string { return e.Err.Error() }

func (s *Supervisor) waitReady(ctx context.Context) error {
	timeout := time.NewTimer(s.StartupTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case ev := <-s.exits:
			s.ended(ev.n, ev.r)
			ev.n.ended(ev.r)
			return &ExitError{Node: ev.n.Spec, Status: exitStatus(ev.r.err), Code: exitCode(ev.r.err), LastLines: ev.r.tail.lastLines()}
		case <-timeout.C:
			var slow []string
			for _, n := range s.Nodes {
				if !n.Ready() {
					slow = append(slow, fmt.Sprintf("%s; its last lines:\n%s", n, n.LastLines()))
				}
			}
			return fmt.Errorf("nodes not ready after %s (startup.timeout): %s", s.StartupTimeout, strings.Join(slow, "\n"))
		case <-tick.C:
			ready := 0
			for _, n := range s.Nodes {
				if n.Ready() {
					ready++
				}
			}
			if ready == len(s.Nodes) {
				return nil
			}
		}
	}
}

// Supervise reports nodes that exit and, with Restart, starts them again:
// at once after a run that was ready, else after RestartDelay so that a
// node that cannot start does not spin. It returns nil when ctx ends, and
// ErrAllExited when every node exited and none is restarted.
func (s *Supervisor) Supervise(ctx context.Context) error {
	s.init()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var kills <-chan time.Time
	var ch *chaos
	if s.Chaos != nil {
		ch = newChaos(*s.Chaos)
		t := time.NewTicker(s.Chaos.Every)
		defer t.Stop()
		kills = t.C
		s.report("chaos: killing a node without a frontend every %s (seed %d)", s.Chaos.Every, s.Chaos.Seed)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kills:
			ch.kill(s)
		case ev := <-s.exits:
			s.ended(ev.n, ev.r)
			n := ev.n
			if n.run != ev.r {
				continue
			}
			n.ended(ev.r)
			s.report("%s exited: %s", n, n.exited)
			if s.Restart {
				delay := time.Duration(0)
				if !ev.r.ready {
					n.failures++
					delay = RestartDelay(n.failures)
				}
				n.restartAt = time.Now().Add(delay)
				s.report("restarting %s in %s", n, delay)
			}
			s.rewritePorts()
			if !s.Restart && s.running() == 0 {
				return ErrAllExited
			}
		case <-tick.C:
			for _, n := range s.Nodes {
				if !n.restartAt.IsZero() && !time.Now().Before(n.restartAt) {
					n.restartAt = time.Time{}
					n.restarts++
					if err := s.startNode(n); err != nil {
						s.report("restart %s: %v", n, err)
						n.failures++
						n.restartAt = time.Now().Add(RestartDelay(n.failures))
					}
					continue
				}
				if n.run != nil && !n.run.ready && n.Ready() {
					s.report("%s is ready again (pid %d)", n, n.PID())
					if ch != nil {
						ch.ready(s, n)
					}
					s.rewritePorts()
				}
			}
		}
	}
}

// RestartDelay is the wait before restarting a node after failures runs
// in a row that never became ready: 0.5 s, doubled each time, up to 30 s.
func RestartDelay(failures int) time.Duration {
	d := 500 * time.Millisecond
	for i := 1; i < failures && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

func (s *Supervisor) running() int {
	count := 0
	for _, n := range s.Nodes {
		if n.run != nil {
			count++
		}
	}
	return count
}

// KillWait bounds the wait for nodes killed with SIGKILL to be reaped (and
// their output read to the end): the kernel ends a killed process at once,
// so this is only reached when the machine is starved.
const KillWait = 5 * time.Second

// Stop stops every running node, in a bounded time at any number of
// nodes: it sends SIGINT to all of them at once, waits for them all until
// ShutdownTimeout, then sends SIGKILL to all those left at once and waits
// for them at most KillWait more. It returns what went wrong, per node; a
// node not reaped even then is reported and left to the kernel's
// parent-death signal.
func (s *Supervisor) Stop() []string {
	s.init()
	var running []*Node
	for _, n := range s.Nodes {
		n.restartAt = time.Time{}
		if n.run != nil {
			_ = n.run.cmd.Process.Signal(os.Interrupt)
			running = append(running, n)
		}
	}
	graceful := time.NewTimer(s.ShutdownTimeout)
	defer graceful.Stop()
	var failed, killed []string
	var left []*Node
	gone := func(n *Node) {
		s.ended(n, n.run)
		if n.run.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", n, exitStatus(n.run.err)))
		}
		n.ended(n.run)
	}
	for i, n := range running {
		select {
		case <-n.run.done:
			gone(n)
			continue
		case <-graceful.C:
		}
		// The deadline passed: kill every node still running at once,
		// not one after the other.
		for _, m := range running[i:] {
			select {
			case <-m.run.done:
				gone(m)
			default:
				_ = m.run.cmd.Process.Kill()
				left = append(left, m)
			}
		}
		break
	}
	reaped := time.NewTimer(KillWait)
	defer reaped.Stop()
	for _, n := range left {
		select {
		case <-n.run.done:
			s.ended(n, n.run)
			killed = append(killed, n.Name)
		case <-reaped.C:
			failed = append(failed, fmt.Sprintf("%s (pid %d) not reaped %s after SIGKILL", n, n.PID(), KillWait))
			reaped.Reset(0) // the others are not waited for either
		}
		n.run = nil
	}
	if len(killed) > 0 {
		failed = append(failed, fmt.Sprintf("killed %s: not stopped within %s (shutdown.timeout)", strings.Join(killed, ", "), s.ShutdownTimeout))
	}
	return failed
}

// Kill kills every running node at once (a second Ctrl+C). It may be
// called from any goroutine.
func (s *Supervisor) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.live {
		_ = p.Kill()
	}
}

// WritePorts writes PortsFile (portsfile.Nodes) from what the nodes wrote.
func (s *Supervisor) WritePorts() error {
	f := s.First().parsed
	out := portsfile.Nodes{Frontend: f.Frontend, HTTP: f.HTTP, UI: f.UI, Namespaces: f.Namespaces, TLS: f.TLS}
	for _, n := range s.Nodes {
		pid := 0
		if n.run != nil && n.run.ready {
			pid = n.PID()
		}
		out.Nodes = append(out.Nodes, portsfile.NodeOfNodes{Name: n.Name, Runs: n.Roles, PID: pid, Restarts: n.restarts, Exited: n.exited, Ports: n.ports})
	}
	return portsfile.Write(s.PortsFile, out)
}

// rewritePorts updates the ports file after a node exited or restarted;
// a failure is reported, not fatal.
func (s *Supervisor) rewritePorts() {
	if s.PortsFile == "" {
		return
	}
	if err := s.WritePorts(); err != nil {
		s.report("ports-file %s: %v", s.PortsFile, err)
	}
}
