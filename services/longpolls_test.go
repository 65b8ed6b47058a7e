package services

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

func info(method string) *grpc.UnaryServerInfo {
	return &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/" + method}
}

// waitCancel is a long poll's handler: it returns what the server would
// when its context is cancelled: an empty answer, or with a task when
// handed one meanwhile.
func waitCancel(started chan<- struct{}, resp any) grpc.UnaryHandler {
	return func(ctx context.Context, _ any) (any, error) {
		close(started)
		<-ctx.Done()
		return resp, nil
	}
}

func isUnavailable(err error) bool {
	var u *serviceerror.Unavailable
	return errors.As(err, &u)
}

// TestLongPolls: a stop cancels the long polls in flight, which answer
// Unavailable unless they got a task; later long polls answer Unavailable
// without reaching the server; other calls run as they are, ShutdownWorker
// with a deadline once stopping.
func TestLongPolls(t *testing.T) {
	t.Parallel()
	l := newLongPolls()

	// A poll that ends by itself before the stop is forgotten.
	_, _ = l.intercept(context.Background(), &workflowservice.PollActivityTaskQueueRequest{}, info("PollActivityTaskQueue"),
		func(context.Context, any) (any, error) { return &workflowservice.PollActivityTaskQueueResponse{}, nil })
	if n := len(l.cancels); n != 0 {
		t.Fatalf("%d polls tracked after they ended", n)
	}
	_, _ = l.intercept(context.Background(), &workflowservice.ShutdownWorkerRequest{}, info("ShutdownWorker"),
		func(ctx context.Context, _ any) (any, error) {
			if _, ok := ctx.Deadline(); ok {
				t.Error("ShutdownWorker has a deadline before the stop")
			}
			return nil, nil
		})

	type result struct {
		resp any
		err  error
	}
	inFlight := []struct {
		name   string
		method string
		req    any
		resp   any // what the server answers on cancel
		keep   bool
	}{
		{"empty task poll", "PollWorkflowTaskQueue", &workflowservice.PollWorkflowTaskQueueRequest{}, &workflowservice.PollWorkflowTaskQueueResponse{}, false},
		{"task handed out", "PollActivityTaskQueue", &workflowservice.PollActivityTaskQueueRequest{},
			&workflowservice.PollActivityTaskQueueResponse{TaskToken: []byte("t")}, true},
		{"history wait", "GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{WaitNewEvent: true},
			&workflowservice.GetWorkflowExecutionHistoryResponse{}, true},
	}
	ended := make([]chan result, len(inFlight))
	for i, c := range inFlight {
		started := make(chan struct{})
		ended[i] = make(chan result, 1)
		go func() {
			resp, err := l.intercept(context.Background(), c.req, info(c.method), waitCancel(started, c.resp))
			ended[i] <- result{resp, err}
		}()
		<-started
	}
	l.stop()
	for i, c := range inFlight {
		r := <-ended[i]
		if c.keep && (r.err != nil || r.resp != c.resp) {
			t.Errorf("%s: got %v, %v; want the server's answer", c.name, r.resp, r.err)
		}
		if !c.keep && !isUnavailable(r.err) {
			t.Errorf("%s: got %v, %v; want Unavailable", c.name, r.resp, r.err)
		}
	}
	if n := len(l.cancels); n != 0 {
		t.Errorf("%d polls tracked after they ended", n)
	}

	after := []struct {
		method string
		req    any
		cut    bool // answered Unavailable without reaching the server
	}{
		{"PollWorkflowTaskQueue", &workflowservice.PollWorkflowTaskQueueRequest{}, true},
		{"PollWorkflowExecutionUpdate", &workflowservice.PollWorkflowExecutionUpdateRequest{}, true},
		{"GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{WaitNewEvent: true}, true},
		{"DescribeActivityExecution", &workflowservice.DescribeActivityExecutionRequest{LongPollToken: []byte("x")}, true},
		{"DescribeActivityExecution", &workflowservice.DescribeActivityExecutionRequest{}, false},
		{"GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{}, false},
		{"StartWorkflowExecution", &workflowservice.StartWorkflowExecutionRequest{}, false},
	}
	for _, c := range after {
		reached := false
		_, err := l.intercept(context.Background(), c.req, info(c.method), func(ctx context.Context, _ any) (any, error) {
			reached = true
			if ctx.Err() != nil {
				t.Errorf("%s %v after the stop: reached the server with a done context", c.method, c.req)
			}
			return nil, nil
		})
		if cut := !reached && isUnavailable(err); cut != c.cut {
			t.Errorf("%s %v after the stop: cut %v (err %v), want %v", c.method, c.req, cut, err, c.cut)
		}
	}
	_, _ = l.intercept(context.Background(), &workflowservice.ShutdownWorkerRequest{}, info("ShutdownWorker"),
		func(ctx context.Context, _ any) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("ShutdownWorker has no deadline after the stop")
			}
			return nil, nil
		})
}
