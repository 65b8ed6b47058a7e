package services

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/headers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/devcluster/devcluster/profiles"
)

// TestSystemCalls: the interceptor counts the system worker's accepted
// starts (a running workflow counts), ignores other clients, and keeps the
// first call the frontend refused as invalid; a length refusal with
// limit.maxIDLength set names that value.
func TestSystemCalls(t *testing.T) {
	t.Parallel()
	system := metadata.NewIncomingContext(context.Background(), metadata.Pairs(headers.ClientNameHeaderName, headers.ClientNameServer))
	user := metadata.NewIncomingContext(context.Background(), metadata.Pairs(headers.ClientNameHeaderName, "temporal-go"))
	info := &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"}
	w := newSystemCalls()
	call := func(ctx context.Context, id string, answer error) {
		_, err := w.intercept(ctx, &workflowservice.StartWorkflowExecutionRequest{WorkflowId: id}, info,
			func(context.Context, any) (any, error) { return nil, answer })
		if !errors.Is(err, answer) {
			t.Errorf("the interceptor changed the answer %v into %v", answer, err)
		}
	}
	wanted := []string{"a", "b"}
	call(system, "a", nil)
	call(user, "b", nil) // not the system worker's
	if err := w.check(wanted); err == nil || !strings.Contains(err.Error(), "not started yet: b") {
		t.Errorf("check after a only: %v", err)
	}
	call(system, "b", serviceerror.NewWorkflowExecutionAlreadyStarted("running", "", ""))
	if err := w.check(wanted); err != nil {
		t.Errorf("check after both: %v", err)
	}
	call(user, "c", serviceerror.NewInvalidArgument("a user's mistake"))
	if err := w.failure(); err != nil {
		t.Errorf("a user's refused call counted as the system worker's: %v", err)
	}
	refused := serviceerror.NewInvalidArgument("WorkflowId exceeds maximum allowed length (23/20)")
	call(system, "temporal-sys-tq-scanner", refused)
	call(system, "d", serviceerror.NewInvalidArgument("a later one"))
	err := w.check(wanted)
	if !errors.Is(err, ErrSystemWorkflows) || !errors.Is(err, refused) || !strings.Contains(err.Error(), "StartWorkflowExecution of workflow temporal-sys-tq-scanner") {
		t.Fatalf("check after a refusal: %v", err)
	}
	named := namedSetting(err, map[string]any{"limit.maxIDLength": 20, "frontend.namespaceRPS": 5})
	var fe *profiles.FieldError
	if !errors.As(named, &fe) || fe.Key != "dynamic-config.values.limit.maxIDLength" || !strings.Contains(fe.Error(), "default is 1000") {
		t.Errorf("named: %v; want a dynamic-config.values.limit.maxIDLength error", named)
	}
	if got := namedSetting(err, nil); got != err {
		t.Errorf("without the value set: %v; want the refusal as it is", got)
	}
}
