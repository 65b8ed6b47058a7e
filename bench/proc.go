package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/nodes"
)

// server is one devcluster process (a node in the nodes package's sense:
// ready once it has written its ports file).
type server struct {
	node     *nodes.Node
	frontend string
	ready    time.Duration // exec to ports file written (the banner follows at once)
	logs     *syncbuf.Buffer
}

// startServer execs bin with `start --port 0 --http-port 0 --headless
// --ports-file F` and extra args, and returns once it is ready.
func startServer(ctx context.Context, bin, dir string, extra ...string) (*server, error) {
	portsFile := filepath.Join(dir, "ports.json")
	logs := &syncbuf.Buffer{Limit: 1 << 20}
	n := &nodes.Node{
		Spec: nodes.Spec{Name: "devcluster"}, Exe: bin, Dir: dir, Env: cleanEnv(), PortsFile: portsFile, Stdout: logs, Stderr: logs,
		Args: append([]string{"start", "--port", "0", "--http-port", "0", "--headless", "--ports-file", portsFile}, extra...),
	}
	began := time.Now()
	if err := n.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ports, err := n.WaitReady(ctx)
	if err != nil {
		n.Kill()
		return nil, fmt.Errorf("devcluster %s: %w\n%s", strings.Join(n.Args, " "), err, tail(logs.String()))
	}
	return &server{node: n, frontend: ports.Frontend, ready: time.Since(began), logs: logs}, nil
}

// cleanEnv is the environment without DEVCLUSTER_* variables (devcluster
// reads them as config) and without the bench's own child marker.
func cleanEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "DEVCLUSTER_") || strings.HasPrefix(e, childEnv+"=") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// rssMB reads VmRSS of the process from /proc.
func (s *server) rssMB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.node.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// stop sends SIGINT and returns the time until the process exited; an exit
// code other than 0, or a kill after a minute, is an error.
func (s *server) stop() (time.Duration, error) {
	began := time.Now()
	err := s.node.Stop(time.Minute)
	d := time.Since(began)
	if err != nil {
		return d, fmt.Errorf("devcluster stop: %v\n%s", err, tail(s.logs.String()))
	}
	return d, nil
}

// killIfRunning kills the process unless it has already exited.
func (s *server) killIfRunning() { s.node.Kill() }

func tail(s string) string {
	const n = 3000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
