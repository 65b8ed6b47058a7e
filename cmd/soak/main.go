// Command soak runs a steady workflow load against a cluster for a while and
// prints, every 10 seconds, how many workflows completed, how many failed,
// their latency and the memory of the process.
//
//	go run ./cmd/soak -duration 10m -concurrency 20          # its own cluster, in process, on a temp file
//	go run ./cmd/soak -address 127.0.0.1:7233 -cluster-pid 1234
//
// Each workflow runs one activity. The client re-dials after connection
// errors, so the load survives a cluster restarted on the same address.
// In process, rss is the whole process's, cluster included; with -address,
// -cluster-pid adds the cluster process's. The exit code is 1 when no
// workflow completed or more than 1% failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

const (
	taskQueue      = "soak"
	reportInterval = 10 * time.Second
)

// SoakActivity is the one activity of each workflow.
func SoakActivity(_ context.Context, n int) (int, error) {
	return n + 1, nil
}

// SoakWorkflow runs SoakActivity once and returns its result.
func SoakWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out int
	err := workflow.ExecuteActivity(ctx, SoakActivity, n).Get(ctx, &out)
	return out, err
}

func main() {
	os.Exit(run())
}

func run() int {
	duration := flag.Duration("duration", 10*time.Minute, "how long to run the load")
	concurrency := flag.Int("concurrency", 20, "workflows in flight at once")
	address := flag.String("address", "", "frontend of a running cluster (host:port); empty starts a cluster in this process on a temporary database file")
	namespace := flag.String("namespace", "default", "namespace of the workflows")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline of one workflow, start to result")
	verbose := flag.Bool("v", false, "print every failed workflow as it fails")
	clusterPID := flag.Int("cluster-pid", 0, "with -address: also report the RSS of this process (the cluster's)")
	flag.Parse()
	if *concurrency < 1 || *duration <= 0 || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -concurrency must be at least 1, -duration and -timeout positive")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := client.Options{HostPort: *address, Namespace: *namespace}
	if *address == "" {
		cluster, dir, err := startCluster(ctx, logger)
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak: start cluster:", err)
			return 1
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), cluster.Config().Shutdown.Timeout)
			defer cancel()
			if err := cluster.Stop(stopCtx); err != nil {
				fmt.Fprintln(os.Stderr, "soak: stop cluster:", err)
			}
			_ = os.RemoveAll(dir)
		}()
		opts = cluster.ClientOptions(*namespace)
		fmt.Printf("soak: cluster in process at %s, database %s\n", cluster.FrontendAddr(), cluster.Config().Persistence.File)
	}
	opts.Logger = sdklog.NewStructuredLogger(logger.With("component", "sdk"))

	conn := &redialer{opts: opts}
	dialCtx, dialCancel := context.WithTimeout(ctx, 30*time.Second)
	err := conn.dial(dialCtx)
	dialCancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: dial:", err)
		return 1
	}
	defer conn.close()

	fmt.Printf("soak: %d workflows in flight for %s, a report every %s\n", *concurrency, *duration, reportInterval)
	st := &stats{}
	// Cancelled, not given a deadline, at the end: the SDK sizes each RPC's
	// timeout from the deadline it sees, and a run's deadline would shrink
	// them towards its end.
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	time.AfterFunc(*duration, cancel)
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				n := int(seq.Add(1))
				began := time.Now()
				err := runOne(loadCtx, conn, n, *timeout)
				if loadCtx.Err() != nil {
					return // cut by the end of the run, not a failure
				}
				st.record(time.Since(began), err)
				if err != nil && *verbose {
					fmt.Fprintf(os.Stderr, "%s workflow %d after %s: %v\n", time.Now().Format("15:04:05.000"), n, time.Since(began).Round(time.Millisecond), err)
				}
				if err != nil {
					conn.failed(loadCtx, err)
				}
			}
		}()
	}

	began := time.Now()
	ticker := time.NewTicker(reportInterval)
	defer ticker.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
wait:
	for {
		select {
		case <-ticker.C:
			st.report(time.Since(began), *clusterPID)
		case <-done:
			break wait
		}
	}
	if st.pending() {
		st.report(time.Since(began), *clusterPID)
	}
	total, errs := st.totals()
	fmt.Printf("soak: done after %s: %d workflows completed, %d errors, %d re-dials\n",
		time.Since(began).Round(time.Second), total, errs, conn.redials.Load())
	if total == 0 || errs*100 > total+errs {
		return 1
	}
	return 0
}

// startCluster starts a cluster in this process with the test profile on a
// database file in a new temporary directory.
func startCluster(ctx context.Context, logger *slog.Logger) (*bootstrap.Cluster, string, error) {
	// The test profile, as testutil's clusters use, without importing
	// testutil (a test harness): only tests and bench/ may.
	loaded, err := profiles.Load(profiles.LoadOptions{Profiles: []string{"test"}, ProfilesOrigin: "soak"})
	if err != nil {
		return nil, "", err
	}
	cfg := loaded.Config
	dir, err := os.MkdirTemp("", "devcluster-soak-")
	if err != nil {
		return nil, "", err
	}
	cfg.Persistence.File = filepath.Join(dir, "soak.db")
	c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(logger))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	return c, dir, nil
}

