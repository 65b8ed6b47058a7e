package bootstrap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

// startClusters starts cfg's clusters and stops them at cleanup.
func startClusters(t testing.TB, cfg profiles.Config) *bootstrap.Clusters {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := bootstrap.StartClusters(ctx, cfg, bootstrap.WithLogger(testutil.Logger(t, slog.LevelInfo)))
	if err != nil {
		t.Fatalf("start clusters: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Errorf("stop clusters: %v", err)
		}
	})
	return g
}

// workflowStatus is the status of a workflow as one cluster sees it.
func workflowStatus(ctx context.Context, cl client.Client, id string) (enumspb.WorkflowExecutionStatus, error) {
	d, err := cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return 0, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus(), nil
}

func waitStatus(t testing.TB, cl client.Client, cluster, id string, want enumspb.WorkflowExecutionStatus) time.Duration {
	t.Helper()
	began := time.Now()
	testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("workflow %s %s on cluster %s", id, want, cluster), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		got, err := workflowStatus(ctx, cl, id)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("status %s", got)
		}
		return nil
	})
	return time.Since(began)
}

// signalWorker starts a worker for WaitForSignal on task queue "q" of cl;
// the caller stops it.
func signalWorker(t testing.TB, cl client.Client) worker.Worker {
	t.Helper()
	w := worker.New(cl, "q", worker.Options{})
	w.RegisterWorkflow(WaitForSignal)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

func clustersConfig(names ...string) profiles.Config {
	cfg := testConfig()
	cfg.Log.Level = "warn"
	cfg.Clusters = names
	return cfg
}

// TestClustersReplicateAndFailOver runs the round trip of issue 22 through
// each cluster's own frontend: a workflow started on a (waiting for a
// signal) appears on b; the namespace fails over to b through b's
// frontend; the signal sent through b reaches it and a worker on b
// completes it; a sees it completed. Then the namespace fails back to a,
// and a namespace registered while the clusters run replicates too.
func TestClustersReplicateAndFailOver(t *testing.T) {
	t.Parallel()
	g := startClusters(t, clustersConfig("a", "b"))
	a, b := g.Get("a"), g.Get("b")
	if a.FrontendAddr() == b.FrontendAddr() {
		t.Fatalf("both clusters on %s", a.FrontendAddr())
	}
	ns := profiles.DefaultNamespace
	ca, cb := dial(t, a, ns), dial(t, b, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, c := range []client.Client{ca, cb} {
		d, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		if !d.GetIsGlobalNamespace() || d.GetReplicationConfig().GetActiveClusterName() != "a" || len(d.GetReplicationConfig().GetClusters()) != 2 {
			t.Fatalf("namespace %s: global %v, replication %v; want global, active on a, both clusters", ns, d.GetIsGlobalNamespace(), d.GetReplicationConfig())
		}
		if d.GetNamespaceInfo().GetId() != g.NamespaceID(ns) {
			t.Fatalf("namespace %s has ID %s, want %s", ns, d.GetNamespaceInfo().GetId(), g.NamespaceID(ns))
		}
	}

	// A workflow started on a appears on b.
	wa := signalWorker(t, ca)
	defer wa.Stop()
	run, err := ca.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-1", TaskQueue: "q"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	took := waitStatus(t, cb, "b", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	t.Logf("replication a -> b of a started workflow: %s", took)

	// Through b, before the failover, the namespace is standby there.
	err = cb.SignalWorkflow(ctx, run.GetID(), "", signalGo, "early")
	var notActive *serviceerror.NamespaceNotActive
	if !errors.As(err, &notActive) {
		t.Fatalf("signal through b before the failover: %v, want NamespaceNotActive", err)
	}

	wa.Stop()
	took, err = g.Failover(ctx, ns, "b")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover to b: %s", took)

	wb := signalWorker(t, cb)
	defer wb.Stop()
	if err := cb.SignalWorkflow(ctx, run.GetID(), "", signalGo, "from b"); err != nil {
		t.Fatalf("signal through b: %v", err)
	}
	var result string
	if err := cb.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &result); err != nil {
		t.Fatalf("result through b: %v", err)
	}
	if result != "got from b" {
		t.Fatalf("result %q, want %q", result, "got from b")
	}
	took = waitStatus(t, ca, "a", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	t.Logf("replication b -> a of the completion: %s", took)

	// And back to a: a workflow started there completes there.
	wb.Stop()
	if _, err := g.Failover(ctx, ns, "a"); err != nil {
		t.Fatal(err)
	}
	wa2 := signalWorker(t, ca)
	defer wa2.Stop()
	run2, err := ca.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-2", TaskQueue: "q"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.SignalWorkflow(ctx, run2.GetID(), "", signalGo, "from a"); err != nil {
		t.Fatal(err)
	}
	if err := run2.Get(ctx, &result); err != nil || result != "got from a" {
		t.Fatalf("second workflow: %q, %v", result, err)
	}
	waitStatus(t, cb, "b", run2.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)

	// A namespace added after start is global and replicated too.
	if err := g.RegisterNamespace(ctx, "added", 0); err != nil {
		t.Fatal(err)
	}
	cbAdded := dial(t, b, "added")
	d, err := cbAdded.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "added"})
	if err != nil || !d.GetIsGlobalNamespace() || d.GetReplicationConfig().GetActiveClusterName() != "a" {
		t.Fatalf("namespace added on b: %v, %v", d, err)
	}
	caAdded := dial(t, a, "added")
	run3, err := caAdded.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-3", TaskQueue: "q"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cbAdded, "b", run3.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
}

