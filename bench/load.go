package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const taskQueue = "bench"

// BenchWorkflow runs one trivial activity and returns its result.
func BenchWorkflow(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var out string
	err := workflow.ExecuteActivity(ctx, BenchActivity, in).Get(ctx, &out)
	return out, err
}

// BenchActivity returns its input.
func BenchActivity(_ context.Context, in string) (string, error) { return in, nil }

func quietSDKLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func dial(addr string) (client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.DialContext(ctx, client.Options{HostPort: addr, Namespace: "default", Logger: quietSDKLogger()})
}

// loadResult is one load run.
type loadResult struct {
	Throughput    float64 // workflows per second
	P50, P95, P99 time.Duration
}

// runLoad starts n workflows at concurrency c against addr, with one worker
// of 4 workflow-task and 4 activity-task pollers, and waits for every result.
// A warm-up of a few workflows (not counted) runs first.
func runLoad(ctx context.Context, addr string, n, c int) (loadResult, error) {
	cl, err := dial(addr)
	if err != nil {
		return loadResult{}, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer cl.Close()
	w := worker.New(cl, taskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers: 4,
		MaxConcurrentActivityTaskPollers: 4,
	})
	w.RegisterWorkflow(BenchWorkflow)
	w.RegisterActivityWithOptions(BenchActivity, activity.RegisterOptions{Name: "BenchActivity"})
	if err := w.Start(); err != nil {
		return loadResult{}, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	one := func(id string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		began := time.Now()
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, BenchWorkflow, id)
		if err != nil {
			return 0, err
		}
		var out string
		if err := run.Get(ctx, &out); err != nil {
			return 0, err
		}
		if out != id {
			return 0, fmt.Errorf("workflow %s returned %q", id, out)
		}
		return time.Since(began), nil
	}
	for i := range min(5, n) {
		if _, err := one(fmt.Sprintf("warmup-%d", i)); err != nil {
			return loadResult{}, fmt.Errorf("warm-up workflow: %w", err)
		}
	}

	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	began := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := one(fmt.Sprintf("wf-%d", i))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n)) // stop the others
					return
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	wall := time.Since(began)
	if firstErr != nil {
		return loadResult{}, fmt.Errorf("workflow: %w", firstErr)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return loadResult{
		Throughput: float64(n) / wall.Seconds(),
		P50:        percentile(lat, 50),
		P95:        percentile(lat, 95),
		P99:        percentile(lat, 99),
	}, nil
}

// percentile of sorted values (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// dcReload measures, iters times, the time from writing a new
// limit.maxIDLength into the cluster's dynamic-config file to the first
// StartWorkflow with an ID longer than the new limit being refused. Limits
// decrease (900, 800, ...), so each probe ID is accepted until the change
// takes effect.
func dcReload(ctx context.Context, addr, dcFile string, iters int) ([]time.Duration, error) {
	cl, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []time.Duration
	probe := 0
	for i := range iters {
		limit := 900 - 50*i
		if err := writeDCFile(dcFile, limit); err != nil {
			return nil, err
		}
		written := time.Now()
		for {
			probe++
			prefix := fmt.Sprintf("dc-%d-%d-", i, probe)
			id := prefix + strings.Repeat("x", limit+1-len(prefix))
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := cl.ExecuteWorkflow(sctx, client.StartWorkflowOptions{ID: id, TaskQueue: "dc-probe"}, "Nothing")
			cancel()
			if err != nil {
				var ia *serviceerror.InvalidArgument
				if !errors.As(err, &ia) {
					return nil, fmt.Errorf("probe: %w", err)
				}
				out = append(out, time.Since(written))
				break
			}
			if time.Since(written) > 30*time.Second {
				return nil, fmt.Errorf("limit.maxIDLength=%d not in effect 30s after the write", limit)
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return out, nil
}
