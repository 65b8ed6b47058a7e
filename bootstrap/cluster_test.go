package bootstrap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

func TestGraph(t *testing.T) {
	t.Parallel()
	if err := fx.ValidateApp(bootstrap.Options(testConfig(), bootstrap.WithLogger(testLogger(t)))...); err != nil {
		t.Fatal(err)
	}
}

// dial returns an SDK client closed at cleanup.
func dial(t testing.TB, c *bootstrap.Cluster, namespace string) client.Client {
	t.Helper()
	cl, err := client.Dial(c.ClientOptions(namespace))
	if err != nil {
		t.Fatalf("dial %s: %v", c.FrontendAddr(), err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runWorker starts a worker with the test workflows, stopped at cleanup
// (before the cluster, since cleanups run last-in first-out).
func runWorker(t testing.TB, cl client.Client, taskQueue string) {
	t.Helper()
	w := worker.New(cl, taskQueue, worker.Options{})
	w.RegisterWorkflow(ParentWorkflow)
	w.RegisterWorkflow(ChildWorkflow)
	w.RegisterWorkflow(WaitForSignal)
	w.RegisterActivity(Greet)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
}

func TestWorkflowEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{
		Name:             "orders",
		Retention:        48 * time.Hour,
		SearchAttributes: map[string]string{"CustomerId": "Keyword", "Amount": "int"},
	})
	c := startCluster(t, cfg)
	cl := dial(t, c, "orders")
	runWorker(t, cl, "tq")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The search attributes were registered before the cluster said ready.
	sas, err := cl.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sas.GetCustomAttributes()["CustomerId"]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Fatalf("CustomerId registered as %v, want Keyword (all: %v)", got, sas.GetCustomAttributes())
	}
	desc, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 48*time.Hour {
		t.Fatalf("retention %s, want 48h", got)
	}

	customer := temporal.NewSearchAttributeKeyKeyword("CustomerId")
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "parent-1",
		TaskQueue:             "tq",
		TypedSearchAttributes: temporal.NewSearchAttributes(customer.ValueSet("c-42")),
	}, ParentWorkflow, "devcluster")
	if err != nil {
		t.Fatal(err)
	}

	// Query until the activity has run and the workflow waits for the signal.
	testutil.WaitFor(t, 30*time.Second, "workflow waiting for signal", func() error {
		v, err := cl.QueryWorkflow(ctx, run.GetID(), "", queryState)
		if err != nil {
			return err
		}
		var state string
		if err := v.Get(&state); err != nil {
			return err
		}
		if state != "waiting for signal" {
			return fmt.Errorf("state %q", state)
		}
		return nil
	})
	if err := cl.SignalWorkflow(ctx, run.GetID(), "", signalGo, "now"); err != nil {
		t.Fatal(err)
	}
	var result string
	if err := run.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if want := "hello devcluster/now/42"; result != want {
		t.Fatalf("result %q, want %q", result, want)
	}

	// server.binary-checksum (default "devcluster") is what the workers of
	// this process report as their build ID (the SDK's fallback when a
	// worker sets none), so the SDK did not hash the executable.
	wf, err := cl.DescribeWorkflowExecution(ctx, run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	points := wf.GetWorkflowExecutionInfo().GetAutoResetPoints().GetPoints()
	if len(points) == 0 || points[0].GetBuildId() != cfg.Server.BinaryChecksum {
		t.Fatalf("auto-reset points %v, want the first with build ID %q", points, cfg.Server.BinaryChecksum)
	}

	// Visibility: a list query on the custom keyword finds exactly this run.
	testutil.WaitFor(t, 30*time.Second, "workflow listed by CustomerId", func() error {
		resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "orders",
			Query:     "CustomerId = 'c-42' AND ExecutionStatus = 'Completed'",
		})
		if err != nil {
			return err
		}
		if n := len(resp.GetExecutions()); n != 1 {
			return fmt.Errorf("%d executions listed", n)
		}
		if id := resp.GetExecutions()[0].GetExecution().GetWorkflowId(); id != "parent-1" {
			return fmt.Errorf("listed %q", id)
		}
		return nil
	})
	resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "orders", Query: "CustomerId = 'nobody'"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetExecutions()); n != 0 {
		t.Fatalf("query for another customer listed %d executions", n)
	}
}

