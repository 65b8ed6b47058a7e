package main

// These tests run the devcluster binary the way a user does: built with
// `go build`, started as a subprocess on free ports, talked to over gRPC
// with the Go SDK, stopped with SIGINT.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/syncbuf"
)

// binary is the devcluster executable built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "devcluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	binary = filepath.Join(dir, "devcluster")
	build := exec.Command("go", "build", "-o", binary, ".")
	// Build with the toolchain this test binary was built with.
	build.Env = append(os.Environ(), "GOTOOLCHAIN="+runtime.Version())
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proc is a running devcluster process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncbuf.Buffer
	done           chan struct{}
	err            error
}

// startProc starts the binary with args; cleanup kills it if still running.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, args...)
}

// startProcEnv is startProc with extra environment variables.
func startProcEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startExe(t, binary, env, args...)
}

// startExe is startProcEnv for another executable (the binary under
// another name).
func startExe(t *testing.T, exe string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(exe, args...), done: make(chan struct{})}
	p.cmd.Env = append(hermeticEnv(), env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("devcluster %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// hermeticEnv is the test process's environment without DEVCLUSTER_*
// variables: devcluster reads every one of them as configuration (and refuses
// unknown ones), so a variable set in the caller's shell or by CI must not
// change what a test starts. Tests pass the variables they mean explicitly.
func hermeticEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEVCLUSTER_") {
			out = append(out, kv)
		}
	}
	return out
}

// exitCode waits up to d for the process to exit and returns its code.
func (p *proc) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("devcluster did not exit within %s", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

var frontendLine = regexp.MustCompile(`Frontend \(gRPC\)\s+(\S+)`)

// waitBanner waits for the ready banner and returns the frontend address.
func (p *proc) waitBanner(t *testing.T, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := frontendLine.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited before it was ready: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready banner within %s", d)
		}
	}
}

// run runs the binary to completion and returns its exit code and output.
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProc(t, args...)
	code = p.exitCode(t, 60*time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

// dialWorker dials the frontend at addr in namespace and runs a worker on
// taskQueue with the given workflows and the Double activity; the worker
// stops, then the client closes, when t ends.
func dialWorker(t *testing.T, addr, namespace, taskQueue string, workflows ...any) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: namespace})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	w := worker.New(c, taskQueue, worker.Options{})
	for _, wf := range workflows {
		w.RegisterWorkflow(wf)
	}
	w.RegisterActivity(Double)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}

func Double(ctx context.Context, n int) (int, error) {
	activity.GetLogger(ctx).Info("doubling", "n", n)
	return 2 * n, nil
}

func DoubleWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out int
	err := workflow.ExecuteActivity(ctx, Double, n).Get(ctx, &out)
	return out, err
}

func TestStartRunWorkflowAndInterrupt(t *testing.T) {
	p := startProc(t, "start", "--port", "0", "--http-port", "0", "--namespace", "orders")
	addr := p.waitBanner(t, 60*time.Second)
	banner := p.stdout.String()
	for _, want := range []string{"export TEMPORAL_ADDRESS=" + addr, "default, orders", "in memory", "Ctrl+C"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	// The dev profile's HTTP API, Web UI and metrics: each banner line's URL
	// answers.
	for label, path := range map[string]string{"HTTP API": "/api/v1/namespaces", "Web UI": "/", "Metrics": ""} {
		u := bannerURL(t, banner, label)
		if path != "" {
			u += path
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("%s %s: %v", label, u, err)
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %s", label, u, resp.Status)
		}
	}

	code, out, errOut := runBinary(t, "wait-ready", "--address", addr, "--namespace", "orders", "--timeout", "30s")
	if code != 0 {
		t.Fatalf("wait-ready exit %d: %s%s", code, out, errOut)
	}

	c := dialWorker(t, addr, "orders", "e2e", DoubleWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "e2e"}, DoubleWorkflow, 21)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := wr.Get(ctx, &got); err != nil || got != 42 {
		t.Fatalf("workflow result %d, %v; want 42", got, err)
	}
	// The worker's long polls are still open: SIGINT must cut them and exit 0.
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0", code)
	}
}

