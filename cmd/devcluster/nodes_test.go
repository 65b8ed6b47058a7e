package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/nodes"
)

// waitNodesPorts polls the ports file of `start --nodes` until it exists
// and ok accepts it; it fails if the supervisor exits first or d passes.
func waitNodesPorts(t *testing.T, p *proc, path string, d time.Duration, ok func(NodesPorts) error) NodesPorts {
	t.Helper()
	deadline := time.Now().Add(d)
	last := errors.New("no ports file yet")
	for {
		if b, err := os.ReadFile(path); err == nil {
			var np NodesPorts
			if last = json.Unmarshal(b, &np); last == nil {
				if last = ok(np); last == nil {
					return np
				}
			}
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited (%v) while waiting for %s: last error: %v", p.err, path, last)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not as wanted after %s: last error: %v", path, d, last)
		}
	}
}

// runDouble runs DoubleWorkflow through c and checks its result.
func runDouble(t *testing.T, c client.Client, taskQueue string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, DoubleWorkflow, n)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got int
	if err := wr.Get(ctx, &got); err != nil || got != 2*n {
		t.Fatalf("workflow result %d, %v; want %d", got, err, 2*n)
	}
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// TestNodesRestart runs a cluster of three processes under one supervisor:
// a workflow completes, a history node killed with SIGKILL is restarted
// on its ports and a second workflow completes, and SIGINT stops them all.
func TestNodesRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	_, dbURL := pg.NewDatabase(t)
	portsFile := filepath.Join(t.TempDir(), "ports.json")
	p := startProc(t, "start", "--nodes", "frontend+worker,history,matching", "--restart", "--db-url", dbURL,
		"--port", "0", "--http-port", "0", "--headless", "--log-level", "warn", "--ports-file", portsFile)
	ports := waitNodesPorts(t, p, portsFile, 60*time.Second, func(np NodesPorts) error {
		if len(np.Nodes) != 3 {
			return errors.New("not 3 nodes")
		}
		return nil
	})
	var pids []int
	for i, want := range [][]string{{"frontend", "worker"}, {"history"}, {"matching"}} {
		n := ports.Nodes[i]
		if !slices.Equal(n.Runs, want) || n.PID <= 0 || !alive(n.PID) || len(n.Ports) == 0 {
			t.Fatalf("node %d = %+v, want one running %v with a live pid and its ports", i+1, n, want)
		}
		pids = append(pids, n.PID)
	}
	if ports.Frontend == "" || ports.HTTP == "" {
		t.Fatalf("ports file lacks the frontend's addresses: %+v", ports)
	}
	if out := p.stdout.String(); strings.Count(out, "devcluster ready in") != 1 || strings.Contains(out, "This node runs") ||
		!strings.Contains(out, "export TEMPORAL_ADDRESS="+ports.Frontend) {
		t.Errorf("want one banner of the supervisor naming %s, got:\n%s", ports.Frontend, out)
	}

	c := dialWorker(t, ports.Frontend, "default", "nodes", DoubleWorkflow)
	runDouble(t, c, "nodes", 21)

	history, before := pids[1], string(ports.Nodes[1].Ports)
	if err := syscall.Kill(history, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ports = waitNodesPorts(t, p, portsFile, 30*time.Second, func(np NodesPorts) error {
		if !strings.Contains(p.stderr.String(), "node2 (history) exited: signal: killed") {
			return errors.New("no report of the kill on stderr")
		}
		if n := np.Nodes[1]; n.PID == 0 || n.PID == history || n.Restarts != 1 {
			return errors.New("node2 not restarted yet")
		}
		return nil
	})
	pids = append(pids, ports.Nodes[1].PID)
	// The same gRPC and ringpop addresses: the others know it there.
	var was, is Ports
	if err := json.Unmarshal([]byte(before), &was); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ports.Nodes[1].Ports, &is); err != nil {
		t.Fatal(err)
	}
	if was.Services["history"] != is.Services["history"] || was.Node == nil || is.Node == nil ||
		was.Node.Membership["history"] != is.Node.Membership["history"] {
		t.Errorf("restarted history node at %+v, was at %+v", is, was)
	}
	runDouble(t, c, "nodes", 5)

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0", code)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("node pid %d still runs after the supervisor exited", pid)
		}
	}
	if _, err := os.Stat(portsFile); !os.IsNotExist(err) {
		t.Errorf("ports file should be removed at stop, stat: %v", err)
	}
}