// TestStockServerWiring runs a cluster with the server.* keys off (the
// bench's stock column): the system workers are left to the server and the
// SDK keeps its own binary checksum. It must work end to end and stop
// cleanly, only more slowly.
func TestStockServerWiring(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Server = profiles.Server{}
	c := startCluster(t, cfg)
	cl := dial(t, c, "default")
	runWorker(t, cl, "stock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "stock"}, ChildWorkflow, 21)
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if err := run.Get(ctx, &out); err != nil || out != 42 {
		t.Fatalf("workflow: %d, %v; want 42", out, err)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestStopEndsLongPolls: a long poll still open when the cluster stops (a
// worker of the user's that is still running, a client waiting for a
// result) ends at once. The stock server waits for it until the frontend's
// drain time (at least 1 s) runs out, then cuts every call and logs "Drain
// time expired". The stock variant shows that message reaches the logs
// (there the server's own system workers hold the drain too); the default
// variant fails if the interceptor does not end the test's poll (checked by
// disabling it).
func TestStopEndsLongPolls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		server  profiles.Server
		drained bool
	}{
		{"default", profiles.Default().Server, false},
		{"stock", profiles.Server{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Server = tc.server
			cfg.Log.Level = "debug" // the server's info messages too
			logs, withLogs := keptLogs(t, slog.LevelDebug)
			c := startClusterWith(t, cfg, withLogs)
			cl := dial(t, c, "default")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel() // ends the poll's retries against the stopped cluster
			go func() {
				_, _ = cl.WorkflowService().PollActivityTaskQueue(ctx, &workflowservice.PollActivityTaskQueueRequest{
					Namespace: "default", TaskQueue: &taskqueuepb.TaskQueue{Name: "long-poll"}, Identity: "open-poll",
				})
			}()
			testutil.WaitFor(t, 30*time.Second, "the poll is open", func() error {
				d, err := cl.DescribeTaskQueue(ctx, "long-poll", enumspb.TASK_QUEUE_TYPE_ACTIVITY)
				if err != nil {
					return err
				}
				for _, p := range d.GetPollers() {
					if p.GetIdentity() == "open-poll" {
						return nil
					}
				}
				return errors.New("no poller yet")
			})
			stopCluster(t, c)
			if drained := strings.Contains(logs.String(), "Drain time expired"); drained != tc.drained {
				t.Errorf("frontend drain time ran out: %v, want %v", drained, tc.drained)
			}
		})
	}
}

func TestFileModeSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Persistence.File = filepath.Join(t.TempDir(), "dev.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// First life: one workflow completes, one waits for a signal.
	first := startCluster(t, cfg)
	cl := dial(t, first, "default")
	w := worker.New(cl, "tq", worker.Options{})
	w.RegisterWorkflow(WaitForSignal)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	done, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "done", TaskQueue: "tq"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SignalWorkflow(ctx, "done", "", signalGo, "first"); err != nil {
		t.Fatal(err)
	}
	if err := done.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "waiting", TaskQueue: "tq"}, WaitForSignal); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	cl.Close()
	stopCluster(t, first)

	// Second life on the same file, with a search attribute the first
	// start did not have.
	cfg.Namespaces[0].SearchAttributes = map[string]string{"Region": "Keyword"}
	second := startCluster(t, cfg)
	cl2 := dial(t, second, "default")
	runWorker(t, cl2, "tq")

	hist := cl2.GetWorkflowHistory(ctx, "done", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for hist.HasNext() {
		if _, err := hist.Next(); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if events < 5 {
		t.Fatalf("history of the completed workflow has %d events after restart", events)
	}
	if err := cl2.SignalWorkflow(ctx, "waiting", "", signalGo, "second"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := cl2.GetWorkflow(ctx, "waiting", "").Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "got second" {
		t.Fatalf("waiting workflow returned %q", got)
	}
	sas, err := cl2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sas.GetCustomAttributes()["Region"]; !ok {
		t.Fatalf("search attribute given on the second start is missing: %v", sas.GetCustomAttributes())
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("binds ports and opens databases")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })
	busyPort := busy.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	foreign := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(foreign, []byte("this is not a database, it is a text file of some length\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		mutate  func(*profiles.Config)
		wantIs  error
		wantMsg string
	}{
		{"port in use", func(c *profiles.Config) { c.Services.History.GRPCPort = busyPort }, profiles.ErrPortInUse,
			fmt.Sprintf("services.history.grpc-port: %d is already in use", busyPort)},
		{"foreign db file", func(c *profiles.Config) { c.Persistence.File = foreign }, nil,
			"persistence.file: " + foreign + " is not an SQLite database"},
		{"db in missing dir", func(c *profiles.Config) { c.Persistence.File = filepath.Join(dir, "nope", "x.db") }, nil,
			"does not exist; create it first"},
		{"unknown dynamic config key", func(c *profiles.Config) { c.DynamicConfig.Values = map[string]any{"limit.maxIDLenght": 10} }, bootstrap.ErrUnknownDynamicConfigKey,
			"did you mean limit.maxIDLength"},
		{"wrong dynamic config type", func(c *profiles.Config) { c.DynamicConfig.Values = map[string]any{"limit.maxIDLength": "long"} }, bootstrap.ErrBadDynamicConfigValue,
			"limit.maxIDLength"},
		// The server's loader takes -1 (an int), and a service then stops.
		{"negative dynamic config value", func(c *profiles.Config) { c.DynamicConfig.Values = map[string]any{"limit.maxIDLength": -1} }, bootstrap.ErrBadDynamicConfigValue,
			"limit.maxIDLength = -1 is negative; use 0 or more (default 1000)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			tc.mutate(&cfg)
			err := startRefused(t, cfg)
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
	// A refused foreign file is left as it was.
	if b, _ := os.ReadFile(foreign); !strings.HasPrefix(string(b), "this is not a database") {
		t.Fatalf("foreign file was modified: %q", b)
	}
}

// TestStartNormalizes: a Go caller's config without the "default"
// namespace (which profiles.Load adds) and with a relative database path
// under data-dir starts as the same config loaded from a file would.
func TestStartNormalizes(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Namespaces = []profiles.Namespace{{Name: "orders"}}
	cfg.DataDir = t.TempDir()
	cfg.Persistence.File = "dev.db"
	c := startCluster(t, cfg)
	if got := c.Namespaces(); len(got) != 2 || got[0] != profiles.DefaultNamespace || got[1] != "orders" {
		t.Errorf("namespaces %v, want [default orders]", got)
	}
	if got, want := c.Config().Persistence.File, filepath.Join(cfg.DataDir, "dev.db"); got != want {
		t.Errorf("database file %q, want %q", got, want)
	}
	if got := c.Config().Namespaces[1].Retention; got != profiles.DefaultRetention {
		t.Errorf("retention of a namespace that names none: %s, want %s", got, profiles.DefaultRetention)
	}
	dial(t, c, "orders")
}

// TestStartInterruptedLeavesNothingRunning: a start whose context ends
// while the server is starting returns an error only once everything it
// started has stopped: the frontend's port is free again at once.
func TestStartInterruptedLeavesNothingRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cfg := testConfig()
		cfg.Services.Frontend.GRPCPort = port
		cfg.Services.Frontend.HTTPPort = -1
		cfg.UI.Enabled = false
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

		ctx, cancel := context.WithCancel(context.Background())
		type result struct {
			c   *bootstrap.Cluster
			err error
		}
		res := make(chan result, 1)
		go func() {
			c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(testLogger(t)))
			res <- result{c, err}
		}()
		// Interrupt once the frontend listens: the server is starting.
		var r result
		got := false
		for !got {
			if conn, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
				_ = conn.Close()
				cancel()
				break
			}
			select {
			case r = <-res:
				got = true
			case <-time.After(2 * time.Millisecond):
			}
		}
		if !got {
			r = <-res
		}
		cancel()
		if r.err == nil {
			// Ready before the interrupt landed: try again.
			stopCluster(t, r.c)
			if attempt == 5 {
				t.Fatal("the start was never interrupted while the server was starting")
			}
			continue
		}
		if l, err := net.Listen("tcp", addr); err != nil {
			t.Fatalf("the frontend's port is still bound after Start returned %v: %v", r.err, err)
		} else {
			_ = l.Close()
		}
		return
	}
}