// TestClientCommandsBadAddress: a malformed --address is a usage error
// naming the flag, at once; an address where nothing listens is said so in
// words, not as a gRPC status.
func TestClientCommandsBadAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wait-ready, no port", []string{"wait-ready", "--address", "localhost", "--timeout", "30s"}, exitUsage, "flag --address: \"localhost\" is not HOST:PORT"},
		{"wait-ready, two clusters", []string{"wait-ready", "--address", closed, "--ports-file", "p.json"}, exitUsage,
			"flags --ports-file and --address: the ports file names the cluster's address, TLS files and namespaces; drop --address"},
		{"wait-ready, empty ports file flag", []string{"wait-ready", "--ports-file", ""}, exitUsage, "flag --ports-file: empty"},
		{"wait-ready, no ports file", []string{"wait-ready", "--ports-file", "/nonexistent/p.json", "--timeout", "200ms"}, exitRuntime,
			"ports file /nonexistent/p.json: not written within 200ms: it appears once the cluster is ready; start the cluster with --ports-file /nonexistent/p.json"},
		{"wait-ready, not a ports file", []string{"wait-ready", "--ports-file", "/etc/hostname", "--timeout", "30s"}, exitRuntime,
			"flag --ports-file: ports file /etc/hostname: invalid character"},
		{"failover, bad port", []string{"failover", "--address", "127.0.0.1:99999", "--to", "b"}, exitUsage, "flag --address: \"127.0.0.1:99999\" has port"},
		{"workflow, no port", []string{"workflow", "time", "--address", "127.0.0.1", "--workflow-id", "w"}, exitUsage, "flag --address"},
		{"failover, nothing listens", []string{"failover", "--address", closed, "--to", "b", "--timeout", "5s"}, exitRuntime, "nothing listens at " + closed},
		{"workflow, nothing listens", []string{"workflow", "time", "--address", closed, "--workflow-id", "w", "--timeout", "5s"}, exitRuntime, "nothing listens at " + closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, _, errOut := runBinary(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "rpc error") {
				t.Errorf("exit %d, stderr %q; want %d and %q without a raw gRPC status", code, errOut, tc.code, tc.want)
			}
			if took := time.Since(began); tc.code == exitUsage && took > 5*time.Second {
				t.Errorf("a usage error took %s", took)
			}
		})
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	code, _, errOut := runBinary(t, "wait-ready", "--address", addr, "--timeout", "300ms")
	if code != 1 || !strings.Contains(errOut, "not ready after 300ms") {
		t.Fatalf("exit %d, stderr %q; want 1 and a timeout message", code, errOut)
	}
}

