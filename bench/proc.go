package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devcluster/devcluster/internal/portsfile"
	"github.com/devcluster/devcluster/internal/syncbuf"
)

// server is one devcluster process.
type server struct {
	cmd      *exec.Cmd
	frontend string
	ready    time.Duration // exec to banner (ports file written)
	logs     *syncbuf.Buffer
	exited   chan struct{}
	waitErr  error
}

// startServer execs bin with `start --port 0 --http-port 0 --headless
// --ports-file F` and extra args, and returns once the banner is printed.
func startServer(ctx context.Context, bin, dir string, extra ...string) (*server, error) {
	portsFile := filepath.Join(dir, "ports.json")
	_ = os.Remove(portsFile)
	args := append([]string{"start", "--port", "0", "--http-port", "0", "--headless", "--ports-file", portsFile}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, logs: &syncbuf.Buffer{Limit: 1 << 20}, exited: make(chan struct{})}
	cmd.Stderr = s.logs
	readyCh := make(chan time.Duration, 1)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = s.logs.Write([]byte(line + "\n"))
			if !sent && strings.HasPrefix(line, "devcluster ready") {
				readyCh <- time.Since(began)
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	select {
	case s.ready = <-readyCh:
	case <-s.exited:
		return nil, fmt.Errorf("devcluster %s exited before ready: %v\n%s", strings.Join(args, " "), s.waitErr, tail(s.logs.String()))
	case <-timeout.C:
		s.kill()
		return nil, fmt.Errorf("devcluster not ready after 2m\n%s", tail(s.logs.String()))
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
	ports, err := portsfile.Read(portsFile)
	if err != nil {
		s.kill()
		return nil, err
	}
	s.frontend = ports.Frontend
	return s, nil
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
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
// code other than 0 is an error.
func (s *server) stop() (time.Duration, error) {
	began := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return 0, err
	}
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		s.kill()
		return 0, errors.New("devcluster did not exit within 1m of SIGINT")
	}
	d := time.Since(began)
	if s.waitErr != nil {
		return d, fmt.Errorf("devcluster exit: %v\n%s", s.waitErr, tail(s.logs.String()))
	}
	return d, nil
}

// killIfRunning kills the process unless it has already exited.
func (s *server) killIfRunning() {
	select {
	case <-s.exited:
	default:
		s.kill()
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func tail(s string) string {
	const n = 3000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
