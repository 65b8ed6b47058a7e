package bootstrap_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/faults"
)

// TestFaultsFromConfig: rules in the config's faults section are in force
// for the whole run, drawn from faults.seed; a bad one stops the start
// with a line naming faults.rules and the rule.
func TestFaultsFromConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Faults.Seed = 9
	cfg.Faults.Rules = []map[string]any{{"name": "no-signals", "frontend": map[string]any{"method": "SignalWorkflowExecution"}, "status": "Unavailable"}}
	c := startCluster(t, cfg)
	if got := c.Faults().Seed(); got != 9 {
		t.Errorf("seed %d, want faults.seed 9", got)
	}
	conn, err := grpc.NewClient(c.FrontendAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	ctx := context.Background()
	if _, err := wf.StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{Namespace: "default", WorkflowId: "w",
		RequestId: "r", WorkflowType: &commonpb.WorkflowType{Name: "W"}, TaskQueue: &taskqueuepb.TaskQueue{Name: "q"}}); err != nil {
		t.Fatalf("a start, which no rule names: %v", err)
	}
	_, err = wf.SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{Namespace: "default", SignalName: "s",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "w"}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `rule "no-signals"`) {
		t.Errorf("a signal under rule no-signals: %v", err)
	}

	// This cluster's stores take no rules (no faults.persistence, file or
	// rules): a persistence rule added later is refused, saying so.
	plain := startCluster(t, testConfig())
	_, err = plain.InjectFaults(ctx, "test", []faults.Rule{{Name: "p", Persistence: &faults.StoreMethod{Store: "*", Method: "*"}, Error: "Timeout"}})
	if err == nil || !strings.Contains(err.Error(), `rule "p": this cluster's data stores take no fault rules: start it with faults.persistence`) {
		t.Errorf("a persistence rule on a cluster without persistence faults: %v", err)
	}

	bad := testConfig()
	bad.Faults.Rules = []map[string]any{{"name": "x", "persistence": map[string]any{"store": "ExecutionStore", "method": "*"}, "error": "Oops"}}
	err = startRefused(t, bad)
	if !errors.Is(err, faults.ErrFaults) || !strings.Contains(err.Error(), `faults.rules: rule "x": error "Oops" is not a persistence error kind`) {
		t.Errorf("a bad rule in the config: %v", err)
	}
}