// TestBadInput checks that each bad input is one clear line on stderr with
// the right exit code and no stack trace.
func TestBadInput(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	heldPort := fmt.Sprint(held.Addr().(*net.TCPAddr).Port)

	dir := t.TempDir()
	foreign := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(foreign, []byte("not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	free := "--port=0"
	badDC := filepath.Join(dir, "dc.yaml")
	if err := os.WriteFile(badDC, []byte("limit.maxIDLenght:\n  - value: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Config files, in a directory of their own (the check at the end
	// counts what refused starts leave next to the refused database files).
	cdir := t.TempDir()
	written := map[string]bool{}
	file := func(name, content string) string {
		written[name] = true
		p := filepath.Join(cdir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := file("malformed.yaml", "log:\n  level: [debug\n")
	unknownKey := file("unknown.yaml", "services:\n  frontend:\n    grpc-prot: 7300\n")
	wrongType := file("type.toml", "[persistence]\nshards = \"many\"\n")
	badJSON := file("bad.json", "{\"log\": {\"level\": \"debug\",}}")
	noExt := file("config", "log: {level: debug}\n")
	notPEM := file("cert.pem", "hello\n")
	written["good"] = true // certificates the bad-input cases point at
	good, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(cdir, "good")})
	if err != nil {
		t.Fatal(err)
	}
	badCerts := file("certs.yaml", "tls:\n  enabled: true\n  frontend: {cert-file: "+notPEM+", key-file: "+notPEM+", ca-file: "+good.FrontendCA+"}\n")
	missingCerts := file("missing-certs.yaml", "tls:\n  enabled: true\n  internode: {cert-file: /nonexistent/c.pem, key-file: /nonexistent/k.pem, ca-file: "+good.InternodeCA+"}\n")
	partialCerts := file("partial-certs.yaml", "tls:\n  enabled: true\n  client: {cert-file: "+notPEM+"}\n")
	archival := file("archival.yaml", "archival:\n  history: {enabled: true}\n")
	visibility := file("visibility.yaml", "visibility: {file: vis.db}\n")
	authNoTLS := file("auth.yaml", "auth: {enabled: true}\n")
	metricsAddr := file("metrics.yaml", "metrics: {address: nowhere}\n")
	metricsHeld := file("metrics-held.yaml", "metrics: {address: 127.0.0.1:"+heldPort+"}\n")
	temporalBad := file("temporal.yaml", "temporal:\n  global:\n    membership: {maxJoinDurration: 1s}\n")
	badDCType := file("dc-type.yaml", "limit.maxIDLength:\n  - value: lots\n")
	negativeDC := file("dc-negative.yaml", "limit.maxIDLength:\n  - value: -1\n")
	// A certificate set that expired a day ago, and files mixed up.
	written["expired"] = true
	expired, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(cdir, "expired"), Now: func() time.Time { return time.Now().Add(-96 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	frontendFiles := func(cert, key string) string {
		return "  frontend: {cert-file: " + cert + ", key-file: " + key + ", ca-file: " + good.FrontendCA + "}\n"
	}
	expiredCert := file("expired-cert.yaml", "tls:\n  enabled: true\n"+frontendFiles(expired.FrontendCert, expired.FrontendKey))
	wrongKey := file("wrong-key.yaml", "tls:\n  enabled: true\n"+frontendFiles(good.FrontendCert, good.ClientKey))
	wrongName := file("wrong-name.yaml", "tls:\n  enabled: true\n  server-name: temporal.example.org\n"+frontendFiles(good.FrontendCert, good.FrontendKey))
	// The user's system-worker certificate for a frontend whose client CA
	// devcluster generates: no mix of files can make that work.
	ownWorker := file("own-worker.yaml", "tls:\n  enabled: true\n  system-worker: {cert-file: "+good.SystemWorkerCert+", key-file: "+good.SystemWorkerKey+"}\n")
	// A signing key that exists but cannot be read (a directory: root
	// reads files of any mode).
	written["keydir"] = true
	if err := os.MkdirAll(filepath.Join(cdir, "keydir", auth.KeyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	// The server logs what its refused system worker met: keep stderr to
	// the one line.
	serverLog := "DEVCLUSTER_LOG_FILE=" + filepath.Join(t.TempDir(), "server.log")

	cases := []struct {
		name string
		args []string
		code int
		want []string
		env  []string
	}{
		{"port in use", []string{"start", "--port", heldPort}, 2,
			[]string{"services.frontend.grpc-port", heldPort, "already in use", "flag --port"}, nil},
		{"UI port in use", []string{"start", "--port", "0", "--ui-port", heldPort}, 2,
			[]string{"ui.port", heldPort, "cannot be bound", "choose another port"}, nil},
		{"metrics port in use", []string{"start", "--port", "0", "--config", metricsHeld}, 2,
			[]string{"metrics.address", heldPort, "cannot be bound"}, nil},
		{"colliding ports", []string{"start", "--port", "0", "--history-port", "17301", "--matching-port", "17301"}, 2,
			[]string{"17301", "also used by", "flag --"}, nil},
		{"unknown dynamic config key", []string{"start", free, "--dynamic-config-value", "limit.maxIDLenght=10"}, 2,
			[]string{"flag --dynamic-config-value", "limit.maxIDLenght", "did you mean", "limit.maxIDLength"}, nil},
		{"wrong dynamic config type", []string{"start", free, "--dynamic-config-value", `limit.maxIDLength="long"`}, 2,
			[]string{"flag --dynamic-config-value", "limit.maxIDLength", "want an int"}, nil},
		{"dynamic config not JSON", []string{"start", free, "--dynamic-config-value", "limit.maxIDLength=ten"}, 2,
			[]string{"flag --dynamic-config-value", "is not JSON"}, nil},
		{"bad search attribute type", []string{"start", free, "--search-attribute", "CustomerId=Strnig"}, 2,
			[]string{"flag --search-attribute", "Strnig", "Keyword"}, nil},
		{"search attribute without type", []string{"start", free, "--search-attribute", "CustomerId"}, 2,
			[]string{"flag --search-attribute", "NAME=TYPE"}, nil},
		{"foreign db file", []string{"start", free, "--http-port", "0", "--db-file", foreign}, 2,
			[]string{"persistence.file", foreign, "not an SQLite database", "flag --db-file"}, nil},
		{"db file in missing directory", []string{"start", free, "--http-port", "0", "--db-file", filepath.Join(dir, "no", "such", "x.db")}, 2,
			[]string{"persistence.file", "does not exist", "flag --db-file"}, nil},
		{"db file under a file", []string{"start", free, "--http-port", "0", "--db-file", filepath.Join(foreign, "x.db")}, 2,
			[]string{"persistence.file", "not a directory", "flag --db-file"}, nil},
		{"db file is a directory", []string{"start", free, "--http-port", "0", "--db-file", dir}, 2,
			[]string{"persistence.file", "is a directory", "flag --db-file"}, nil},
		{"unwritable db location", []string{"start", free, "--http-port", "0", "--db-file", "/proc/devcluster-test.db"}, 2,
			[]string{"persistence.file", "cannot be created", "writable"}, nil},
		{"ports file is a directory", []string{"start", free, "--http-port", "0", "--ports-file", dir}, 2,
			[]string{"ports-file: " + dir + " is a directory; give the path of a file", "flag --ports-file"}, nil},
		{"bad log level", []string{"start", free, "--log-level", "loud"}, 2,
			[]string{"log.level", "loud", "debug, info, warn, error", "flag --log-level"}, nil},
		{"bad namespace", []string{"start", free, "--namespace", "a/b"}, 2,
			[]string{"a/b", "not a valid namespace name", "flag --namespace"}, nil},
		{"bad dynamic config file", []string{"start", free, "--http-port", "0", "--dynamic-config-file", badDC}, 2,
			[]string{badDC + ":1", "limit.maxIDLenght", "did you mean limit.maxIDLength"}, nil},
		{"dynamic config file in a missing directory", []string{"start", free, "--http-port", "0", "--dynamic-config-file", filepath.Join(dir, "nope", "dc.yaml")}, 2,
			[]string{"does not exist", "create it"}, nil},
		{"bad log level from the environment", []string{"start", free}, 2,
			[]string{"log.level", "loud", "env DEVCLUSTER_LOG_LEVEL"}, []string{"DEVCLUSTER_LOG_LEVEL=loud"}},
		{"unknown DEVCLUSTER variable", []string{"start", free}, 2,
			[]string{"DEVCLUSTER_LOG_LEVLE", "did you mean DEVCLUSTER_LOG_LEVEL"}, []string{"DEVCLUSTER_LOG_LEVLE=debug"}},
		{"port from the environment is not a number", []string{"start"}, 2,
			[]string{"services.frontend.grpc-port", "not a whole number", "env DEVCLUSTER_SERVICES_FRONTEND_GRPC_PORT"},
			[]string{"DEVCLUSTER_SERVICES_FRONTEND_GRPC_PORT=seventy"}},
		{"unknown profile", []string{"start", free, "--profile", "cii"}, 2,
			[]string{"profile", "cii", "not a built-in profile", "did you mean ci", "flag --profile"}, nil},
		{"unknown profile from the environment", []string{"start", free}, 2,
			[]string{"cii", "env DEVCLUSTER_PROFILE"}, []string{"DEVCLUSTER_PROFILE=cii"}},
		{"config file missing", []string{"start", free, "--config", filepath.Join(cdir, "nope.yaml")}, 2,
			[]string{"config file", "nope.yaml", "cannot be read", "flag --config"}, nil},
		{"malformed YAML config", []string{"start", free, "--config", malformed}, 2,
			[]string{"malformed.yaml", "is malformed", "line"}, nil},
		{"unknown key in a config file", []string{"start", free, "--config", unknownKey}, 2,
			[]string{"services.frontend.grpc-prot", "did you mean services.frontend.grpc-port", "unknown.yaml"}, nil},
		{"wrong type in a TOML config", []string{"start", free, "--config", wrongType}, 2,
			[]string{"persistence.shards", "not a whole number", "type.toml"}, nil},
		{"malformed JSON config", []string{"start", free, "--config", badJSON}, 2,
			[]string{"bad.json", "is malformed", "line 1"}, nil},
		{"config file without an extension", []string{"start", free, "--config", noExt}, 2,
			[]string{"config file", "use .yaml, .yml, .toml or .json"}, nil},
		{"certificate files that are not PEM", []string{"start", free, "--http-port", "0", "--config", badCerts}, 2,
			[]string{"tls.frontend", "cert.pem", "cannot be loaded"}, nil},
		{"certificate files that do not exist", []string{"start", free, "--http-port", "0", "--config", missingCerts}, 2,
			[]string{"tls.internode", "/nonexistent/c.pem"}, nil},
		{"certificate files half named", []string{"start", free, "--config", partialCerts}, 2,
			[]string{"tls.client", "names some files but not all"}, nil},
		{"expired certificate", []string{"start", free, "--http-port", "0", "--config", expiredCert}, 2,
			[]string{"tls.frontend.cert-file: " + expired.FrontendCert + " expired on", "(NotAfter)", "remove the tls.frontend settings", "expired-cert.yaml"}, nil},
		{"key of another certificate", []string{"start", free, "--http-port", "0", "--config", wrongKey}, 2,
			[]string{"tls.frontend.key-file: " + good.ClientKey, "is not the key of the certificate in " + good.FrontendCert}, nil},
		{"certificate without the server name", []string{"start", free, "--http-port", "0", "--config", wrongName}, 2,
			[]string{"tls.frontend.cert-file: " + good.FrontendCert, "lacks SAN temporal.example.org", "tls.server-name"}, nil},
		{"negative dynamic config value", []string{"start", free, "--http-port", "0", "--dynamic-config-value", "limit.maxIDLength=-1"}, 2,
			[]string{"flag --dynamic-config-value", "limit.maxIDLength = -1 is negative", "default 1000"}, nil},
		{"negative dynamic config value in a file", []string{"start", free, "--http-port", "0", "--dynamic-config-file", negativeDC}, 2,
			[]string{negativeDC + ":2", "limit.maxIDLength: -1 is negative", "default 1000"}, nil},
		{"bool dynamic config not JSON", []string{"start", free, "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=yes"}, 2,
			[]string{"flag --dynamic-config-value", "is not JSON", "is a bool", "true or false"}, nil},
		{"archival without a directory", []string{"start", free, "--config", archival}, 2,
			[]string{"archival.history.dir", "must be set"}, nil},
		{"visibility file for an in-memory cluster", []string{"start", free, "--config", visibility}, 2,
			[]string{"visibility.file", "needs persistence.file"}, nil},
		{"auth without TLS", []string{"start", free, "--config", authNoTLS}, 2,
			[]string{"auth.enabled", "needs tls.enabled"}, nil},
		{"bad metrics address", []string{"start", free, "--config", metricsAddr}, 2,
			[]string{"metrics.address", "nowhere", "host:port"}, nil},
		{"temporal section the server rejects", []string{"start", free, "--http-port", "0", "--config", temporalBad}, 2,
			[]string{"temporal", "maxJoinDurration"}, nil},
		{"dynamic config file with a wrong type", []string{"start", free, "--http-port", "0", "--dynamic-config-file", badDCType}, 2,
			[]string{"dc-type.yaml:2", "limit.maxIDLength", "want an int"}, nil},
		{"zero shards", []string{"start", free, "--shards", "0"}, 2,
			[]string{"persistence.shards", "must be at least 1", "flag --shards"}, nil},
		{"negative startup timeout", []string{"start", free, "--startup-timeout", "-1s"}, 2,
			[]string{"startup.timeout", "must be positive"}, nil},
		{"a system-worker certificate the generated frontend CA did not sign", []string{"start", free, "--http-port", "0", "--config", ownWorker}, 2,
			[]string{"tls.system-worker.cert-file: " + good.SystemWorkerCert, "is not accepted by the frontend", "give tls.frontend.{cert-file,key-file,ca-file} too", "own-worker.yaml"}, nil},
		// Which refusal comes first is a race: the system worker's poll (task queue name too
		// long) or its start of a scanner (workflow ID too long). Either names the limit.
		{"dynamic config the system workflows cannot start with", []string{"start", free, "--http-port", "0", "--headless", "--dynamic-config-value", "limit.maxIDLength=20"}, 2,
			[]string{"dynamic-config.values.limit.maxIDLength: 20 is too small for the server's own system workflows", "the frontend refused the system worker's", "exceeds", "flag --dynamic-config-value"},
			[]string{serverLog}},
		{"startup timeout too short to start", []string{"start", free, "--http-port", "0", "--headless", "--startup-timeout", "1ms"}, 1,
			[]string{"the start did not finish within startup.timeout 1ms (--startup-timeout): waiting for the server"}, []string{serverLog}},
		{"token with an unreadable signing key", []string{"token", "--cert-dir", filepath.Join(cdir, "keydir"), "--role", "read"}, 2,
			[]string{filepath.Join(cdir, "keydir", auth.KeyFile), "cannot be read: is a directory"}, nil},
		{"token without a cert dir", []string{"token", "--role", "read"}, 2,
			[]string{"--cert-dir"}, nil},
		{"token with an unknown role", []string{"token", "--cert-dir", cdir, "--role", "owner"}, 2,
			[]string{"--role", "owner", "read, write, worker, admin"}, nil},
		{"unknown flag", []string{"start", "--prot", "7233"}, 2,
			[]string{"unknown flag --prot", "devcluster start --help"}, nil},
		{"stray argument", []string{"start", "7233"}, 2,
			[]string{"no arguments", "7233"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startProcEnv(t, tc.env, tc.args...)
			code := p.exitCode(t, 60*time.Second)
			stdout, stderr := p.stdout.String(), p.stderr.String()
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, stderr)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace on stderr:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", stdout)
			}
		})
	}
	if len(cases) < 30 {
		t.Errorf("only %d bad inputs; the reliability issue asks for at least 30", len(cases))
	}
	// Nothing was created next to the refused files.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("refused starts left files in %s: %v", dir, entries)
	}
	// Nor next to the refused config files (a half-written ports file,
	// database or certificate directory would show here).
	entries, _ = os.ReadDir(cdir)
	for _, e := range entries {
		if !written[e.Name()] {
			t.Errorf("refused starts left %s in %s", e.Name(), cdir)
		}
	}
}

// TestStartFailureNamesDynamicConfig: when the start fails (here it runs
// out of time at once), the dynamic config the user set is named as a
// suspect, and the profiles' own values are not.
func TestStartFailureNamesDynamicConfig(t *testing.T) {
	dcFile := filepath.Join(t.TempDir(), "dc.yaml")
	if err := os.WriteFile(dcFile, []byte("frontend.namespaceRPS:\n  - value: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing := []string{"start", "--port", "0", "--http-port", "0", "--headless", "--startup-timeout", "1ms"}
	code, _, stderr := runBinary(t, append(failing, "--dynamic-config-value", "limit.maxIDLength=300", "--dynamic-config-file", dcFile)...)
	want := "; the start failed with dynamic config set by you: limit.maxIDLength=300 (flag --dynamic-config-value), " +
		"frontend.namespaceRPS=50 (file " + dcFile + "); try without it"
	if code != exitRuntime || !strings.Contains(stderr, "devcluster: start: ") || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitRuntime, want)
	}
	code, _, stderr = runBinary(t, failing...)
	if code != exitRuntime || strings.Contains(stderr, "set by you") {
		t.Errorf("without dynamic config of one's own: exit %d, stderr:\n%s\nwant exit %d and no suspects", code, stderr, exitRuntime)
	}
}

// TestProfileCIPortsFile is the CI recipe: a cluster on free ports whose
// addresses a script reads from the ports file.
func TestProfileCIPortsFile(t *testing.T) {
	portsFile := filepath.Join(t.TempDir(), "ports.json")
	p := startProc(t, "start", "--profile", "ci", "--ports-file", portsFile, "--namespace", "ci")
	// wait-ready --ports-file waits for the file, then the frontend (the
	// ci profile has no metrics), as a CI script or health check does.
	if code, out, errOut := runBinary(t, "wait-ready", "--ports-file", portsFile, "--timeout", "60s"); code != 0 || !strings.Contains(out, "is ready") {
		t.Fatalf("wait-ready --ports-file: exit %d: %s%s", code, out, errOut)
	}
	var ports Ports
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(portsFile)
		if err == nil {
			if err := json.Unmarshal(b, &ports); err != nil {
				t.Fatalf("ports file is not JSON: %v\n%s", err, b)
			}
			break
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited before writing %s: %v", portsFile, p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ports file within a minute")
		}
	}
	if ports.Frontend == "" || ports.HTTP == "" || len(ports.Services) != 4 || !slices.Contains(ports.Namespaces, "ci") {
		t.Fatalf("ports file incomplete: %+v", ports)
	}
	// The ci profile logs JSON.
	if line, _, _ := strings.Cut(p.stderr.String(), "\n"); line != "" && !json.Valid([]byte(line)) {
		t.Errorf("ci profile should log JSON, got %q", line)
	}

	c := dialWorker(t, ports.Frontend, "ci", "ci", DoubleWorkflow)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "ci"}, DoubleWorkflow, 4)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := wr.Get(ctx, &got); err != nil || got != 8 {
		t.Fatalf("workflow result %d, %v; want 8", got, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if _, err := os.Stat(portsFile); !os.IsNotExist(err) {
		t.Errorf("ports file should be removed at stop, stat: %v", err)
	}
}

// TestSecureProfile starts the secure profile, writes a client profile, and
// reaches the cluster with the files the client profile names: wait-ready
// with the temporal CLI's TLS flags, then the SDK through envconfig.
func TestSecureProfile(t *testing.T) {
	dir := t.TempDir()
	portsFile := filepath.Join(dir, "ports.json")
	certDir := filepath.Join(dir, "certs")
	p := startProcEnv(t, []string{"TEMPORAL_CONFIG_FILE=" + filepath.Join(dir, "temporal.toml")},
		"start", "--profile", "ci,secure", "--ports-file", portsFile, "--write-client-profile", "dc", "--cert-dir", certDir)
	addr := p.waitBanner(t, 60*time.Second)
	// The ports file's client files, and a token from its key directory.
	if code, out, errOut := runBinary(t, "wait-ready", "--ports-file", portsFile, "--timeout", "30s"); code != 0 {
		t.Fatalf("wait-ready --ports-file on mTLS and auth: exit %d: %s%s", code, out, errOut)
	}
	banner := p.stdout.String()
	for _, want := range []string{"mTLS is on", "--tls-cert-path", "TEMPORAL_TLS_CLIENT_CERT_PATH", `Client profile "dc" written`,
		"Auth is on", "--api-key", "devcluster token --cert-dir " + certDir} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	conf, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{ConfigFilePath: filepath.Join(dir, "temporal.toml")})
	if err != nil {
		t.Fatal(err)
	}
	prof := conf.Profiles["dc"]
	if prof == nil || prof.Address != addr || prof.TLS == nil || prof.TLS.ClientCertPath == "" {
		t.Fatalf("client profile dc = %+v", prof)
	}
	code, out, errOut := runBinary(t, "wait-ready", "--address", addr, "--timeout", "20s",
		"--tls-cert-path", prof.TLS.ClientCertPath, "--tls-key-path", prof.TLS.ClientKeyPath,
		"--tls-ca-path", prof.TLS.ServerCACertPath, "--tls-server-name", prof.TLS.ServerName, "--api-key", prof.APIKey)
	if code != 0 {
		t.Fatalf("wait-ready with TLS flags: exit %d %s %s", code, out, errOut)
	}
	// Mistakes waiting cannot mend end wait-ready at once with what to
	// change, not after the whole timeout with a gRPC status.
	tlsFlags := []string{"--tls-cert-path", prof.TLS.ClientCertPath, "--tls-key-path", prof.TLS.ClientKeyPath,
		"--tls-ca-path", prof.TLS.ServerCACertPath, "--tls-server-name", prof.TLS.ServerName}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no TLS against mTLS", nil, "may require TLS"},
		{"no token", tlsFlags, "give a token"},
		{"another CA", []string{"--tls-cert-path", prof.TLS.ClientCertPath, "--tls-key-path", prof.TLS.ClientKeyPath,
			"--tls-ca-path", prof.TLS.ClientCertPath, "--tls-server-name", prof.TLS.ServerName, "--api-key", prof.APIKey}, "TLS handshake"},
	} {
		began := time.Now()
		code, _, errOut := runBinary(t, append([]string{"wait-ready", "--address", addr, "--timeout", "30s"}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "rpc error") {
			t.Errorf("wait-ready, %s: exit %d, stderr %q; want 1 and %q without a raw gRPC status", tc.name, code, errOut, tc.want)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("wait-ready, %s: took %s of its 30s timeout; it cannot succeed by waiting", tc.name, took)
		}
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("SDK with the written client profile: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("describe with the profile's admin token: %v", err)
	}
	// devcluster token mints a read token from the same cert dir.
	code, tok, errOut := runBinary(t, "token", "--cert-dir", certDir, "--role", "read")
	if code != 0 {
		t.Fatalf("token: exit %d %s", code, errOut)
	}
	opts.Credentials = client.NewAPIKeyStaticCredentials(strings.TrimSpace(tok))
	reader, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("describe with a read token from devcluster token: %v", err)
	}
	if _, err := reader.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "x"}, "Nothing"); err == nil {
		t.Fatal("a read token started a workflow")
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestCertsGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	code, out, errOut := runBinary(t, "certs", "generate", "--dir", dir, "--host", "devbox.local")
	if code != 0 || !strings.Contains(out, "generated certificates in "+dir) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runBinary(t, "certs", "generate", "--dir", dir, "--host", "devbox.local")
	if code != 0 || !strings.Contains(out, "reused the valid certificates") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	code, out, _ = runBinary(t, "certs", "generate", "--dir", dir, "--host", "other.local")
	if code != 0 || !strings.Contains(out, "lacks SAN other.local") {
		t.Fatalf("new host: exit %d\n%s", code, out)
	}
	if code, _, errOut := runBinary(t, "certs", "generate"); code != 2 || !strings.Contains(errOut, "--dir") {
		t.Fatalf("without --dir: exit %d %s", code, errOut)
	}
}

// bannerURL returns the first URL on the banner line that starts with label.
func bannerURL(t *testing.T, banner, label string) string {
	t.Helper()
	for _, line := range strings.Split(banner, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), label) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
				return f
			}
		}
	}
	t.Fatalf("banner has no %s URL:\n%s", label, banner)
	return ""
}

// TestSecondSignalExitsAtOnce: a second Ctrl+C during the graceful stop
// exits at once with the runtime code and says so.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	// A stop that takes a while: the stock server's (the frontend drains
	// for about a second around its system workers' open polls).
	slow := filepath.Join(t.TempDir(), "slow-stop.yaml")
	if err := os.WriteFile(slow, []byte("server: {stop-system-workers-first: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "start", "--port", "0", "--http-port", "0", "--headless", "--config", slow)
	p.waitBanner(t, 60*time.Second)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// The second once the first is handled (two pending SIGINTs would be
	// one).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "a second Ctrl+C exits at once") {
		if time.Now().After(deadline) {
			t.Fatalf("no stopping message after the first interrupt:\n%s", p.stderr.String())
		}
		<-time.After(5 * time.Millisecond) // polling interval
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != exitRuntime {
		t.Errorf("exit code %d after two interrupts, want %d", code, exitRuntime)
	}
	if !strings.Contains(p.stderr.String(), "second signal, exiting at once") {
		t.Errorf("stderr does not say why it exited:\n%s", p.stderr.String())
	}
}
