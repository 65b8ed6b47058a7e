package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/internal/memlimit"
	"github.com/devcluster/devcluster/internal/syncbuf"
)

// TimerThenDouble sleeps, then doubles n in an activity.
func TimerThenDouble(ctx workflow.Context, n int) (int, error) {
	if err := workflow.Sleep(ctx, 200*time.Millisecond); err != nil {
		return 0, err
	}
	return DoubleWorkflowBody(ctx, n)
}

// DoubleWorkflowBody runs the Double activity.
func DoubleWorkflowBody(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out int
	err := workflow.ExecuteActivity(ctx, Double, n).Get(ctx, &out)
	return out, err
}

// TestStartDevUnderGoSDKHarness: the Go SDK's own testsuite.StartDevServer,
// pointed at the devcluster binary as ExistingPath, starts it, runs a
// workflow with a timer and an activity, and stops it; with --db-filename
// a workflow waiting for a signal survives a stop and a second start.
func TestStartDevUnderGoSDKHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	var out syncbuf.Buffer
	start := func(t *testing.T, opts testsuite.DevServerOptions) *testsuite.DevServer {
		t.Helper()
		opts.ExistingPath = binary
		opts.Stdout, opts.Stderr = &out, &out
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		srv, err := testsuite.StartDevServer(ctx, opts)
		if err != nil {
			t.Fatalf("StartDevServer: %v\n%s", err, out.String())
		}
		return srv
	}
	stop := func(t *testing.T, srv *testsuite.DevServer) {
		t.Helper()
		srv.Client().Close()
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v (the process must exit 0 on SIGINT)\n%s", err, out.String())
		}
	}

	t.Run("in memory", func(t *testing.T) {
		srv := start(t, testsuite.DevServerOptions{
			ClientOptions:    &client.Options{Namespace: "harness"},
			LogLevel:         "warn",
			SearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("CustomKeywordField").ValueSet("x")),
		})
		defer stop(t, srv)
		c := srv.Client()
		w := worker.New(c, "harness", worker.Options{})
		w.RegisterWorkflow(TimerThenDouble)
		w.RegisterActivity(Double)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "harness",
			TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("CustomKeywordField").ValueSet("harness"))},
			TimerThenDouble, 21)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := run.Get(ctx, &got); err != nil || got != 42 {
			t.Fatalf("workflow = %d, %v; want 42", got, err)
		}
		sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "harness"})
		if err != nil || sas.GetCustomAttributes()["CustomKeywordField"] != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute CustomKeywordField: %v, %v", sas.GetCustomAttributes(), err)
		}
	})

	t.Run("database file across a restart", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "harness.db")
		opts := testsuite.DevServerOptions{DBFilename: db}
		srv := start(t, opts)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := srv.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "harness"}, WaitForSignal); err != nil {
			t.Fatal(err)
		}
		stop(t, srv)

		srv = start(t, opts)
		defer stop(t, srv)
		c := srv.Client()
		w := worker.New(c, "harness", worker.Options{})
		w.RegisterWorkflow(WaitForSignal)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := c.SignalWorkflow(ctx, "kept", "", crashSignal, "after the restart"); err != nil {
			t.Fatalf("signal the workflow started before the restart: %v", err)
		}
		var got string
		if err := c.GetWorkflow(ctx, "kept", "").Get(ctx, &got); err != nil || got != "after the restart" {
			t.Fatalf("workflow = %q, %v", got, err)
		}
	})
}

var startDevLine = regexp.MustCompile(`(?m)^(Temporal [A-Za-z]+:)\s+(\S+)$`)

