package services

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

func info(method string) *grpc.UnaryServerInfo {
	return &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/" + method}
}

// TestLongPolls: a stop cancels the long polls in flight and ends later
// ones at once; other calls run with their own context, ShutdownWorker
// with a deadline once stopping.
func TestLongPolls(t *testing.T) {
	t.Parallel()
	l := newLongPolls()
	inFlight := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		_, err := l.intercept(context.Background(), &workflowservice.PollActivityTaskQueueRequest{}, info("PollActivityTaskQueue"),
			func(ctx context.Context, _ any) (any, error) {
				close(inFlight)
				<-ctx.Done() // a long poll: until it is cancelled
				return nil, ctx.Err()
			})
		ended <- err
	}()
	<-inFlight

	// Before the stop: no deadline on anything.
	_, _ = l.intercept(context.Background(), &workflowservice.ShutdownWorkerRequest{}, info("ShutdownWorker"),
		func(ctx context.Context, _ any) (any, error) {
			if _, ok := ctx.Deadline(); ok {
				t.Error("ShutdownWorker has a deadline before the stop")
			}
			return nil, nil
		})

	l.stop()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("poll in flight at the stop ended with %v, want context.Canceled", err)
	}

	calls := []struct {
		method string
		req    any
		ended  bool // its context is done on arrival
	}{
		{"PollWorkflowTaskQueue", &workflowservice.PollWorkflowTaskQueueRequest{}, true},
		{"PollWorkflowExecutionUpdate", &workflowservice.PollWorkflowExecutionUpdateRequest{}, true},
		{"GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{WaitNewEvent: true}, true},
		{"GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{}, false},
		{"StartWorkflowExecution", &workflowservice.StartWorkflowExecutionRequest{}, false},
	}
	for _, c := range calls {
		_, _ = l.intercept(context.Background(), c.req, info(c.method), func(ctx context.Context, _ any) (any, error) {
			if done := ctx.Err() != nil; done != c.ended {
				t.Errorf("%s %v after the stop: context done %v, want %v", c.method, c.req, done, c.ended)
			}
			return nil, nil
		})
	}
	_, _ = l.intercept(context.Background(), &workflowservice.ShutdownWorkerRequest{}, info("ShutdownWorker"),
		func(ctx context.Context, _ any) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("ShutdownWorker has no deadline after the stop")
			}
			return nil, nil
		})
	if n := len(l.cancels); n != 0 {
		t.Errorf("%d polls still tracked", n)
	}
}
