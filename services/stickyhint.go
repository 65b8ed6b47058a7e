package services

import (
	"context"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// A workflow task poll response carries a backlog count hint, and the SDKs
// use the hint of a sticky task queue to place their pollers: while the
// last one they saw is above zero, every workflow-task poller of the worker
// polls the sticky queue ("prefer to process sticky tasks first", sdk-go
// internal_task_pollers.go getNextPollRequest).
//
// Server 1.32.2's matching computes the hint as the backlog tasks it has
// loaded and not yet finished (pri_backlog_manager.go BacklogCountHint), so
// a response can count tasks that are at that moment being handed to the
// worker's other pollers, and a worker that handles the responses out of
// order keeps a hint of 1 for a sticky queue that is already empty. All its
// pollers then wait there, and the first workflow tasks of new workflows,
// which arrive on the normal queue, wait with them. Measured with the bench
// load (1000 workflows, 50 in flight, one worker with 4 pollers): every
// workflow in flight stalled for 5-10 s in 15 of 55 runs; with this
// correction in none of 20, and with sticky execution off in none of 8.
//
// stickyBacklogHint lowers the hint of sticky responses by one. A hint of 1
// that was right now says 0: the worker then balances its pollers between
// the two queues and still takes the waiting sticky task.
func stickyBacklogHint(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return resp, err
	}
	poll, ok := req.(*workflowservice.PollWorkflowTaskQueueRequest)
	if !ok || poll.GetTaskQueue().GetKind() != enumspb.TASK_QUEUE_KIND_STICKY {
		return resp, nil
	}
	if r, ok := resp.(*workflowservice.PollWorkflowTaskQueueResponse); ok && len(r.GetTaskToken()) > 0 && r.GetBacklogCountHint() > 0 {
		r.BacklogCountHint--
	}
	return resp, nil
}