// startDevLines returns the CLI-style lines of a start-dev banner by label.
func startDevLines(stdout string) map[string]string {
	out := map[string]string{}
	for _, m := range startDevLine.FindAllStringSubmatch(stdout, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// waitStartDev waits for the start-dev banner (its last line is the
// metrics one) and returns its lines.
func (p *proc) waitStartDev(t *testing.T, d time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if l := startDevLines(p.stdout.String()); l["Temporal Metrics:"] != "" {
			return l
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited before it was ready: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-dev banner within %s", d)
		}
	}
}

// freePort returns a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	// The UI comes up just after the frontend answers: poll a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if rerr == nil {
				return resp.StatusCode, string(b)
			}
			err = rerr
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		<-time.After(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// TestStartDevFlags runs server start-dev with every flag of the CLI's
// start-dev (and its global options) and checks what each does.
func TestStartDevFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	dir := t.TempDir()
	port, httpPort, metricsPort, uiPort := freePort(t), freePort(t), freePort(t), freePort(t)
	assets := filepath.Join(dir, "assets")
	if err := os.Mkdir(assets, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "dev.db")
	p := startProc(t, "--log-level", "warn", "--color", "never", "server", "start-dev",
		"--ip", "localhost", "-p", fmt.Sprint(port), "--http-port", fmt.Sprint(httpPort), "--metrics-port", fmt.Sprint(metricsPort),
		"--ui-port", fmt.Sprint(uiPort), "--ui-ip", "127.0.0.1", "-n", "alpha", "--namespace", "beta",
		"-f", db, "--search-attribute", "CustomKeywordField=Keyword", "--search-attribute", "Priority=Int",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--dynamic-config-value", "system.enableNexus=true",
		"--dynamic-config-value", `component.callbacks.allowedAddresses=[{"Pattern":"*","AllowInsecure":true}]`,
		"--dynamic-config-value", "frontend.TimeSkippingEnabled=true",
		"--sqlite-pragma", "cache_size=-4000", "--ui-public-path", "/temporal", "--ui-codec-endpoint", "http://localhost:8888",
		"--ui-asset-path", assets, "--ui-disable-news-fetch", "--log-config", "--log-format", "pretty",
		"-o", "json", "--env", "prod", "--config-file", filepath.Join(dir, "none.toml"), "--time-format", "iso",
	)
	lines := p.waitStartDev(t, 30*time.Second)
	want := map[string]string{
		"Temporal Server:":      fmt.Sprintf("localhost:%d", port),
		"Temporal Persistence:": db,
		"Temporal HTTP:":        fmt.Sprintf("localhost:%d", httpPort),
		"Temporal UI:":          fmt.Sprintf("http://localhost:%d/temporal", uiPort),
		"Temporal Metrics:":     fmt.Sprintf("http://localhost:%d/metrics", metricsPort),
	}
	for label, v := range want {
		if lines[label] != v {
			t.Errorf("%s %q, want %q", label, lines[label], v)
		}
	}
	stderr := p.stderr.String()
	for _, w := range []string{
		"system.enableNexus is no longer a setting", "applied as callback.allowedAddresses", "applied as frontend.WorkflowTimeSkippingEnabled",
		"--color, --config-file, --env, --output, --time-format, --ui-disable-news-fetch", // one note for every ignored option
		"static config", "sqlite-default", // --log-config
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Every namespace and attribute, through the health command.
	code, out, errOut := runBinary(t, "operator", "cluster", "health", "--address", addr, "-n", "default", "-n", "alpha", "-n", "beta")
	if code != 0 || strings.TrimSpace(out) != "SERVING" {
		t.Errorf("operator cluster health: exit %d, %q %q", code, out, errOut)
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "beta"})
	if err != nil || sas.GetCustomAttributes()["Priority"] != enums.INDEXED_VALUE_TYPE_INT {
		t.Errorf("search attributes of beta: %v, %v", sas.GetCustomAttributes(), err)
	}
	// The UI probes testcontainers modules use, under the public path too.
	ui := fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	for _, path := range []string{"/api/v1/system-info", "/api/v1/namespaces", "/temporal/api/v1/namespaces"} {
		if code, body := httpGet(t, ui+path); code != http.StatusOK || !strings.Contains(body, "{") {
			t.Errorf("GET %s: %d %.200s", path, code, body)
		}
	}
	_, settings := httpGet(t, ui+"/api/v1/settings")
	var s struct{ Codec struct{ Endpoint string } }
	if err := json.Unmarshal([]byte(settings), &s); err != nil || s.Codec.Endpoint != "http://localhost:8888" {
		t.Errorf("UI settings codec endpoint %q (%v): %.300s", s.Codec.Endpoint, err, settings)
	}
	if code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)); code != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Errorf("metrics: %d", code)
	} else if !memlimit.FromEnvironment() {
		// server.memory-limit-mib (default 128): the process runs with a
		// soft memory limit at or above the floor (the Go collector's
		// gauge; without a limit it is math.MaxInt64).
		var limit float64
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "go_gc_gomemlimit_bytes "); ok {
				limit, _ = strconv.ParseFloat(v, 64)
			}
		}
		if limit < 128<<20 || limit >= math.MaxInt64 {
			t.Errorf("go_gc_gomemlimit_bytes %g, want a limit of at least 128 MiB", limit)
		}
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
	if n := pragmaOf(t, db, "journal_mode"); n != "wal" {
		t.Errorf("journal_mode %s: the file database lost devcluster's pragmas", n)
	}

	t.Run("headless", func(t *testing.T) {
		p := startProc(t, "server", "start-dev", "--port", "0", "--headless", "--log-level", "never")
		lines := p.waitStartDev(t, 30*time.Second)
		if _, ok := lines["Temporal UI:"]; ok {
			t.Errorf("a UI line with --headless: %v", lines)
		}
		if _, ok := lines["Temporal HTTP:"]; ok {
			t.Errorf("an HTTP line without --http-port (the CLI prints it only when given): %v", lines)
		}
		if lines["Temporal Persistence:"] != "in-memory" {
			t.Errorf("persistence %q", lines["Temporal Persistence:"])
		}
	})
}

