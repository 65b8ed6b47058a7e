package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hungStart writes a config whose start can never finish: mTLS on with
// throwaway certificates (a temporary key directory), and the server's
// system worker sent to a port nothing listens on, which it dials with
// retries (for a minute, in the server) and never reaches. It returns the
// config file and the TMPDIR the child process makes its key directory in.
func hungStart(t *testing.T) (config, tmp string) {
	t.Helper()
	dir := t.TempDir()
	config = filepath.Join(dir, "hung.yaml")
	if err := os.WriteFile(config, []byte("tls: {enabled: true}\ntemporal:\n  publicClient: {hostPort: 127.0.0.1:1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp = filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	return config, tmp
}

// keyDirs lists the temporary key directories in tmp.
func keyDirs(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "devcluster-certs-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStartupTimeoutEndsHungStart: a start that cannot become ready ends
// at --startup-timeout (not when the server's own retries give up, a
// minute later), exits 1 naming startup.timeout and what it waited for,
// and removes its temporary key directory.
func TestStartupTimeoutEndsHungStart(t *testing.T) {
	t.Parallel()
	config, tmp := hungStart(t)
	const timeout = 5 * time.Second
	began := time.Now()
	p := startProcEnv(t, []string{"TMPDIR=" + tmp, "DEVCLUSTER_LOG_FILE=" + filepath.Join(tmp, "..", "server.log")},
		"start", "--port", "0", "--http-port", "0", "--headless", "--config", config, "--startup-timeout", timeout.String())
	code := p.exitCode(t, timeout+20*time.Second)
	took := time.Since(began)
	if code != exitRuntime {
		t.Errorf("exit code %d, want %d", code, exitRuntime)
	}
	// The process starts, builds and rolls back within a few seconds of
	// its timeout on this 2-core machine.
	if took > timeout+10*time.Second {
		t.Errorf("the start took %s, want about --startup-timeout %s", took.Round(time.Millisecond), timeout)
	}
	stderr := p.stderr.String()
	if w := "the start did not finish within startup.timeout 5s (--startup-timeout): waiting for the server"; !strings.Contains(stderr, w) {
		t.Errorf("stderr lacks %q:\n%s", w, stderr)
	}
	// The server's last warning names what hung: its system worker's
	// client, which cannot reach 127.0.0.1:1, or, on a busy machine, the
	// worker service whose start that client held up.
	if !strings.Contains(stderr, "the server's last warning: error creating sdk client") && !strings.Contains(stderr, "the server's last warning: start failed: failed to start service worker") {
		t.Errorf("stderr names neither the system worker's client nor the worker service:\n%s", stderr)
	}
	if strings.Contains(stderr, "panic") || regexp.MustCompile(`goroutine \d+ \[`).MatchString(stderr) {
		t.Errorf("stack trace on stderr:\n%s", stderr)
	}
	if left := keyDirs(t, tmp); len(left) > 0 {
		t.Errorf("temporary key directories left behind: %v", left)
	}
	t.Logf("a start with --startup-timeout %s ended after %s", timeout, took.Round(time.Millisecond))
}

// TestInterruptEndsHungStart: one Ctrl+C during a start that cannot become
// ready stops the process at once, with the temporary key directory
// removed.
func TestInterruptEndsHungStart(t *testing.T) {
	t.Parallel()
	config, tmp := hungStart(t)
	logFile := filepath.Join(tmp, "..", "server.log")
	p := startProcEnv(t, []string{"TMPDIR=" + tmp, "DEVCLUSTER_LOG_FILE=" + logFile},
		"start", "--port", "0", "--http-port", "0", "--headless", "--config", config, "--startup-timeout", "2m")
	// Interrupt once the system worker is dialing in vain (the server's
	// log says so), which in the server goes on for a minute.
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "error creating sdk client") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the system worker did not start dialing within 60s; log:\n%s", b)
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited before its system worker dialed: %s", p.stderr.String())
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
	if len(keyDirs(t, tmp)) == 0 {
		t.Fatalf("no temporary key directory in %s while starting", tmp)
	}
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := p.exitCode(t, 30*time.Second)
	took := time.Since(began)
	if code != exitRuntime {
		t.Errorf("exit code %d, want %d", code, exitRuntime)
	}
	if took > 10*time.Second {
		t.Errorf("one interrupt took %s to stop a hung start", took.Round(time.Millisecond))
	}
	if strings.Contains(p.stderr.String(), "second signal") || strings.Contains(p.stderr.String(), "longer than the shutdown timeout") {
		t.Errorf("the first interrupt did not stop it by itself:\n%s", p.stderr.String())
	}
	if left := keyDirs(t, tmp); len(left) > 0 {
		t.Errorf("temporary key directories left behind: %v", left)
	}
	t.Logf("one interrupt stopped a hung start in %s", took.Round(time.Millisecond))
}