// TestNodesSupervisorKilled: when the supervisor dies without stopping
// its nodes (SIGKILL), the kernel's parent-death signal stops each of them
// gracefully: each logs "cluster stopped", although its output pipes now
// have no reader and the signal may come more than once.
func TestNodesSupervisorKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	t.Parallel()
	pg := pgtest.Shared(t)
	_, dbURL := pg.NewDatabase(t)
	dir, tmp := t.TempDir(), t.TempDir()
	portsFile, logFile := filepath.Join(dir, "ports.json"), filepath.Join(dir, "nodes.log")
	p := startProcEnv(t, []string{"DEVCLUSTER_LOG_FILE=" + logFile, "TMPDIR=" + tmp}, "start", "--nodes", "frontend+worker,history+matching", "--db-url", dbURL,
		"--port", "0", "--http-port", "0", "--headless", "--ports-file", portsFile)
	ports := waitNodesPorts(t, p, portsFile, 60*time.Second, func(NodesPorts) error { return nil })
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for _, n := range ports.Nodes {
		for alive(n.PID) {
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s (pid %d) still runs 20s after its supervisor was killed", n.Name, n.PID)
			}
		}
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), `msg="cluster stopped"`); got != len(ports.Nodes) {
		t.Errorf("%d nodes logged a graceful stop, want %d; log:\n%s", got, len(ports.Nodes), b)
	}
	// What the README says a killed supervisor leaves: its ports file,
	// and its directory of the nodes' files, empty (each node removed
	// its node file once read, and its ports file in its graceful stop).
	if fileSize(portsFile) <= 0 {
		t.Errorf("the killed supervisor's ports file is gone; the README says it is left")
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, "devcluster-nodes-*"))
	if len(dirs) != 1 {
		t.Fatalf("want the supervisor's nodes directory left in TMPDIR, got %v", dirs)
	}
	if entries, err := os.ReadDir(dirs[0]); err != nil || len(entries) != 0 {
		t.Errorf("%s: %d entries (%v), want it empty", dirs[0], len(entries), err)
	}
}

// TestNodesBadInput: each bad use of --nodes is one line naming the flag,
// exit 2, before any node starts.
func TestNodesBadInput(t *testing.T) {
	t.Parallel()
	pgURL := "--db-url=postgres://devcluster@127.0.0.1:1/nodes"
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero nodes", []string{"--nodes", "0", pgURL}, "flag --nodes: 0 is not a positive number of nodes"},
		{"negative", []string{"--nodes=-2", pgURL}, "flag --nodes: -2 is not a positive number of nodes"},
		{"not a role", []string{"--nodes", "frontend+histroy,matching", pgURL}, `flag --nodes: "frontend+histroy,matching": "histroy" is neither a number of nodes nor a role`},
		{"empty entry", []string{"--nodes", "frontend,,history,matching", pgURL}, "flag --nodes: \"frontend,,history,matching\" has an empty entry"},
		{"role twice in a node", []string{"--nodes", "frontend+frontend,history,matching", pgURL}, "node 1 names frontend twice"},
		{"no matching", []string{"--nodes", "frontend+worker,history", pgURL}, "runs no matching; a cluster needs frontend, history and matching"},
		{"no frontend nor history", []string{"--nodes", "matching,worker", pgURL}, "runs no frontend and no history"},
		{"in memory", []string{"--nodes", "3"}, "flag --nodes needs --db-url postgres://"},
		{"sqlite", []string{"--nodes", "3", "--db-file", filepath.Join(t.TempDir(), "x.db")}, "flag --nodes needs --db-url postgres://"},
		{"with --services", []string{"--nodes", "3", "--services", "history", pgURL}, "flag --services cannot be combined with --nodes"},
		{"with --clusters", []string{"--nodes", "3", "--clusters", "a,b", pgURL}, "flag --clusters cannot be combined with --nodes"},
		{"with static membership", []string{"--nodes", "2", "--membership", "static", pgURL}, "flag --membership static cannot be combined with --nodes"},
		{"tls with a file as cert-dir", []string{"--nodes", "2", "--tls", "--cert-dir", notDir, pgURL}, "tls.cert-dir: " + notDir + " is a file"},
		{"restart alone", []string{"--restart"}, "flag --restart restarts the nodes of --nodes"},
		{"chaos alone", []string{"--chaos", "kill-every=1s"}, "flag --chaos kills nodes of --nodes"},
		{"chaos without restart", []string{"--nodes", "2", "--chaos", "kill-every=1s", pgURL}, "flag --chaos kills nodes for --restart to start again: add --restart"},
		{"chaos spec", []string{"--nodes", "2", "--restart", "--chaos", "kill-every=soon", pgURL}, "flag --chaos: kill-every=soon is not a positive duration; e.g. --chaos kill-every=30s"},
		{"over the machine's limit", []string{"--nodes", "1000", pgURL}, fmt.Sprintf("flag --nodes: 1000 nodes are more than the limit of %d (%d per CPU core", nodes.DefaultLimit(), nodes.PerCPU)},
		{"over the machine's limit as role sets", []string{"--nodes", strings.Repeat("history,", nodes.DefaultLimit()) + "frontend,matching", pgURL},
			fmt.Sprintf("flag --nodes: %d nodes are more than the limit of %d", nodes.DefaultLimit()+2, nodes.DefaultLimit())},
		{"over --nodes-limit", []string{"--nodes", "3", "--nodes-limit", "2", pgURL}, "flag --nodes: 3 nodes are more than the limit of 2 (--nodes-limit); start fewer, or raise the limit on purpose with --nodes-limit 3"},
		{"nodes-limit zero", []string{"--nodes", "3", "--nodes-limit", "0", pgURL}, "flag --nodes-limit: 0 is not a positive number"},
		{"nodes-limit alone", []string{"--nodes-limit", "3"}, "flag --nodes-limit bounds the processes of --nodes"},
		{"ports file is a directory", []string{"--nodes", "2", pgURL, "--ports-file", t.TempDir()}, "ports-file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runBinary(t, append([]string{"start"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q (stdout %q)", code, errOut, tc.want, out)
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n") + 1; lines != 1 || strings.Contains(errOut, "starting") {
				t.Errorf("want one line and no node started, got:\n%s", errOut)
			}
		})
	}
}

