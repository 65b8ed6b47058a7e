package container

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Greet runs one activity: a workflow that completes has been through
// the frontend, history, matching and a worker on the host.
func Greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, Hello, name).Get(ctx, &out)
	return out, err
}

func Hello(_ context.Context, name string) (string, error) { return "hello " + name, nil }

// Nap sleeps a day: on a time-skipping cluster it ends at once.
func Nap(ctx workflow.Context) (time.Duration, error) {
	began := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, 24*time.Hour); err != nil {
		return 0, err
	}
	return workflow.Now(ctx).Sub(began), nil
}

func describe(ns string) *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: ns}
}

// runGreet runs Greet through c with a worker on the host and checks
// its answer.
func runGreet(t testing.TB, c client.Client, queue string) {
	t.Helper()
	w := newWorker(t, c, queue)
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, Greet, "container")
	if err != nil {
		t.Fatalf("start Greet: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("Greet: %v", err)
	}
	if got != "hello container" {
		t.Fatalf("Greet = %q, want %q", got, "hello container")
	}
}

// newWorker starts a worker of this file's workflows on queue.
func newWorker(t testing.TB, c client.Client, queue string) worker.Worker {
	t.Helper()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(Greet)
	w.RegisterActivity(Hello)
	w.RegisterWorkflow(Nap)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	return w
}
