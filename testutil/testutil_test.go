package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/testutil"
)

// TestMain runs the package's tests; with DCTEST_POSTGRES=1 (make test does
// a second pass so) every in-memory cluster runs on a throwaway PostgreSQL
// server instead, through testutil.PostgresEnv.
func TestMain(m *testing.M) {
	if os.Getenv("DCTEST_POSTGRES") == "1" && os.Getenv(testutil.PostgresEnv) == "" {
		srv, err := pgtest.StartServer()
		if err != nil {
			fmt.Fprintf(os.Stderr, "DCTEST_POSTGRES=1: start PostgreSQL: %v\n", err)
			os.Exit(1)
		}
		// The server stops when the test binary exits, however it exits.
		_ = os.Setenv(testutil.PostgresEnv, srv.URL("postgres"))
	}
	testutil.Main(m)
}

// Tag upserts a keyword search attribute and returns the namespace it ran in.
func Tag(ctx workflow.Context, customer string) (string, error) {
	key := temporal.NewSearchAttributeKeyKeyword("CustomerId")
	if err := workflow.UpsertTypedSearchAttributes(ctx, key.ValueSet(customer)); err != nil {
		return "", err
	}
	return workflow.GetInfo(ctx).Namespace, nil
}

// Echo returns its input.
func Echo(_ workflow.Context, s string) (string, error) { return s, nil }

func register(r worker.Registry) {
	r.RegisterWorkflow(Tag)
	r.RegisterWorkflow(Echo)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewClusterWithNamespaceAndSearchAttributes(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithNamespace("orders"), testutil.WithSearchAttributes(map[string]string{"CustomerId": "Keyword"}))
	if c.Namespace() != "orders" {
		t.Fatalf("namespace %q, want orders", c.Namespace())
	}
	c.NewWorker("tq", register)
	ctx := ctxFor(t)
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "tag-1", TaskQueue: "tq"}, Tag, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var ns string
	if err := run.Get(ctx, &ns); err != nil || ns != "orders" {
		t.Fatalf("ran in %q (%v), want orders", ns, err)
	}
	testutil.WaitFor(t, 15*time.Second, "visibility lists the workflow by CustomerId", func() error {
		resp, err := c.Client().ListWorkflow(ctx, listRequest(c.Namespace(), `CustomerId = "acme"`))
		if err != nil {
			return err
		}
		if len(resp.Executions) != 1 || resp.Executions[0].Execution.WorkflowId != "tag-1" {
			return errors.New("not listed yet")
		}
		return nil
	})
}

// TestSharedNamespacesAreIsolated runs the same workflow ID in two
// namespaces of the shared cluster at once: neither sees the other's.
func TestSharedNamespacesAreIsolated(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := testutil.NewNamespace(t)
			ns.NewWorker("tq", register)
			ctx := ctxFor(t)
			run, err := ns.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "same-id", TaskQueue: "tq"}, Echo, name)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if err := run.Get(ctx, &got); err != nil || got != name {
				t.Fatalf("got %q (%v), want %q", got, err, name)
			}
			testutil.WaitFor(t, 15*time.Second, "visibility lists exactly this namespace's workflow", func() error {
				resp, err := ns.Client().ListWorkflow(ctx, listRequest(ns.Name(), ""))
				if err != nil {
					return err
				}
				if len(resp.Executions) != 1 {
					return errors.New("want exactly one execution, got " + strconv.Itoa(len(resp.Executions)))
				}
				return nil
			})
			if !strings.HasPrefix(ns.Name(), "TestSharedNamespacesAreIsolated-"+name+"-") {
				t.Errorf("namespace name %q does not name the test", ns.Name())
			}
		})
	}
}

func TestSharedNamespaceSearchAttributes(t *testing.T) {
	t.Parallel()
	ns := testutil.NewNamespace(t, testutil.WithSearchAttributes(map[string]string{"CustomerId": "keyword"}))
	ns.NewWorker("tq", register)
	ctx := ctxFor(t)
	run, err := ns.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tq"}, Tag, "initech")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSetDynamicConfig(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithDynamicConfig("limit.maxIDLength", 100))
	c.NewWorker("tq", register)
	ctx := ctxFor(t)
	longID := strings.Repeat("x", 50)
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: longID, TaskQueue: "tq"}, Echo, "ok")
	if err != nil {
		t.Fatalf("a 50-character ID is within the limit of 100: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c.SetDynamicConfig("limit.maxIDLength", 20)
	testutil.WaitFor(t, 15*time.Second, "a 50-character workflow ID is refused", func() error {
		_, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: longID + "-2", TaskQueue: "tq"}, Echo, "no")
		var invalid *serviceerror.InvalidArgument
		if errors.As(err, &invalid) {
			return nil
		}
		return errors.New("start was not refused: " + errString(err))
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestMTLSCluster(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithMTLS())
	if c.ClientOptions().ConnectionOptions.TLS == nil {
		t.Fatal("ClientOptions carry no TLS config")
	}
	c.NewWorker("tq", register)
	ctx := ctxFor(t)
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tq"}, Echo, "secure")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "secure" {
		t.Fatalf("got %q, %v", got, err)
	}
	// A plaintext client is refused.
	plain, err := client.Dial(client.Options{HostPort: c.Address(), Namespace: c.Namespace()})
	if err == nil {
		_, err = plain.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
		plain.Close()
	}
	if err == nil {
		t.Fatal("a plaintext client reached an mTLS cluster")
	}
}

func TestAuthCluster(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithAuth())
	c.NewWorker("tq", register) // the admin token of Client()
	ctx := ctxFor(t)
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tq"}, Echo, "authorized")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	opts := c.ClientOptions()
	opts.Credentials = client.NewAPIKeyStaticCredentials(c.Token("read"))
	reader, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tq"}, Echo, "no"); err == nil {
		t.Fatal("a read token started a workflow")
	}
}

// TestOwnClustersAreIsolated: two NewCluster clusters in one test binary
// each have their own database: the same workflow ID runs in both, and each
// lists only its own.
func TestOwnClustersAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	for i, c := range []*testutil.Cluster{testutil.NewCluster(t), testutil.NewCluster(t)} {
		c.NewWorker("iso", register)
		run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "same-id", TaskQueue: "iso"}, Echo, fmt.Sprint(i))
		if err != nil {
			t.Fatalf("cluster %d: start same-id: %v", i, err)
		}
		var got string
		if err := run.Get(ctx, &got); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("cluster %d: %q, %v", i, got, err)
		}
		testutil.WaitFor(t, 15*time.Second, fmt.Sprintf("cluster %d lists exactly its own run", i), func() error {
			resp, err := c.Client().ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: c.Namespace()})
			if err != nil {
				return err
			}
			if n := len(resp.GetExecutions()); n != 1 || resp.GetExecutions()[0].GetExecution().GetRunId() != run.GetRunID() {
				return fmt.Errorf("%d executions listed", n)
			}
			return nil
		})
	}
}

// TestWithProfile composes a built-in profile on top of test: ci turns
// JSON logs and a metrics listener on.
func TestWithProfile(t *testing.T) {
	t.Parallel()
	cfg, err := testutil.Config(testutil.WithProfile("ci"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Format != "json" || cfg.Metrics.Address == "" {
		t.Fatalf("with the ci profile: log format %q, metrics %q; want json and a listener", cfg.Log.Format, cfg.Metrics.Address)
	}
	if _, err := testutil.Config(testutil.WithProfile("no-such-profile")); err == nil || !strings.Contains(err.Error(), "no-such-profile") {
		t.Fatalf("unknown profile: %v; want an error naming it", err)
	}
}
