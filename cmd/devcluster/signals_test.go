package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/nodes"
)

// TestSIGHUPStopsCleanly: SIGHUP (a closed terminal, `kill -HUP`) stops
// `devcluster start` as SIGTERM does: exit 0, the SQLite -wal folded into
// the file, the ports file and the temporary key directory of --tls
// removed. Before, SIGHUP ended the process on the spot and left all three.
func TestSIGHUPStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	t.Parallel()
	tmp := t.TempDir() // the process's TMPDIR: where its key directory goes
	db := filepath.Join(t.TempDir(), "hup.db")
	ports := filepath.Join(t.TempDir(), "ports.json")
	p := startProcEnv(t, []string{"TMPDIR=" + tmp}, "start", "--profile", "test", "--db-file", db, "--ports-file", ports, "--tls")
	waitFor(t, p, 60*time.Second, "the ports file", func() bool { return fileSize(ports) > 0 })
	keyDirs, _ := filepath.Glob(filepath.Join(tmp, "devcluster-certs-*"))
	if len(keyDirs) != 1 {
		t.Fatalf("want one temporary key directory in TMPDIR %s while running, got %v", tmp, keyDirs)
	}
	if fileSize(db+"-wal") <= 0 {
		t.Fatalf("%s-wal is empty while running: the test could not tell a folded log from none", db)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 || !p.cmd.ProcessState.Exited() {
		t.Fatalf("after SIGHUP: %v (exit code %d), want a clean exit 0 as after SIGTERM\nstderr:\n%s", p.cmd.ProcessState, code, p.stderr.String())
	}
	if n := fileSize(db + "-wal"); n > 0 {
		t.Errorf("%s-wal holds %d bytes after SIGHUP, want none (folded into the file)", db, n)
	}
	if _, err := os.Stat(ports); !os.IsNotExist(err) {
		t.Errorf("ports file %s left after SIGHUP (stat: %v)", ports, err)
	}
	if _, err := os.Stat(keyDirs[0]); !os.IsNotExist(err) {
		t.Errorf("temporary key directory %s left after SIGHUP (stat: %v)", keyDirs[0], err)
	}
	integrityCheck(t, db)
}

// TestStalePortsFileRemovedAtStart: a ports file left by a killed run is
// removed when a new start begins, not replaced once it is ready, so a
// script waiting for the file to appear never reads the old ports. Checked
// for one process and for the supervisor of --nodes (whose start then
// fails: its nodes find no database).
func TestStalePortsFileRemovedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	t.Parallel()
	stale := []byte(`{"frontend": "127.0.0.1:1", "services": {}, "namespaces": []}` + "\n")
	t.Run("one process", func(t *testing.T) {
		t.Parallel()
		ports := filepath.Join(t.TempDir(), "ports.json")
		if err := os.WriteFile(ports, stale, 0o644); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, "start", "--profile", "test", "--ports-file", ports)
		// The start takes over a second; the file must be gone early in it.
		deadline := time.Now().Add(60 * time.Second)
		for fileSize(ports) >= 0 {
			if strings.Contains(p.stdout.String(), "devcluster ready") || time.Now().After(deadline) {
				t.Fatalf("the stale ports file was never absent before the cluster was ready")
			}
			select {
			case <-p.done:
				t.Fatalf("devcluster exited: %v\n%s", p.err, p.stderr.String())
			case <-time.After(2 * time.Millisecond): // polling interval
			}
		}
		waitFor(t, p, 60*time.Second, "the new ports file", func() bool { return fileSize(ports) > 0 })
		if b, _ := os.ReadFile(ports); strings.Contains(string(b), "127.0.0.1:1\"") {
			t.Errorf("ports file still has the stale frontend:\n%s", b)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exitCode(t, 20*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
	})
	t.Run("supervisor", func(t *testing.T) {
		t.Parallel()
		ports := filepath.Join(t.TempDir(), "ports.json")
		if err := os.WriteFile(ports, stale, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runBinary(t, "start", "--nodes", "2", "--db-url", "postgres://devcluster@127.0.0.1:1/nodes", "--ports-file", ports)
		if code == 0 {
			t.Fatalf("exit 0 without a database:\n%s", errOut)
		}
		if _, err := os.Stat(ports); !os.IsNotExist(err) {
			t.Errorf("stale ports file %s still there after a start of --nodes (stat: %v)\n%s", ports, err, errOut)
		}
	})
	t.Run("refused start leaves it", func(t *testing.T) {
		// A start refused for its config has not begun: the file of a
		// run that may still be going is left alone.
		t.Parallel()
		ports := filepath.Join(t.TempDir(), "ports.json")
		if err := os.WriteFile(ports, stale, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := runBinary(t, "start", "--ports-file", ports, "--shards", "0"); code != exitUsage {
			t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, errOut)
		}
		if b, err := os.ReadFile(ports); err != nil || string(b) != string(stale) {
			t.Errorf("a refused start changed the ports file: %q, %v", b, err)
		}
	})
}

// TestNodesSIGHUPStopsAllInTime runs --nodes at this machine's limit and,
// once all are ready, sends the supervisor SIGHUP: every node is gone
// within the stop's bound (shutdown.timeout, then SIGKILL and nodes.KillWait),
// the supervisor exits 0 by its own stop (not killed by the signal), and
// its ports file is removed.
func TestNodesSIGHUPStopsAllInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("finds the nodes through /proc")
	}
	pg := pgtest.Shared(t)
	_, dbURL := pg.NewDatabase(t)
	n := nodes.DefaultLimit()
	const shutdown = 5 * time.Second
	portsFile := filepath.Join(t.TempDir(), "ports.json")
	began := time.Now()
	p := startProc(t, "start", "--nodes", strconv.Itoa(n), "--db-url", dbURL, "--port", "0", "--http-port", "0", "--headless",
		"--shutdown-timeout", shutdown.String(), "--startup-timeout", "3m", "--ports-file", portsFile)
	ports := waitNodesPorts(t, p, portsFile, 4*time.Minute, func(np NodesPorts) error {
		if len(np.Nodes) != n {
			return errors.New("not every node in the ports file")
		}
		return nil
	})
	t.Logf("%d full nodes ready in %s", n, time.Since(began).Round(time.Millisecond))
	children := childPIDs(p.cmd.Process.Pid)
	if len(children) != n {
		t.Fatalf("the supervisor has %d child processes, want %d", len(children), n)
	}
	for _, node := range ports.Nodes {
		if !slices.Contains(children, node.PID) {
			t.Fatalf("%s's pid %d is not a child of the supervisor (%v)", node.Name, node.PID, children)
		}
	}
	began = time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	bound := shutdown + nodes.KillWait + 5*time.Second
	code := p.exitCode(t, bound)
	t.Logf("%d nodes stopped %s after SIGHUP (bound %s)", n, time.Since(began).Round(time.Millisecond), bound)
	if code != 0 || !p.cmd.ProcessState.Exited() {
		t.Errorf("the supervisor ended with %v after SIGHUP, want its own clean stop (exit 0)", p.cmd.ProcessState)
	}
	var left []int
	for _, pid := range children {
		if alive(pid) && !zombie(pid) {
			left = append(left, pid)
		}
	}
	if len(left) > 0 {
		t.Errorf("nodes %v still run after their supervisor exited", left)
	}
	if _, err := os.Stat(portsFile); !os.IsNotExist(err) {
		t.Errorf("ports file left after SIGHUP (stat: %v)", err)
	}
}

