package testutil_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc"

	"github.com/devcluster/devcluster/testutil"
)

// ShutdownNoop is an activity that gives a worker activity pollers.
func ShutdownNoop(context.Context) error { return nil }

// pollEnd is how one task poll ended.
type pollEnd struct {
	method string
	queue  *taskqueuepb.TaskQueue
	took   time.Duration
	err    error
	// callerDone: the client's own context was done when the poll ended,
	// so the client, not the server, cut it.
	callerDone bool
}

func (p pollEnd) String() string {
	return fmt.Sprintf("%s %s (%v) after %s: %v", p.method, p.queue.GetName(), p.queue.GetKind(), p.took.Round(time.Millisecond), p.err)
}

// pollRecorder is a client-side gRPC interceptor that records how each task
// poll ended and every ShutdownWorker request.
type pollRecorder struct {
	mu        sync.Mutex
	open      int
	ends      []pollEnd
	shutdowns []*workflowservice.ShutdownWorkerRequest
}

var taskPolls = map[string]bool{"PollWorkflowTaskQueue": true, "PollActivityTaskQueue": true, "PollNexusTaskQueue": true}

func (r *pollRecorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := method[strings.LastIndexByte(method, '/')+1:]
	if sw, ok := req.(*workflowservice.ShutdownWorkerRequest); ok {
		r.mu.Lock()
		r.shutdowns = append(r.shutdowns, sw)
		r.mu.Unlock()
	}
	if !taskPolls[name] {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	began := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	end := pollEnd{method: name, took: time.Since(began), err: err, callerDone: ctx.Err() != nil}
	if q, ok := req.(interface{ GetTaskQueue() *taskqueuepb.TaskQueue }); ok {
		end.queue = q.GetTaskQueue()
	}
	r.mu.Lock()
	r.open--
	r.ends = append(r.ends, end)
	r.mu.Unlock()
	return err
}

// take returns what was recorded since the last take and forgets it.
func (r *pollRecorder) take() (open int, ends []pollEnd, shutdowns []*workflowservice.ShutdownWorkerRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	open, ends, shutdowns = r.open, r.ends, r.shutdowns
	r.ends, r.shutdowns = nil, nil
	return open, ends, shutdowns
}

// TestWorkerShutdownCompletesPolls: the cluster advertises the
// worker_poll_complete_on_shutdown capability, so the SDK leaves a stopping
// worker's polls open after ShutdownWorker and relies on the server to
// complete them. A worker stopped right after its pollers show up must see
// every poll of its task queues completed, none cancelled. The window is a
// race (see services/shutdownpolls.go), so the test stops 20 workers, each
// on a fresh task queue.
//
// One poll is out of the capability's reach: the SDK's per-namespace
// worker-commands poll (kind WorkerCommands, a queue of the client, not of
// the worker). The SDK cancels it itself when a client's last worker in the
// namespace stops (sdk-go internal_worker_heartbeat.go sharedNamespaceWorker.stop),
// after the worker's own polls have ended, and ShutdownWorker does not name
// it. The test requires only that the client, not the server, cut it.
func TestWorkerShutdownCompletesPolls(t *testing.T) {
	t.Parallel()
	ns := testutil.NewNamespace(t)
	ctx := ctxFor(t)

	rec := &pollRecorder{}
	opts := ns.ClientOptions()
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(rec.intercept))
	cl, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	d, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if !d.GetNamespaceInfo().GetCapabilities().GetWorkerPollCompleteOnShutdown() {
		t.Fatal("the namespace does not advertise worker_poll_complete_on_shutdown")
	}

	const runs = 20
	var failed []string
	clientCut := 0
	for i := range runs {
		taskQueue := fmt.Sprintf("shutdown-%d", i)
		took := startAndStop(ctx, t, cl, taskQueue)
		open, ends, shutdowns := rec.take()
		var problems []string
		if open > 0 {
			problems = append(problems, fmt.Sprintf("%d polls still open after Stop returned", open))
		}
		problems = append(problems, checkShutdownWorker(shutdowns, taskQueue)...)
		for _, e := range ends {
			if e.err == nil || !strings.Contains(e.err.Error(), "context canceled") {
				continue
			}
			if e.queue.GetKind() == enumspb.TASK_QUEUE_KIND_WORKER_COMMANDS && e.callerDone {
				clientCut++
				continue
			}
			problems = append(problems, "poll cancelled: "+e.String())
		}
		if len(problems) > 0 {
			failed = append(failed, fmt.Sprintf("run %d (Stop took %s): %s", i, took.Round(time.Millisecond), strings.Join(problems, "; ")))
		}
	}
	t.Logf("the SDK cut its own worker-commands poll in %d of %d stops", clientCut, runs)
	if len(failed) > 0 {
		t.Errorf("%d of %d stops failed:\n%s", len(failed), runs, strings.Join(failed, "\n"))
	}
}

// startAndStop starts a worker on taskQueue, waits until the server lists
// its workflow and activity pollers, stops it and returns how long Stop
// took.
func startAndStop(ctx context.Context, t *testing.T, cl client.Client, taskQueue string) time.Duration {
	t.Helper()
	w := worker.New(cl, taskQueue, worker.Options{WorkerStopTimeout: 2 * time.Second})
	w.RegisterWorkflow(Echo)
	w.RegisterActivityWithOptions(ShutdownNoop, activity.RegisterOptions{Name: "ShutdownNoop"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped { // the wait failed the test
			w.Stop()
		}
	}()
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		testutil.WaitFor(t, 15*time.Second, fmt.Sprintf("%v pollers on %s", typ, taskQueue), func() error {
			resp, err := cl.DescribeTaskQueue(ctx, taskQueue, typ)
			if err != nil {
				return err
			}
			if len(resp.GetPollers()) == 0 {
				return fmt.Errorf("none yet")
			}
			return nil
		})
	}
	began := time.Now()
	w.Stop()
	stopped = true
	return time.Since(began)
}

// checkShutdownWorker reports what is wrong with the ShutdownWorker calls
// a worker on taskQueue made.
func checkShutdownWorker(calls []*workflowservice.ShutdownWorkerRequest, taskQueue string) []string {
	var problems []string
	n := 0
	for _, sw := range calls {
		if sw.GetTaskQueue() != taskQueue {
			continue
		}
		n++
		for _, want := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			if !slices.Contains(sw.GetTaskQueueTypes(), want) {
				problems = append(problems, fmt.Sprintf("ShutdownWorker names types %v, not %v", sw.GetTaskQueueTypes(), want))
			}
		}
		if sw.GetWorkerInstanceKey() == "" {
			problems = append(problems, "ShutdownWorker names no worker instance key")
		}
	}
	if n != 1 {
		problems = append(problems, fmt.Sprintf("%d ShutdownWorker calls for %s, want 1", n, taskQueue))
	}
	return problems
}
