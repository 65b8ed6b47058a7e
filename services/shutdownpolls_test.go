package services

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
)

// TestShutdownPolls: after a worker's ShutdownWorker, a task poll of that
// worker that the server ends with Canceled answers empty; anything else
// passes through as the server answered.
func TestShutdownPolls(t *testing.T) {
	t.Parallel()
	s := newShutdownPolls()
	var sawKey bool
	_, _ = s.intercept(context.Background(), &workflowservice.ShutdownWorkerRequest{WorkerInstanceKey: "stopped"}, info("ShutdownWorker"),
		func(context.Context, any) (any, error) {
			sawKey = s.shutDown("stopped")
			return &workflowservice.ShutdownWorkerResponse{}, nil
		})
	if !sawKey {
		t.Fatal("the worker was not marked shut down before ShutdownWorker ran")
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	task := &workflowservice.PollActivityTaskQueueResponse{TaskToken: []byte("t")}

	for _, tc := range []struct {
		name      string
		ctx       context.Context
		method    string
		req       any
		resp      any
		err       error
		wantEmpty bool
	}{
		{"workflow poll cut by the server", context.Background(), "PollWorkflowTaskQueue",
			&workflowservice.PollWorkflowTaskQueueRequest{WorkerInstanceKey: "stopped"}, nil, serviceerror.NewCanceled("context canceled"), true},
		{"activity poll cut with a bare context error", context.Background(), "PollActivityTaskQueue",
			&workflowservice.PollActivityTaskQueueRequest{WorkerInstanceKey: "stopped"}, nil, context.Canceled, true},
		{"nexus poll cut by the server", context.Background(), "PollNexusTaskQueue",
			&workflowservice.PollNexusTaskQueueRequest{WorkerInstanceKey: "stopped"}, nil, serviceerror.NewCanceled("context canceled"), true},
		{"worker still running", context.Background(), "PollWorkflowTaskQueue",
			&workflowservice.PollWorkflowTaskQueueRequest{WorkerInstanceKey: "running"}, nil, serviceerror.NewCanceled("context canceled"), false},
		{"poll without a worker key", context.Background(), "PollWorkflowTaskQueue",
			&workflowservice.PollWorkflowTaskQueueRequest{}, nil, serviceerror.NewCanceled("context canceled"), false},
		{"caller cancelled its own poll", cancelled, "PollWorkflowTaskQueue",
			&workflowservice.PollWorkflowTaskQueueRequest{WorkerInstanceKey: "stopped"}, nil, serviceerror.NewCanceled("context canceled"), false},
		{"another error", context.Background(), "PollWorkflowTaskQueue",
			&workflowservice.PollWorkflowTaskQueueRequest{WorkerInstanceKey: "stopped"}, nil, serviceerror.NewUnavailable("down"), false},
		{"task handed out", context.Background(), "PollActivityTaskQueue",
			&workflowservice.PollActivityTaskQueueRequest{WorkerInstanceKey: "stopped"}, task, nil, false},
		{"not a task poll", context.Background(), "PollWorkflowExecutionUpdate",
			&workflowservice.PollWorkflowExecutionUpdateRequest{}, nil, serviceerror.NewCanceled("context canceled"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.intercept(tc.ctx, tc.req, info(tc.method), func(context.Context, any) (any, error) { return tc.resp, tc.err })
			if tc.wantEmpty {
				_, empty, _ := emptyPoll(tc.req)
				tok, ok := resp.(interface{ GetTaskToken() []byte })
				if err != nil || reflect.TypeOf(resp) != reflect.TypeOf(empty) || !ok || len(tok.GetTaskToken()) != 0 {
					t.Fatalf("got %v, %v; want an empty %T", resp, err, empty)
				}
				return
			}
			if !errors.Is(err, tc.err) || resp != tc.resp {
				t.Fatalf("got %v, %v; want %v, %v as the server answered", resp, err, tc.resp, tc.err)
			}
		})
	}
}

// TestShutdownPollsForget: a worker stops counting as shut down once no
// poll it had open can still be waiting.
func TestShutdownPollsForget(t *testing.T) {
	t.Parallel()
	s := newShutdownPolls()
	now := time.Now()
	s.add("old", now.Add(-shutdownPollsMemory-time.Second))
	s.add("new", now)
	if s.shutDown("old") || !s.shutDown("new") {
		t.Fatalf("keys kept: %v; want only new", s.keys)
	}
}
