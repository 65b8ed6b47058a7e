package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/testutil"
)

// AwaitGo waits for the signal "go" and returns what it carried.
func AwaitGo(ctx workflow.Context) (string, error) {
	var s string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &s)
	return "got " + s, nil
}

func registerAwait(r worker.Registry) { r.RegisterWorkflow(AwaitGo) }

// status is a workflow's status as one cluster's frontend reports it.
func status(ctx context.Context, cl client.Client, id string) (enumspb.WorkflowExecutionStatus, error) {
	d, err := cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return 0, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus(), nil
}

// waitStatus polls cl until workflow id has status want and returns how
// long that took.
func waitStatus(t testing.TB, cl client.Client, id string, want enumspb.WorkflowExecutionStatus) time.Duration {
	t.Helper()
	began := time.Now()
	deadline := began.Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got, err := status(ctx, cl, id)
		cancel()
		if err == nil && got == want {
			return time.Since(began)
		}
		if err == nil {
			err = fmt.Errorf("workflow %s is %s, want %s", id, got, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after 30s: %v", err)
		}
		<-time.After(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func skipIfShort(t testing.TB) {
	if testing.Short() {
		t.Skip("starts real clusters")
	}
}

// TestNewClustersFailover is issue 22's round trip, with the real SDK
// through each cluster's own frontend: a workflow started on a (waiting
// for a signal) appears on b; the namespace fails over to b; the signal
// sent through b reaches it and a worker on b completes it; the history on
// a catches up. Then back to a, where a new workflow runs and replicates.
func TestNewClustersFailover(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	cs := testutil.NewClusters(t, "a", "b")
	a, b := cs.Get("a"), cs.Get("b")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	wa := worker.New(a.Client(), "await", worker.Options{})
	registerAwait(wa)
	if err := wa.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := a.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "order-1", TaskQueue: "await"}, AwaitGo)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started on a, running on b after %s", waitStatus(t, b.Client(), run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING))

	var notActive *serviceerror.NamespaceNotActive
	if err := b.Client().SignalWorkflow(ctx, run.GetID(), "", "go", "too early"); !errors.As(err, &notActive) {
		t.Fatalf("signal through b while a is active: %v, want NamespaceNotActive", err)
	}

	wa.Stop() // a's worker is gone with a's region
	t.Logf("failover to b: %s", cs.Failover(a.Namespace(), "b"))
	b.NewWorker("await", registerAwait)
	if err := b.Client().SignalWorkflow(ctx, run.GetID(), "", "go", "b"); err != nil {
		t.Fatalf("signal through b: %v", err)
	}
	var got string
	if err := b.Client().GetWorkflow(ctx, run.GetID(), "").Get(ctx, &got); err != nil || got != "got b" {
		t.Fatalf("result through b: %q, %v; want %q", got, err, "got b")
	}
	t.Logf("completed on b, completed on a after %s", waitStatus(t, a.Client(), run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED))

	t.Logf("failover back to a: %s", cs.Failover(a.Namespace(), "a"))
	a.NewWorker("await", registerAwait)
	run2, err := a.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "order-2", TaskQueue: "await"}, AwaitGo)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Client().SignalWorkflow(ctx, run2.GetID(), "", "go", "a"); err != nil {
		t.Fatal(err)
	}
	if err := run2.Get(ctx, &got); err != nil || got != "got a" {
		t.Fatalf("second workflow: %q, %v", got, err)
	}
	waitStatus(t, b.Client(), run2.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
}

// TestNewClustersNamespaceAddedAfterStart: a namespace registered while
// the clusters run is global too, and its workflows replicate.
func TestNewClustersNamespaceAddedAfterStart(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	cs := testutil.NewClustersWith(t, []string{"east", "west"}, testutil.WithNamespace("orders"))
	if got := cs.Names(); !slices.Equal(got, []string{"east", "west"}) {
		t.Fatalf("names %v", got)
	}
	cs.RegisterNamespace("later")
	clientOf := func(name string) client.Client {
		opts := cs.Get(name).ClientOptions()
		opts.Namespace = "later"
		cl, err := client.Dial(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	east, west := clientOf("east"), clientOf("west")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := east.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "later-1", TaskQueue: "await"}, AwaitGo)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, west, run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	cs.Failover("later", "west")
	if err := west.SignalWorkflow(ctx, run.GetID(), "", "go", "west"); err != nil {
		t.Fatalf("signal through west after the failover: %v", err)
	}
	// The configured namespace is global too, and still active on east.
	if _, err := cs.Get("east").Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "orders-1", TaskQueue: "await"}, AwaitGo); err != nil {
		t.Fatalf("start in orders on east: %v", err)
	}
}

// BenchmarkClusters measures, on a pair of clusters, how long a started
// workflow takes to appear on the other cluster (replication) and how long
// a failover takes until both clusters agree, and reports the medians
// (make bench; go test -run '^$' -bench Clusters -benchtime 10x ./testutil/).
func BenchmarkClusters(b *testing.B) {
	cs := testutil.NewClusters(b, "a", "b")
	a, other := cs.Get("a"), cs.Get("b")
	ctx := context.Background()
	var repl, failover []time.Duration
	active := "a"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from, to := a, other
		if active == "b" {
			from, to = other, a
		}
		began := time.Now()
		run, err := from.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-%d", i), TaskQueue: "none"}, AwaitGo)
		if err != nil {
			b.Fatal(err)
		}
		waitStatus(b, to.Client(), run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
		repl = append(repl, time.Since(began))
		next := "b"
		if active == "b" {
			next = "a"
		}
		failover = append(failover, cs.Failover(from.Namespace(), next))
		active = next
	}
	b.StopTimer()
	b.ReportMetric(float64(median(repl).Microseconds())/1000, "replication-median-ms")
	b.ReportMetric(float64(median(failover).Microseconds())/1000, "failover-median-ms")
	b.Logf("replication %v; failover %v", repl, failover)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkNewClusters measures starting a pair of clusters until ready
// (connected, every replication stream synced) and stopping it.
func BenchmarkNewClusters(b *testing.B) {
	var starts, stops []time.Duration
	for i := 0; i < b.N; i++ {
		began := time.Now()
		cs := testutil.NewClusters(b, "a", "b")
		starts = append(starts, time.Since(began))
		began = time.Now()
		if err := cs.Bootstrap().Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, time.Since(began))
	}
	b.ReportMetric(float64(median(starts).Microseconds())/1000, "start-median-ms")
	b.ReportMetric(float64(median(stops).Microseconds())/1000, "stop-median-ms")
}
