package bootstrap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/devcluster/devcluster/testutil"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/api/adminservice/v1"
	taskqueuespb "go.temporal.io/server/api/taskqueue/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestStickyBacklogHint drives the task queues by hand: two workflows whose
// next workflow tasks wait in the backlog of one sticky queue, and one poll
// of it. The stock server's response says one task is left; devcluster's
// server.correct-sticky-backlog-hint lowers every sticky hint by one, so
// that a hint made stale by tasks being handed to other pollers does not
// send all of a worker's pollers to an empty sticky queue.
func TestStickyBacklogHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		correct bool
		want    int64
	}{
		{"corrected", true, 0},
		{"stock server", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Server.CorrectStickyBacklogHint = tc.correct
			c := startCluster(t, cfg)
			conn, err := grpc.NewClient(c.FrontendAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			h := &hintProbe{t: t, cl: dial(t, c, "default"), admin: adminservice.NewAdminServiceClient(conn)}
			if got := h.hintWithBacklog(2); got != tc.want {
				t.Fatalf("backlog hint with one more sticky task waiting: %d, want %d", got, tc.want)
			}
		})
	}
}

type hintProbe struct {
	t     *testing.T
	cl    client.Client
	admin adminservice.AdminServiceClient
}

var (
	hintNormal = &taskqueuepb.TaskQueue{Name: "hint", Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	hintSticky = &taskqueuepb.TaskQueue{Name: "hint-sticky-worker", Kind: enumspb.TASK_QUEUE_KIND_STICKY, NormalName: "hint"}
)

// poll polls q once for at most d.
func (h *hintProbe) poll(ctx context.Context, q *taskqueuepb.TaskQueue, d time.Duration) (*workflowservice.PollWorkflowTaskQueueResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return h.cl.WorkflowService().PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{
		Namespace: "default", TaskQueue: q, Identity: "test"})
}

// hintWithBacklog puts n workflow tasks into the sticky queue's backlog and
// returns the hint of the poll that takes the first.
func (h *hintProbe) hintWithBacklog(n int) int64 {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc := h.cl.WorkflowService()
	var runs []client.WorkflowRun
	for i := range n {
		run, err := h.cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("hint-%d", i), TaskQueue: hintNormal.Name}, "Anything")
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
		first, err := h.poll(ctx, hintNormal, 30*time.Second)
		if err != nil || len(first.GetTaskToken()) == 0 {
			t.Fatalf("poll the first workflow task: %v (token %d bytes)", err, len(first.GetTaskToken()))
		}
		if _, err := svc.RespondWorkflowTaskCompleted(ctx, &workflowservice.RespondWorkflowTaskCompletedRequest{
			Namespace: "default", TaskToken: first.GetTaskToken(), Identity: "test",
			StickyAttributes: &taskqueuepb.StickyExecutionAttributes{
				WorkerTaskQueue: hintSticky, ScheduleToStartTimeout: durationpb.New(time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Matching takes sticky tasks only for a queue polled in the last 10 s
	// (history sends them to the normal queue otherwise): poll it once,
	// empty (the frontend answers 1 s before the deadline).
	if empty, err := h.poll(ctx, hintSticky, 3*time.Second); err == nil && len(empty.GetTaskToken()) > 0 {
		t.Fatal("the sticky queue had a task before the signals")
	}
	for _, run := range runs {
		if err := h.cl.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "wake", nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("the sticky queue's backlog holds %d tasks", n), func() error {
		d, err := h.admin.DescribeTaskQueuePartition(ctx, &adminservice.DescribeTaskQueuePartitionRequest{
			Namespace: "default",
			TaskQueuePartition: &taskqueuespb.TaskQueuePartition{
				TaskQueue: hintNormal.Name, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
				PartitionId: &taskqueuespb.TaskQueuePartition_StickyName{StickyName: hintSticky.Name}},
			BuildIds: &taskqueuepb.TaskQueueVersionSelection{Unversioned: true},
		})
		if err != nil {
			return err
		}
		var got int64
		for _, v := range d.GetVersionsInfoInternal() {
			got += v.GetPhysicalTaskQueueInfo().GetTaskQueueStats().GetApproximateBacklogCount()
		}
		if got != int64(n) {
			return fmt.Errorf("backlog %d", got)
		}
		return nil
	})
	next, err := h.poll(ctx, hintSticky, 30*time.Second)
	if err != nil || len(next.GetTaskToken()) == 0 {
		t.Fatalf("poll the sticky queue: %v (token %d bytes)", err, len(next.GetTaskToken()))
	}
	return next.GetBacklogCountHint()
}
