package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
)

// measureStartDev launches `server start-dev` with the argv the Go SDK's
// testsuite.StartDevServer gives it and records the time from launch to
// the first successful SDK call (client.Dial, as the harness's wait does,
// polled every 10 ms rather than the harness's 100 ms), then stops it.
func measureStartDev(ctx context.Context, bin string, c config, dir func(string) (string, error),
	rec func(string, float64), log io.Writer) error {
	d, err := dir("startdev")
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	args := append([]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--namespace", "default",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false", "--headless", "--log-level", "warn"}, c.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = d
	cmd.Env = cleanEnv()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		callCtx, callCancel := context.WithTimeout(deadline, time.Second)
		cl, err := client.DialContext(callCtx, client.Options{HostPort: addr, Logger: quietSDKLogger()})
		callCancel()
		if err == nil {
			took := time.Since(began)
			cl.Close()
			fmt.Fprintf(log, "  start-dev launch to first SDK call: %d ms\n", took.Milliseconds())
			rec("startdev_first_call_ms", ms(took))
			break
		}
		select {
		case <-deadline.Done():
			return fmt.Errorf("server start-dev not answering after 60s: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	return cmd.Wait()
}