// TestNodesChaos: `--chaos kill-every=...` SIGKILLs the nodes without a
// frontend on schedule while workflows run under 1% persistence timeouts
// (--faults, which every node follows); with --restart each node comes
// back and rejoins (reported with the time it took), and every workflow
// completes.
func TestNodesChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three devcluster processes")
	}
	// Not parallel: its kills and load would starve the parallel batch's
	// timing-sensitive starts (it ran beside TestStartupTimeoutEndsHungStart
	// once and changed which warning that start ended with).
	pg := pgtest.Shared(t)
	_, dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	portsFile, rules := filepath.Join(dir, "ports.json"), filepath.Join(dir, "faults.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - {name: flaky, persistence: {store: ExecutionStore, method: UpdateWorkflowExecution}, error: Timeout, rate: 0.01}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "start", "--nodes", "frontend+worker,history,matching", "--restart", "--chaos", "kill-every=3s,seed=5", "--faults", rules,
		"--db-url", dbURL, "--port", "0", "--http-port", "0", "--headless", "--log-level", "warn", "--ports-file", portsFile)
	ports := waitNodesPorts(t, p, portsFile, 60*time.Second, func(np NodesPorts) error { return nil })
	// The ports file is written before the banner is printed.
	waitFor(t, p, 10*time.Second, "the banner's chaos line", func() bool {
		return strings.Contains(p.stdout.String(), "kills a node without a frontend every 3s (seed 5")
	})
	c := dialWorker(t, ports.Frontend, "default", "chaos", SleepyDouble)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var runs []client.WorkflowRun
	// A steady load until two killed nodes have rejoined.
	for i := 0; strings.Count(p.stderr.String(), "after its kill (rejoined the ring)") < 2; i++ {
		if ctx.Err() != nil {
			t.Fatalf("no two kills and rejoins within the deadline; stderr:\n%s", p.stderr.String())
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("chaos-%d", i), TaskQueue: "chaos"}, SleepyDouble, i)
		if err != nil {
			t.Fatalf("start chaos-%d: %v", i, err)
		}
		runs = append(runs, run)
		<-time.After(200 * time.Millisecond) // the load's pace, not a wait for a condition
	}
	for i, r := range runs {
		var got int
		if err := r.Get(ctx, &got); err != nil || got != 4*i {
			t.Fatalf("%s: %d, %v; want %d", r.GetID(), got, err, 4*i)
		}
	}
	t.Logf("%d workflows completed across the kills:\n%s", len(runs), grepLines(p.stderr.String(), "chaos:"))
	if strings.Contains(p.stderr.String(), "killed node1") {
		t.Error("chaos killed the frontend node")
	}
}