func pragmaOf(t *testing.T, db, name string) string {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	var v string
	if err := conn.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStartDevBadInput: the CLI-style one-line error and exit code 2, and
// nothing left running.
func TestStartDevBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs devcluster; skipped with -short")
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	heldPort := fmt.Sprint(held.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"--no-such-flag"}, []string{"unknown flag --no-such-flag", "server start-dev --help"}},
		{"bad log level", []string{"--log-level", "loud"}, []string{"log.level", "loud", "flag --log-level"}},
		{"port in use", []string{"--port", heldPort}, []string{"services.frontend.grpc-port", heldPort, "already in use"}},
		{"bad pragma", []string{"--sqlite-pragma", "wal"}, []string{"flag --sqlite-pragma", "PRAGMA=VALUE"}},
		{"bad public path", []string{"--ui-public-path", "temporal"}, []string{"ui.public-path", "start it with /"}},
		{"unknown dynamic config key", []string{"--dynamic-config-value", "no.such.key=1"}, []string{"no.such.key", "not a setting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, stdout, stderr := runBinary(t, append([]string{"server", "start-dev"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %q", w, stderr)
				}
			}
			if strings.Contains(stdout, "Temporal Server:") {
				t.Errorf("a ready line was printed: %q", stdout)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

// TestInstalledAsTemporal: a copy named temporal answers the CLI's
// commands devcluster implements, and one line for any other.
func TestInstalledAsTemporal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs devcluster; skipped with -short")
	}
	temporalBin := filepath.Join(t.TempDir(), "temporal")
	if err := os.Symlink(binary, temporalBin); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) *proc { return startExe(t, temporalBin, nil, args...) }
	p := run("workflow", "list")
	if code := p.exitCode(t, 10*time.Second); code != exitUsage ||
		!strings.Contains(p.stderr.String(), "implements only `temporal server start-dev` and `temporal operator cluster health`") ||
		strings.Count(strings.TrimSpace(p.stderr.String()), "\n") != 0 {
		t.Errorf("temporal workflow list: exit %d, %q", code, p.stderr.String())
	}
	srv := run("--log-level", "warn", "server", "start-dev", "--port", "0", "--headless")
	lines := srv.waitStartDev(t, 30*time.Second)
	h := run("operator", "cluster", "health", "--address", strings.Replace(lines["Temporal Server:"], "localhost", "127.0.0.1", 1))
	if code := h.exitCode(t, 10*time.Second); code != 0 || strings.TrimSpace(h.stdout.String()) != "SERVING" {
		t.Errorf("temporal operator cluster health: exit %d %q %q", code, h.stdout.String(), h.stderr.String())
	}
	_ = srv.cmd.Process.Signal(os.Interrupt)
	if code := srv.exitCode(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
	// Not ready: nothing listens.
	h = run("operator", "cluster", "health", "--address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if code := h.exitCode(t, 10*time.Second); code != exitRuntime || !strings.Contains(h.stderr.String(), "NOT_SERVING") {
		t.Errorf("health with nothing there: exit %d %q", code, h.stderr.String())
	}
}
