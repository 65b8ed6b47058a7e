package bootstrap_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

func Hello(ctx workflow.Context, name string) (string, error) {
	return "Hello, " + name + "!", nil
}

// Start a cluster on free ports, run a workflow on it, stop it.
func ExampleStart() {
	ctx := context.Background()
	cfg := profiles.Default()
	cfg.Services.Frontend.GRPCPort = 0 // free ports
	cfg.Services.Frontend.HTTPPort = 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	cluster, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(quiet))
	if err != nil {
		fmt.Println("start:", err)
		return
	}
	defer func() { _ = cluster.Stop(context.Background()) }()

	opts := cluster.ClientOptions("default")
	opts.Logger = log.NewStructuredLogger(quiet)
	c, err := client.Dial(opts)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()
	w := worker.New(c, "hello", worker.Options{})
	w.RegisterWorkflow(Hello)
	if err := w.Start(); err != nil {
		fmt.Println("worker:", err)
		return
	}
	defer w.Stop()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "hello"}, Hello, "Temporal")
	if err != nil {
		fmt.Println("execute:", err)
		return
	}
	var greeting string
	if err := run.Get(ctx, &greeting); err != nil {
		fmt.Println("result:", err)
		return
	}
	fmt.Println(greeting)
	// Output: Hello, Temporal!
}
