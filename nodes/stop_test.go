package nodes

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devcluster/devcluster/profiles"
)

// TestNodesStopKillsStragglersAtOnce: the supervisor's stop is bounded
// whatever the number of nodes and however they behave. Its nodes here
// are processes that ignore SIGINT (stand-ins for nodes stuck in a stop,
// so the test needs no server): Stop must return within
// ShutdownTimeout plus KillWait, having killed every one of them, and
// name them. Before, the stragglers were killed and reaped one after the
// other.
func TestNodesStopKillsStragglersAtOnce(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	t.Parallel()
	// The supervisor runs `EXE start ARGS...`: a script that ignores
	// SIGINT (inherited across exec) and waits.
	exe := standIn(t, "trap '' INT\nexec sleep 300\n")
	const count = 32
	var out bytes.Buffer
	s := &Supervisor{ShutdownTimeout: time.Second, Stdout: &out, Stderr: &out}
	for i := range count {
		s.Nodes = append(s.Nodes, &Node{Spec: Spec{Name: "node" + strconv.Itoa(i+1), Roles: []string{profiles.History}},
			Exe: exe, Args: []string{"start"}, PortsFile: filepath.Join(t.TempDir(), "ports.json")})
	}
	s.init()
	for _, n := range s.Nodes {
		if err := s.startNode(n); err != nil {
			t.Fatal(err)
		}
	}
	var pids []int
	for _, n := range s.Nodes {
		pids = append(pids, n.PID())
	}
	// The stand-ins must have set their trap before the SIGINT comes:
	// wait until each runs sleep (its exec follows the trap).
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
			if strings.TrimSpace(string(b)) == "sleep" || runtime.GOOS != "linux" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d never ran sleep", pid)
			}
			<-time.After(5 * time.Millisecond) // polling interval
		}
	}
	began := time.Now()
	failed := s.Stop()
	took := time.Since(began)
	bound := s.ShutdownTimeout + KillWait
	t.Logf("stopped %d stuck nodes in %s (bound %s): %v", count, took.Round(time.Millisecond), bound, failed)
	if took > bound {
		t.Errorf("Stop took %s, want at most %s", took, bound)
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "not stopped within 1s (shutdown.timeout)") {
		t.Errorf("want one line naming the killed nodes, got %q", failed)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still runs after Stop", pid)
		}
	}
	if s.running() != 0 {
		t.Errorf("%d nodes still marked running", s.running())
	}
}

// standIn writes a shell script that stands in for a devcluster node (the
// supervisor runs it as `EXE start ARGS...`; body follows a line that
// answers `EXE probe`) and returns once it can run: a parallel test's fork
// may hold the write descriptor for a moment, and exec then fails with
// ETXTBSY.
func standIn(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	exe := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n[ \"$1\" = probe ] && exit 0\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := exec.Command(exe, "probe").Run()
		if err == nil {
			return exe
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in script cannot run: %v", err)
		}
		<-time.After(10 * time.Millisecond) // polling interval
	}
}