// TestClustersWaitReady: WaitReady against the first cluster covers every
// cluster of the group.
func TestClustersWaitReady(t *testing.T) {
	t.Parallel()
	cfg := clustersConfig("east", "west", "north")
	cfg.Metrics.Address = "127.0.0.1:0"
	g := startClusters(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range g.Names() {
		if err := clientconn.WaitReady(ctx, g.Get(name).FrontendAddr(), []string{profiles.DefaultNamespace}, nil, "", bootstrap.SettleAfterAgree); err != nil {
			t.Fatalf("wait ready at %s: %v", name, err)
		}
		resp, err := http.Get("http://" + g.Get(name).MetricsAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /readyz: %s", name, resp.Status)
		}
	}
	if got := strings.Join(g.Names(), ","); got != "east,west,north" {
		t.Fatalf("names %s", got)
	}
}

// TestClustersRefuseFiles: with clusters, a database file of a single
// cluster is refused before anything starts, and so is a group whose
// files are partly there.
func TestClustersRefuseFiles(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	dir := t.TempDir()
	single := filepath.Join(dir, "single.db")
	cfg := testConfig()
	cfg.Persistence.File = single
	c := startCluster(t, cfg)
	stopCluster(t, c)

	tests := []struct {
		name  string
		setup func(t *testing.T) profiles.Config
		want  string
	}{
		{"the single cluster's file", func(t *testing.T) profiles.Config {
			cfg := clustersConfig("a", "b")
			cfg.Persistence.File = single
			return cfg
		}, "is a single cluster's database"},
		{"a single cluster's file under a cluster's name", func(t *testing.T) profiles.Config {
			d := t.TempDir()
			copyFile(t, single, filepath.Join(d, "dev.a.db"))
			cfg := clustersConfig("a", "b")
			cfg.Persistence.File = filepath.Join(d, "dev.db")
			return cfg
		}, `belongs to cluster active, not "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.setup(t)
			_, err := bootstrap.StartClusters(context.Background(), cfg, bootstrap.WithLogger(testutil.Logger(t, slog.LevelInfo)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartClusters = %v, want an error containing %q", err, tc.want)
			}
			if len(profiles.FieldErrors(err)) == 0 {
				t.Fatalf("error %v is not a config error", err)
			}
		})
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClustersFileRestart: clusters on files keep their namespaces, their
// connection and their workflows across a restart, on new ports, and a
// group whose files are partly gone is refused.
func TestClustersFileRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := clustersConfig("a", "b")
	cfg.Persistence.File = filepath.Join(dir, "dev.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	g := startClusters(t, cfg)
	id := g.NamespaceID(profiles.DefaultNamespace)
	ca := dial(t, g.Get("a"), profiles.DefaultNamespace)
	run, err := ca.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "q"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, dial(t, g.Get("b"), profiles.DefaultNamespace), "b", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	ca.Close()
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"dev.a.db", "dev.b.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("database file: %v", err)
		}
	}

	g2 := startClusters(t, cfg)
	a2, b2 := dial(t, g2.Get("a"), profiles.DefaultNamespace), dial(t, g2.Get("b"), profiles.DefaultNamespace)
	for _, cl := range []client.Client{a2, b2} {
		d, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: profiles.DefaultNamespace})
		if err != nil || d.GetNamespaceInfo().GetId() != id {
			t.Fatalf("namespace after restart: %v, %v; want ID %s", d.GetNamespaceInfo(), err, id)
		}
	}
	waitStatus(t, b2, "b", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	w := signalWorker(t, a2)
	defer w.Stop()
	if err := a2.SignalWorkflow(ctx, run.GetID(), "", signalGo, "after restart"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b2, "b", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	w.Stop()
	if err := g2.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, "dev.b.db")); err != nil {
		t.Fatal(err)
	}
	_, err = bootstrap.StartClusters(ctx, cfg, bootstrap.WithLogger(testutil.Logger(t, slog.LevelInfo)))
	if err == nil || !strings.Contains(err.Error(), "cannot be made anew alone") {
		t.Fatalf("StartClusters with dev.b.db gone = %v, want a refusal", err)
	}
}

// BenchmarkFailoverToProgress: from a failover request to the completion,
// through the new active cluster, of a workflow that waited there for a
// signal (replicated from the old active one), with workers polling both
// clusters all along, as both regions' do; the namespace fails over back
// and forth. make bench runs it.
func BenchmarkFailoverToProgress(b *testing.B) {
	g := startClusters(b, clustersConfig("a", "b"))
	ns := profiles.DefaultNamespace
	clients := map[string]client.Client{"a": dial(b, g.Get("a"), ns), "b": dial(b, g.Get("b"), ns)}
	for _, c := range clients {
		w := signalWorker(b, c)
		defer w.Stop()
	}
	ctx := context.Background()
	active, other := "a", "b"
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprintf("failover-%d", i)
		if _, err := clients[active].ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "q"}, WaitForSignal); err != nil {
			b.Fatal(err)
		}
		waitStatus(b, clients[other], other, id, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
		b.StartTimer()
		if _, err := g.Failover(ctx, ns, other); err != nil {
			b.Fatal(err)
		}
		if err := clients[other].SignalWorkflow(ctx, id, "", signalGo, "x"); err != nil {
			b.Fatal(err)
		}
		if err := clients[other].GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
			b.Fatal(err)
		}
		active, other = other, active
	}
}
