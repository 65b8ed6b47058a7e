package testutil_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/faults"
	"github.com/devcluster/devcluster/testutil"
)

// Triple is an activity; TripleWorkflow runs it once.
func Triple(_ context.Context, n int) (int, error) { return 3 * n, nil }

func TripleWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out int
	err := workflow.ExecuteActivity(ctx, Triple, n).Get(ctx, &out)
	return out, err
}

func registerTriple(r worker.Registry) {
	r.RegisterWorkflow(TripleWorkflow)
	r.RegisterActivity(Triple)
}

// runTriples runs n TripleWorkflows through cl and checks every result.
func runTriples(t *testing.T, cl client.Client, prefix string, n int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	runs := make([]client.WorkflowRun, n)
	for i := range runs {
		var err error
		if runs[i], err = cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: "faults"}, TripleWorkflow, i); err != nil {
			t.Fatalf("start %s-%d: %v (%T)", prefix, i, err, err)
		}
	}
	for i, r := range runs {
		var got int
		if err := r.Get(ctx, &got); err != nil || got != 3*i {
			t.Fatalf("%s: %d, %v; want %d", r.GetID(), got, err, 3*i)
		}
	}
}

// TestFaultsFrontendShedsOneNamespace: a frontend rule answering
// ResourceExhausted on StartWorkflowExecution for one namespace refuses
// its starts (naming the rule) while another namespace on the same
// cluster starts as usual; once removed, the namespace starts again.
func TestFaultsFrontendShedsOneNamespace(t *testing.T) {
	t.Parallel()
	shed, other := testutil.NewNamespace(t), testutil.NewNamespace(t)
	for _, ns := range []*testutil.Namespace{shed, other} {
		ns.NewWorker("faults", registerTriple)
	}
	remove := shed.InjectFaults(faults.Rule{Name: "shed", Frontend: &faults.FrontendAt{Method: "StartWorkflowExecution"}, Status: "ResourceExhausted"})

	// The SDK retries ResourceExhausted until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := shed.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "faults"}, TripleWorkflow, 1); err == nil {
		t.Fatal("a start in the shed namespace succeeded")
	}
	// A plain gRPC call sees the answer itself.
	conn, err := grpc.NewClient(shed.Address(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, err = workflowservice.NewWorkflowServiceClient(conn).StartWorkflowExecution(context.Background(), &workflowservice.StartWorkflowExecutionRequest{
		Namespace: shed.Name(), WorkflowId: "raw", WorkflowType: &commonpb.WorkflowType{Name: "TripleWorkflow"},
		TaskQueue: &taskqueuepb.TaskQueue{Name: "faults"}, RequestId: "raw"})
	if grpcstatus.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `devcluster fault rule "shed"`) {
		t.Fatalf("raw start in the shed namespace: %v; want ResourceExhausted from rule shed", err)
	}
	runTriples(t, other.Client(), "other", 3, 30*time.Second)
	if got := shed.FaultsInjected("shed"); got < 1 {
		t.Errorf("rule shed injected %d faults, want at least 1", got)
	}

	remove()
	runTriples(t, shed.Client(), "after", 3, 30*time.Second)
}

// TestFaultsPersistenceTimeouts: under persistence timeouts on 2% of a
// namespace's ExecutionStore writes, its workflows with activities all
// complete (the server retries); a namespace whose every ExecutionStore
// call fails leaves another namespace's workflows alone. Each on a cluster
// of its own: persistence faults act on the history shard, which the
// shared cluster's namespaces share.
func TestFaultsPersistenceTimeouts(t *testing.T) {
	t.Parallel()
	rate := 0.02
	flaky := testutil.NewCluster(t, testutil.WithFaults(faults.Rule{Name: "flaky-db", Namespace: "default",
		Persistence: &faults.StoreMethod{Store: "ExecutionStore", Method: "UpdateWorkflowExecution"}, Error: "Timeout", Rate: &rate}))
	flaky.NewWorker("faults", registerTriple)
	runTriples(t, flaky.Client(), "flaky", 200, 3*time.Minute)
	if got := flaky.FaultsInjected("flaky-db"); got < 1 {
		t.Errorf("rule flaky-db injected %d faults over 200 workflows, want some", got)
	}

	c := testutil.NewCluster(t, testutil.WithNamespace("up"), testutil.WithFaults())
	c.NewWorker("faults", registerTriple)
	c.InjectFaults(faults.Rule{Name: "down", Namespace: "default", Persistence: &faults.StoreMethod{Store: "ExecutionStore", Method: "*"}, Error: "Unavailable"})
	opts := c.ClientOptions()
	opts.Namespace = "default"
	down, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := down.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "faults"}, TripleWorkflow, 1); err == nil {
		t.Errorf("a start in a namespace whose every ExecutionStore call fails succeeded")
	}
	runTriples(t, c.Client(), "up", 3, 30*time.Second)
}

// TestFaultsLatency: a delay on a persistence method shows in the
// workflow's end-to-end time.
func TestFaultsLatency(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithFaults())
	c.NewWorker("faults", registerTriple)
	c.InjectFaults(faults.Rule{Name: "slow", Persistence: &faults.StoreMethod{Store: "ExecutionStore", Method: "UpdateWorkflowExecution"}, Latency: "200ms"})
	began := time.Now()
	runTriples(t, c.Client(), "slow", 1, 30*time.Second)
	// A workflow with one activity updates its execution at least four
	// times (task started, completed; activity scheduled, completed).
	if took := time.Since(began); took < 800*time.Millisecond {
		t.Errorf("a workflow under 200ms per update took %s, want at least 800ms", took)
	}
	if got := c.FaultsInjected("slow"); got < 4 {
		t.Errorf("rule slow delayed %d calls, want at least 4", got)
	}
}

// TestFaultsBadRules: a bad rule is refused with a line naming the rule
// and the fix (the check WithFaults and InjectFaults run).
func TestFaultsBadRules(t *testing.T) {
	t.Parallel()
	if err := testutil.CheckFaults(faults.Rule{Name: "x", Persistence: &faults.StoreMethod{Store: "ExecutionStore", Method: "Nope"}, Error: "Timeout"}); err == nil ||
		!strings.Contains(err.Error(), `rule "x": persistence.method "Nope" is not a method of ExecutionStore`) {
		t.Errorf("got %v", err)
	}
}
