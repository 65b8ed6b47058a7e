package testutil_test

// These tests are the examples of the README: a workflow test in ten lines.

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/testutil"
)

func Greet(_ workflow.Context, name string) (string, error) { return "Hello, " + name + "!", nil }

// A workflow test on a cluster of its own.
func TestExampleOwnCluster(t *testing.T) {
	c := testutil.NewCluster(t)
	c.NewWorker("greetings", func(r worker.Registry) { r.RegisterWorkflow(Greet) })
	run, err := c.Client().ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "greetings"}, Greet, "Temporal")
	var got string
	if err == nil {
		err = run.Get(context.Background(), &got)
	}
	if err != nil || got != "Hello, Temporal!" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A workflow test in a fresh namespace of the cluster the test binary shares.
func TestExampleSharedCluster(t *testing.T) {
	ns := testutil.NewNamespace(t)
	ns.NewWorker("greetings", func(r worker.Registry) { r.RegisterWorkflow(Greet) })
	run, err := ns.Client().ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "greetings"}, Greet, "Temporal")
	var got string
	if err == nil {
		err = run.Get(context.Background(), &got)
	}
	if err != nil || got != "Hello, Temporal!" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// Reminder sleeps 30 days, then says so.
func Reminder(ctx workflow.Context) (string, error) {
	if err := workflow.Sleep(ctx, 30*24*time.Hour); err != nil {
		return "", err
	}
	return "30 days later", nil
}

// A 30-day workflow tested in a second: the namespace skips time whenever
// its workflows only wait on timers (no change to the client or workflow).
func TestExampleTimeSkipping(t *testing.T) {
	ns := testutil.NewNamespace(t, testutil.WithTimeSkipping())
	ns.NewWorker("reminders", func(r worker.Registry) { r.RegisterWorkflow(Reminder) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := ns.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "remind-me", TaskQueue: "reminders"}, Reminder)
	var got string
	if err == nil {
		err = run.Get(ctx, &got)
	}
	if err != nil || got != "30 days later" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The workflow's own clock moved 30 days; the wall clock did not.
	now, err := ns.VirtualNow(ctx, "remind-me", run.GetRunID())
	if err != nil || time.Until(now) < 29*24*time.Hour {
		t.Fatalf("virtual now %s, %v", now, err)
	}
}

// BenchmarkNewCluster measures what NewCluster does: start a test-profile
// cluster until ready, then stop it.
func BenchmarkNewCluster(b *testing.B) {
	cfg, err := testutil.Config()
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// BenchmarkNewNamespace measures a fresh namespace on the shared cluster.
func BenchmarkNewNamespace(b *testing.B) {
	testutil.NewNamespace(b) // the shared cluster starts outside the loop
	for b.Loop() {
		testutil.NewNamespace(b)
	}
}
