package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

// The testutil figures run in a fresh child process per run: the bench
// binary (or the test binary, see bench_test.go) re-executed with childEnv
// set. The child prints one JSON line.
const (
	childEnv      = "BENCH_CHILD"       // "dev" or "stock"
	childItersEnv = "BENCH_CHILD_ITERS" // timed iterations of each figure
	childCfgEnv   = "BENCH_CHILD_CONFIG"
)

type childResult struct {
	NewClusterMS   float64 `json:"newcluster_ms"`
	NewNamespaceMS float64 `json:"newnamespace_ms"`
	Err            string  `json:"err,omitempty"`
}

// isChild reports whether this process is a testutil child.
func isChild() bool { return os.Getenv(childEnv) != "" }

// childMain runs the testutil figures and returns the exit code.
func childMain() int {
	testing.Init()
	if !flag.Parsed() {
		_ = flag.CommandLine.Parse(nil) // testing.Verbose needs parsed flags
	}
	iters, _ := strconv.Atoi(os.Getenv(childItersEnv))
	iters = max(iters, 1)
	var res childResult
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		switch os.Getenv(childEnv) {
		case "dev":
			res, err = childDev(iters)
		case "stock":
			res, err = childStock(iters, os.Getenv(childCfgEnv))
		default:
			err = fmt.Errorf("unknown %s=%q", childEnv, os.Getenv(childEnv))
		}
	}()
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if err != nil {
		return 1
	}
	return 0
}

// childDev times testutil.NewCluster (start until ready, then the stop its
// cleanup does) and testutil.NewNamespace (after the shared cluster is up).
func childDev(iters int) (childResult, error) {
	var res childResult
	var total time.Duration
	for i := range iters {
		tb := &fakeTB{name: fmt.Sprintf("BenchmarkNewCluster-%d", i)}
		began := time.Now()
		testutil.NewCluster(tb)
		tb.cleanup()
		total += time.Since(began)
		if tb.failed {
			return res, fmt.Errorf("NewCluster: %s", tb.msg)
		}
	}
	res.NewClusterMS = ms(total) / float64(iters)

	tb := &fakeTB{name: "BenchmarkNewNamespace"}
	testutil.NewNamespace(tb) // starts the shared cluster; not timed
	total = 0
	for range iters {
		began := time.Now()
		testutil.NewNamespace(tb)
		total += time.Since(began)
	}
	res.NewNamespaceMS = ms(total) / float64(iters)
	tb.cleanup()
	return res, nil
}

// childStock does the same with the stock configuration: the cluster is
// started and stopped as testutil.NewCluster does (bootstrap.Start, Stop),
// and a namespace is registered the way testutil.NewNamespace does.
func childStock(iters int, cfgFile string) (childResult, error) {
	var res childResult
	loaded, err := profiles.Load(profiles.LoadOptions{Profiles: []string{testutil.TestProfile}, File: cfgFile})
	if err != nil {
		return res, err
	}
	cfg := loaded.Config
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	startStop := func(keep bool) (*bootstrap.Cluster, error) {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Startup.Timeout)
		defer cancel()
		c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(logger))
		if err != nil || keep {
			return c, err
		}
		sctx, scancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
		defer scancel()
		return nil, c.Stop(sctx)
	}
	var total time.Duration
	for range iters {
		began := time.Now()
		if _, err := startStop(false); err != nil {
			return res, fmt.Errorf("start/stop: %w", err)
		}
		total += time.Since(began)
	}
	res.NewClusterMS = ms(total) / float64(iters)

	c, err := startStop(true)
	if err != nil {
		return res, err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	cl, err := dial(c.FrontendAddr())
	if err != nil {
		return res, err
	}
	defer cl.Close()
	total = 0
	for i := range iters {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		began := time.Now()
		_, err := cl.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        fmt.Sprintf("BenchmarkNewNamespace-%d", i+1),
			WorkflowExecutionRetentionPeriod: durationpb.New(profiles.DefaultRetention),
		})
		total += time.Since(began)
		cancel()
		if err != nil {
			return res, fmt.Errorf("register namespace: %w", err)
		}
	}
	res.NewNamespaceMS = ms(total) / float64(iters)
	return res, nil
}

// fakeTB is the part of testing.TB that testutil uses, outside a test.
type fakeTB struct {
	testing.TB // nil: any other method panics
	name       string
	mu         sync.Mutex
	cleanups   []func()
	failed     bool
	msg        string
}

func (t *fakeTB) Helper()      {}
func (t *fakeTB) Name() string { return t.name }
func (t *fakeTB) Failed() bool { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *fakeTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *fakeTB) Logf(string, ...any) {}
func (t *fakeTB) Log(...any)          {}
func (t *fakeTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed, t.msg = true, fmt.Sprintf(format, args...)
}
func (t *fakeTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *fakeTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(t.msg)
}
func (t *fakeTB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }

func (t *fakeTB) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
