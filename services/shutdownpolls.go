package services

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// With frontend.enableCancelWorkerPollsOnShutdown a namespace advertises
// the worker_poll_complete_on_shutdown capability, and the Go SDK then no
// longer cancels a stopping worker's polls: it calls ShutdownWorker and
// waits for the server to complete each poll (sdk-go internal_task_pollers.go
// doPoll). Server 1.32.2 completes them empty, except in one race.
// ShutdownWorker force-unloads the worker's sticky queue (frontend
// workflow_handler.go:3053). A sticky poll that arrived just before, while
// the partition it caused to load was still loading, is not yet among the
// polls ShutdownWorker cancels: matching registers a poll only once its
// partition has loaded (matching_engine.go:3035, 3064-3069). The unload
// stops the partition and so its load (task_queue_partition_manager.go:313),
// the load ends with context.Canceled, and the poll, waiting for that load
// (matching_engine.go:472), answers with its error: Canceled "context
// canceled". Workers stopped as soon as their pollers registered saw this
// in 5 of 420 stops (TestWorkerShutdownCompletesPolls).
//
// shutdownPolls completes such polls as ShutdownWorker means to: a task
// poll of a worker that has called ShutdownWorker, ended by the server with
// Canceled while its caller still waits, answers as a poll that found no
// task. No task was handed out on that path, so nothing is lost. A caller
// that cancelled its own poll, and every other error, pass through. It must
// sit inside longPolls in the chain, so that polls longPolls cuts at a stop
// (their context is done) still answer Unavailable.
type shutdownPolls struct {
	mu   sync.Mutex
	keys map[string]time.Time // worker instance key → its ShutdownWorker
}

// shutdownPollsMemory is how long a worker counts as shut down: longer than
// any poll it may have had open at ShutdownWorker (the Go SDK's poll
// timeout is 70 s).
const shutdownPollsMemory = 2 * time.Minute

func newShutdownPolls() *shutdownPolls {
	return &shutdownPolls{keys: map[string]time.Time{}}
}

func (s *shutdownPolls) add(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.keys {
		if now.Sub(at) > shutdownPollsMemory {
			delete(s.keys, k)
		}
	}
	s.keys[key] = now
}

func (s *shutdownPolls) shutDown(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok
}

// emptyPoll returns the worker instance key of a task poll and the answer
// to a poll that found no task; ok is false for other requests.
func emptyPoll(req any) (key string, empty any, ok bool) {
	switch r := req.(type) {
	case *workflowservice.PollWorkflowTaskQueueRequest:
		return r.GetWorkerInstanceKey(), &workflowservice.PollWorkflowTaskQueueResponse{}, true
	case *workflowservice.PollActivityTaskQueueRequest:
		return r.GetWorkerInstanceKey(), &workflowservice.PollActivityTaskQueueResponse{}, true
	case *workflowservice.PollNexusTaskQueueRequest:
		return r.GetWorkerInstanceKey(), &workflowservice.PollNexusTaskQueueResponse{}, true
	}
	return "", nil, false
}

// intercept is a frontend unary interceptor.
func (s *shutdownPolls) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if r, ok := req.(*workflowservice.ShutdownWorkerRequest); ok {
		// Before the handler: the unload that cuts a poll happens inside it.
		if key := r.GetWorkerInstanceKey(); key != "" {
			s.add(key, time.Now())
		}
		return handler(ctx, req)
	}
	resp, err := handler(ctx, req)
	if err == nil || ctx.Err() != nil || serviceerror.ToStatus(err).Code() != codes.Canceled {
		return resp, err
	}
	if key, empty, ok := emptyPoll(req); ok && key != "" && s.shutDown(key) {
		return empty, nil
	}
	return resp, err
}