// childPIDs lists the processes whose parent is pid (Linux /proc).
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the
		// last parenthesis.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if child, err := strconv.Atoi(e.Name()); err == nil {
				out = append(out, child)
			}
		}
	}
	return out
}

// zombie reports a process that has exited but is not reaped yet.
func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	return len(f) > 0 && f[0] == "Z"
}

// TestSIGKILLLeftovers checks what the README says a SIGKILL leaves
// behind, which no handler can prevent: the -wal with the last writes
// (the next start replays it), the ports file and the temporary key
// directory of --tls. The next start on the same paths removes the ports
// file at once and comes up with the data; the key directory, under a
// random name, stays.
func TestSIGKILLLeftovers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	t.Parallel()
	tmp := t.TempDir()
	db := filepath.Join(t.TempDir(), "kill.db")
	ports := filepath.Join(t.TempDir(), "ports.json")
	args := []string{"start", "--profile", "test", "--db-file", db, "--ports-file", ports, "--tls", "--log-level", "info"}
	p := startProcEnv(t, []string{"TMPDIR=" + tmp}, args...)
	waitFor(t, p, 60*time.Second, "the ports file", func() bool { return fileSize(ports) > 0 })
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.exitCode(t, 10*time.Second)
	if fileSize(db+"-wal") <= 0 {
		t.Errorf("%s-wal is empty after SIGKILL; the README says the last writes are there", db)
	}
	if fileSize(ports) <= 0 {
		t.Errorf("no ports file after SIGKILL; the README says it is left")
	}
	keyDirs, _ := filepath.Glob(filepath.Join(tmp, "devcluster-certs-*"))
	if len(keyDirs) != 1 {
		t.Errorf("want the temporary key directory left after SIGKILL, got %v", keyDirs)
	}

	again := startProcEnv(t, []string{"TMPDIR=" + tmp}, args...)
	waitFor(t, again, 60*time.Second, "the stale ports file removed", func() bool { return fileSize(ports) < 0 })
	waitFor(t, again, 60*time.Second, "the new ports file", func() bool { return fileSize(ports) > 0 })
	if strings.Contains(again.stderr.String(), `msg="database created"`) {
		t.Errorf("the restart made a new database instead of opening the killed one:\n%s", again.stderr.String())
	}
	if err := again.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := again.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, again.stderr.String())
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "devcluster-certs-*")); len(left) != 1 || left[0] != keyDirs[0] {
		t.Errorf("key directories after the clean second run: %v; want only the killed run's %v", left, keyDirs)
	}
	integrityCheck(t, db)
}
