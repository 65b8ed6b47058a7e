package tcdevcluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/tcdevcluster"
)

// image is the devcluster image under test: DCTEST_IMAGE (make test
// builds it first), else one TestMain builds with ../container/build.sh.
var image string

// TestMain points testcontainers at podman's Docker-compatible API (a
// `podman system service` of its own unless DOCKER_HOST is set) with the
// reaper off (its image comes from a registry; the tests clean up).
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	if os.Getenv("DOCKER_HOST") == "" {
		stop, err := podmanService()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcdevcluster tests:", err)
			return 1
		}
		defer stop()
	}
	if image = os.Getenv("DCTEST_IMAGE"); image == "" {
		image = "localhost/devcluster-tc:dev"
		build := exec.Command("../container/build.sh")
		build.Env = append(os.Environ(), "IMAGE=localhost/devcluster-tc", "VERSION=test")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "tcdevcluster tests: container/build.sh: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// podmanService starts `podman system service` on a socket of its own
// and sets DOCKER_HOST to it.
func podmanService() (func(), error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman is needed (apt-get install podman runc), or DOCKER_HOST naming a Docker-compatible API: %v", err)
	}
	dir, err := os.MkdirTemp("", "tcdevcluster-podman-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "podman.sock")
	// Leftovers of a run that was killed (the reaper is off).
	_ = exec.Command("podman", "rm", "-f", "-v", "--filter", "label=org.testcontainers=true").Run()
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test binary, however it ends
	// Its log (an error line per health check it cannot schedule without
	// systemd) is left out.
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := poll(ctx, func() error {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
		}
		return err
	}); err != nil {
		stop()
		return nil, fmt.Errorf("podman system service: no socket at %s after 30 s: %w", sock, err)
	}
	_ = os.Setenv("DOCKER_HOST", "unix://"+sock)
	// The ports are published on this host's loopback; without this,
	// testcontainers takes a machine with /.dockerenv for a container and
	// answers the podman network's gateway.
	_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	return stop, nil
}

// poll calls f every 20 ms until it returns nil or ctx ends (then its last
// error).
func poll(ctx context.Context, f func() error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func Greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, Hello, name).Get(ctx, &out)
	return out, err
}

func Hello(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func Nap(ctx workflow.Context) (time.Duration, error) {
	began := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, 30*24*time.Hour); err != nil {
		return 0, err
	}
	return workflow.Now(ctx).Sub(began), nil
}

// start runs the image with opts and connects an SDK client to it.
func start(t *testing.T, opts ...testcontainers.ContainerCustomizer) (*tcdevcluster.Container, client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctr, err := tcdevcluster.Run(ctx, image, opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ctr.FrontendAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := client.Options{HostPort: addr, Namespace: ctr.Namespace()}
	if tc, err := ctr.TLSConfig(); err != nil {
		t.Fatal(err)
	} else if tc != nil {
		o.ConnectionOptions.TLS = tc
		o.Credentials = client.NewAPIKeyStaticCredentials(ctr.Token())
	}
	// Run returned: the cluster is ready, so the first call must succeed
	// (no retry loop here on purpose).
	c, err := client.DialContext(ctx, o)
	if err != nil {
		t.Fatalf("dial %s right after Run: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return ctr, c
}

// execute runs wf on a worker of its own and returns its result.
func execute[T any](t *testing.T, c client.Client, wf any, args ...any) T {
	t.Helper()
	queue := strings.ReplaceAll(t.Name(), "/", "-")
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(Greet)
	w.RegisterWorkflow(Nap)
	w.RegisterActivity(Hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, wf, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunNamespacesSearchAttributesDynamicConfig(t *testing.T) {
	ctr, c := start(t,
		tcdevcluster.WithNamespaces("orders"),
		tcdevcluster.WithSearchAttributes(map[string]string{"CustomerId": "Keyword"}),
		tcdevcluster.WithDynamicConfig("limit.maxIDLength", 100))
	if ctr.Namespace() != "orders" {
		t.Fatalf("Namespace() = %q, want orders", ctr.Namespace())
	}
	if got := execute[string](t, c, Greet, "tc"); got != "hello tc" {
		t.Fatalf("Greet = %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if typ := sas.GetCustomAttributes()["CustomerId"]; typ != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Fatalf("search attribute CustomerId = %v, want Keyword (all: %v)", typ, sas.GetCustomAttributes())
	}
	// The attribute works in visibility: a workflow started with it is
	// found by a query on it.
	key := temporal.NewSearchAttributeKeyKeyword("CustomerId")
	tagged, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "none",
		TypedSearchAttributes: temporal.NewSearchAttributes(key.ValueSet("c-42"))}, Greet, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, func() error {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "orders", Query: `CustomerId = "c-42"`})
		if err == nil && (len(resp.GetExecutions()) != 1 || resp.GetExecutions()[0].GetExecution().GetWorkflowId() != tagged.GetID()) {
			err = fmt.Errorf("found %v", resp.GetExecutions())
		}
		return err
	}); err != nil {
		t.Fatalf("query CustomerId = \"c-42\": %v", err)
	}
	// The dynamic config took: a workflow id longer than 100 is refused.
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: strings.Repeat("x", 101), TaskQueue: "none"}, Greet, "x")
	if err == nil || !strings.Contains(err.Error(), "length") {
		t.Fatalf("a 101-character workflow id with limit.maxIDLength 100: %v, want refused", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("default namespace: %v", err)
	}
	ui, err := ctr.UIURL(ctx)
	if err != nil || !strings.HasPrefix(ui, "http://") {
		t.Fatalf("UIURL = %q, %v", ui, err)
	}
}

func TestRunTimeSkipping(t *testing.T) {
	_, c := start(t, tcdevcluster.WithTimeSkipping())
	if slept := execute[time.Duration](t, c, Nap); slept < 30*24*time.Hour {
		t.Fatalf("Nap slept %s of workflow time, want 30 days", slept)
	}
}

func TestRunSecure(t *testing.T) {
	ctr, c := start(t, tcdevcluster.WithSecure())
	files := ctr.TLSFiles()
	if files == nil || ctr.Token() == "" {
		t.Fatalf("secure container: files %+v, token %q", files, ctr.Token())
	}
	for _, f := range []string{files.ClientCert, files.ClientKey, files.CA} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := execute[string](t, c, Greet, "secure"); got != "hello secure" {
		t.Fatalf("Greet = %q", got)
	}
	// Without the token the frontend refuses.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, _ := ctr.FrontendAddress(ctx)
	tc, _ := ctr.TLSConfig()
	noToken, err := client.DialContext(ctx, client.Options{HostPort: addr, ConnectionOptions: client.ConnectionOptions{TLS: tc}})
	if err == nil {
		_, err = noToken.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		noToken.Close()
	}
	var denied *serviceerror.PermissionDenied
	if !errors.As(err, &denied) {
		t.Fatalf("a client with the certificate and no token: %v, want permission denied", err)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := ctr.Terminate(stopCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files.CA); !os.IsNotExist(err) {
		t.Fatalf("client files left after Terminate: %v", err)
	}
}

// A cluster that cannot start makes Run fail with devcluster's reason.
func TestRunRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctr, err := tcdevcluster.Run(ctx, image, tcdevcluster.WithDynamicConfig("limit.maxIDLength", 40))
	testcontainers.CleanupContainer(t, ctr)
	if err == nil || !strings.Contains(err.Error(), "limit.maxIDLength: 40 is too small") {
		t.Fatalf("Run with a maxIDLength the system workflows cannot live with: %v, want devcluster's reason", err)
	}
}