// runOne starts one workflow and waits for its result.
func runOne(ctx context.Context, conn *redialer, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := conn.client()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       fmt.Sprintf("soak-%d-%d", os.Getpid(), n),
		TaskQueue:                taskQueue,
		WorkflowExecutionTimeout: timeout,
	}, SoakWorkflow, n)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	var out int
	if err := run.Get(ctx, &out); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if out != n+1 {
		return fmt.Errorf("workflow %d returned %d, want %d", n, out, n+1)
	}
	return nil
}

// redialer holds a client and the worker on it, and replaces both after a
// connection error.
type redialer struct {
	opts    client.Options
	redials atomic.Int64
	dialMu  sync.Mutex // one re-dial at a time

	mu  sync.Mutex
	c   client.Client
	w   worker.Worker
	gen int
}

func (r *redialer) client() client.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

// dial connects (retrying until ctx ends), starts a worker on the new
// client and puts both in place; the previous ones are stopped.
func (r *redialer) dial(ctx context.Context) error {
	var lastErr error
	for attempt := 0; ; attempt++ {
		c, err := client.DialContext(ctx, r.opts)
		if err == nil {
			w := worker.New(c, taskQueue, worker.Options{})
			w.RegisterWorkflow(SoakWorkflow)
			w.RegisterActivity(SoakActivity)
			if err = w.Start(); err == nil {
				r.mu.Lock()
				oldC, oldW := r.c, r.w
				r.c, r.w = c, w
				r.gen++
				r.mu.Unlock()
				if oldW != nil {
					oldW.Stop()
				}
				if oldC != nil {
					oldC.Close()
				}
				return nil
			}
			c.Close()
		}
		lastErr = err
		backoff := min(time.Duration(1<<min(attempt, 5))*100*time.Millisecond, 3*time.Second)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(backoff):
		}
	}
}

// failed re-dials after a connection error. The SDK retries Unavailable
// until a call's deadline, so a lost connection mostly shows as a deadline:
// after any other error, a health check of the frontend decides. Callers
// that saw the same broken client re-dial once.
func (r *redialer) failed(ctx context.Context, err error) {
	r.mu.Lock()
	gen, c := r.gen, r.c
	r.mu.Unlock()
	if !connectionError(err) {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, herr := c.CheckHealth(hctx, &client.CheckHealthRequest{})
		cancel()
		if herr == nil || ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("%v; health check: %v", err, herr)
	}
	r.dialMu.Lock()
	defer r.dialMu.Unlock()
	r.mu.Lock()
	same := r.gen == gen
	r.mu.Unlock()
	if !same {
		return // another goroutine re-dialled already
	}
	fmt.Fprintf(os.Stderr, "soak: connection error, re-dialling: %v\n", err)
	if err := r.dial(ctx); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "soak: re-dial: %v\n", err)
		}
		return
	}
	r.redials.Add(1)
}

func (r *redialer) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		r.w.Stop()
	}
	if r.c != nil {
		r.c.Close()
	}
}

// connectionError reports errors that say the cluster cannot be reached.
func connectionError(err error) bool {
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok && s.Code() == codes.Unavailable {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "transport is closing")
}

// stats counts outcomes and keeps the latencies of the current interval.
type stats struct {
	mu        sync.Mutex
	completed int64 // since the start
	errors    int64
	lat       []time.Duration // this interval's successful workflows
	intErrs   int64
	kinds     map[string]int // this interval's errors by message
}

func (s *stats) record(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors++
		s.intErrs++
		if s.kinds == nil {
			s.kinds = map[string]int{}
		}
		s.kinds[err.Error()]++
		return
	}
	s.completed++
	s.lat = append(s.lat, d)
}

// pending reports whether anything happened since the last report.
func (s *stats) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lat) > 0 || s.intErrs > 0
}

func (s *stats) totals() (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completed, s.errors
}

// report prints one line for the interval just ended and resets it.
func (s *stats) report(elapsed time.Duration, clusterPID int) {
	s.mu.Lock()
	lat := s.lat
	s.lat = nil
	intErrs, kinds := s.intErrs, s.kinds
	s.intErrs, s.kinds = 0, nil
	completed, errs := s.completed, s.errors
	s.mu.Unlock()

	slices.Sort(lat)
	line := fmt.Sprintf("%7s  completed %d (+%d)  errors %d (+%d)  p50 %s  p99 %s  rss %s  goroutines %d",
		elapsed.Round(time.Second), completed, len(lat), errs, intErrs,
		percentile(lat, 50), percentile(lat, 99), rss("self"), runtime.NumGoroutine())
	if clusterPID > 0 {
		line += "  cluster rss " + rss(fmt.Sprint(clusterPID))
	}
	fmt.Println(line)
	msgs := make([]string, 0, len(kinds))
	for m := range kinds {
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b string) int { return kinds[b] - kinds[a] })
	for _, m := range msgs[:min(len(msgs), 3)] {
		fmt.Printf("         %dx %s\n", kinds[m], m)
	}
}

func percentile(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (len(sorted)*p + 99) / 100
	i = max(min(i, len(sorted))-1, 0)
	return sorted[i].Round(100 * time.Microsecond).String()
}

// rss reads VmRSS of a process from /proc ("self" or a pid).
func rss(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
				return fmt.Sprintf("%.1fMiB", float64(kb)/1024)
			}
		}
	}
	return "?"
}
