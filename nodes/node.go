package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/devcluster/devcluster/internal/portsfile"
	"github.com/devcluster/devcluster/profiles"
)

// Node is one process of a cluster and its runs: the executable Exe run
// with Args, ready once it has written PortsFile. A planned node (see Plan)
// also has its Config, written to ConfigFile before each run; Args then
// name that file. Its methods are not safe for concurrent use, except
// PID.
type Node struct {
	Spec
	Exe  string
	Args []string // after the executable's name
	Env  []string // nil: this process's environment
	Dir  string   // working directory; "": this process's
	// Config is what the node runs with, written to ConfigFile at each
	// start (with the membership ports of its first run once known, so
	// that a restarted node rejoins at its old address). Empty
	// ConfigFile: Args say everything.
	Config     profiles.Config
	Loaded     *profiles.Loaded // profiles and origins to write with Config
	ConfigFile string
	PortsFile  string
	// Stdout and Stderr receive the node's output line by line, each
	// line behind "[NAME ROLES] "; nil discards it.
	Stdout, Stderr io.Writer

	member    map[string]int // ringpop port per role, from the first ready run
	run       *nodeRun       // nil when not running
	ports     json.RawMessage
	parsed    portsfile.Ports
	restarts  int
	exited    string    // exit status of the last run, while not running
	failures  int       // runs in a row that exited before ready
	restartAt time.Time // when a pending restart is due; zero if none
	exits     chan<- exitEvent
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
	n *Node
	r *nodeRun
}

// Start starts a run of the node. It fails when the node runs already.
func (n *Node) Start() error {
	if n.run != nil {
		return fmt.Errorf("%s runs already (pid %d)", n, n.PID())
	}
	if n.ConfigFile != "" {
		cfg := n.Config.Clone()
		for role, p := range n.member {
			cfg.Services.Get(role).MembershipPort = p
		}
		if err := profiles.WriteNodeFile(n.ConfigFile, cfg, n.Loaded); err != nil {
			return err
		}
	}
	if n.PortsFile != "" {
		if err := os.Remove(n.PortsFile); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	prefix := "[" + n.String() + "] "
	if len(n.Roles) > 0 {
		prefix = "[" + n.Name + " " + n.Runs() + "] "
	}
	r := &nodeRun{cmd: exec.Command(n.Exe, n.Args...), done: make(chan struct{}), tail: newLineWriter(orDiscard(n.Stderr), prefix)}
	stdout := newLineWriter(orDiscard(n.Stdout), prefix)
	r.cmd.Env, r.cmd.Dir, r.cmd.Stdout, r.cmd.Stderr = n.Env, n.Dir, stdout, r.tail
	r.cmd.SysProcAttr = procAttr()
	if err := r.cmd.Start(); err != nil {
		return err
	}
	n.run, n.exited, n.ports, n.parsed = r, "", nil, portsfile.Ports{}
	exits := n.exits
	go func() {
		r.err = r.cmd.Wait()
		stdout.flush()
		r.tail.flush()
		close(r.done)
		if exits != nil {
			exits <- exitEvent{n, r}
		}
	}()
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// PID is the process of the current run; 0 when not running.
func (n *Node) PID() int {
	if n.run == nil {
		return 0
	}
	return n.run.cmd.Process.Pid
}

// Running reports whether a run was started and not yet seen to exit.
func (n *Node) Running() bool { return n.run != nil }

// Restarts is how many times the supervisor restarted the node.
func (n *Node) Restarts() int { return n.restarts }

// Done is closed when the current run exits; nil when not running.
func (n *Node) Done() <-chan struct{} {
	if n.run == nil {
		return nil
	}
	return n.run.done
}

// Wait waits until the current run exits and returns how it ended (nil
// for exit status 0).
func (n *Node) Wait() error {
	r := n.run
	if r == nil {
		return errors.New(n.String() + " is not running")
	}
	<-r.done
	n.ended(r)
	return r.err
}

// ended records that run r exited.
func (n *Node) ended(r *nodeRun) {
	if n.run == r {
		n.run, n.exited = nil, exitStatus(r.err)
	}
}

// Ready reads the node's ports file, which it writes once ready, and
// reports whether the current run is ready.
func (n *Node) Ready() bool {
	if n.run == nil || n.run.ready {
		return n.run != nil
	}
	b, err := os.ReadFile(n.PortsFile) // written atomically: whole or absent
	if err != nil {
		return false
	}
	var p portsfile.Ports
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

// ReadyPoll is how often WaitReady looks for the ports file: often, so
// that a benchmark's time to ready is not rounded up by much.
const ReadyPoll = 5 * time.Millisecond

// WaitReady waits until the current run is ready, exits (an error with
// its last lines) or ctx ends.
func (n *Node) WaitReady(ctx context.Context) (portsfile.Ports, error) {
	tick := time.NewTicker(ReadyPoll)
	defer tick.Stop()
	for {
		r := n.run
		if r == nil {
			return portsfile.Ports{}, errors.New(n.String() + " is not running")
		}
		if n.Ready() {
			return n.parsed, nil
		}
		select {
		case <-r.done:
			n.ended(r)
			return portsfile.Ports{}, &ExitError{Node: n.Spec, Status: exitStatus(r.err), Code: exitCode(r.err), LastLines: r.tail.lastLines()}
		case <-ctx.Done():
			return portsfile.Ports{}, fmt.Errorf("%s not ready: %w; its last lines:\n%s", n, ctx.Err(), r.tail.lastLines())
		case <-tick.C:
		}
	}
}

// Ports is the node's own ports file, from its last ready run.
func (n *Node) Ports() portsfile.Ports { return n.parsed }

// LastLines is the last lines the current or last run wrote to stderr.
func (n *Node) LastLines() string {
	if n.run == nil {
		return ""
	}
	return n.run.tail.lastLines()
}

// Stop stops the current run: SIGINT, then SIGKILL once timeout passed.
// It returns how the run ended; killed runs are an error that says so.
func (n *Node) Stop(timeout time.Duration) error {
	r := n.run
	if r == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
		n.ended(r)
		return r.err
	case <-t.C:
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	n.ended(r)
	return fmt.Errorf("%s killed: not stopped within %s", n, timeout)
}

// Kill kills the current run at once (SIGKILL) and waits until it is
// gone.
func (n *Node) Kill() {
	r := n.run
	if r == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	n.ended(r)
}

// Restart stops the current run (as Stop) and starts a new one on the
// same ports.
func (n *Node) Restart(timeout time.Duration) error {
	if err := n.Stop(timeout); err != nil && !isExit(err) {
		return err
	}
	return n.Start()
}

func isExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// ExitError is a node that exited before it was ready.
type ExitError struct {
	Node      Spec
	Status    string // "exit status 2"
	Code      int    // the exit code; -1 when killed by a signal
	LastLines string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited while starting (%s); its last lines:\n%s", e.Node, e.Status, e.LastLines)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
