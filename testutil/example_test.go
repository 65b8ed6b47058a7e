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
