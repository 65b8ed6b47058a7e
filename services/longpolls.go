package services

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// A stop of the server's frontend waits for the calls in flight, and gives
// up on them only after a fixed second (frontend Service.Stop: the drain
// time is at least 1 s), when it closes every connection. Calls in flight
// at a stop are mostly long polls: the polls of every SDK worker still
// running, and clients waiting for a workflow's next event or an update's
// outcome. Some of them are the server's own: a system worker stopped right
// after the cluster became ready cuts short the task-queue load its own
// first poll started, and matching then retries what depends on that load
// only 1 s later (GetUserDataRetryPolicy and the matching handler's retry
// policy, not configurable). A testutil cluster stopped within a few
// hundred ms of ready took 0.85-1 s to stop in 5 of 15 tries instead of
// 20-60 ms.
//
// longPolls (with server.stop-system-workers-first) is a frontend
// interceptor that ends those calls as soon as the stop starts. Long polls
// in flight are cancelled and answer Unavailable (unless a task was handed
// out meanwhile); later ones answer Unavailable at once, without reaching
// the server. Unavailable is what a client gets when the connections close
// and what the health check answers a moment later: the SDK backs off and
// retries it (a cancelled call would be final for a client waiting for a
// result; an empty poll would send a worker straight back). A ShutdownWorker
// call arriving during the stop is bounded: with
// frontend.enableCancelWorkerPollsOnShutdown it waits, only to tidy poller
// history, until each partition of the worker's task queues has loaded.
// Calls that change state, updates waiting for a stage among them, are left
// to finish.
type longPolls struct {
	mu       sync.Mutex
	stopping bool
	next     int
	cancels  map[int]context.CancelFunc
}

// stopShutdownWorkerBound bounds a ShutdownWorker call once the cluster
// stops.
const stopShutdownWorkerBound = 250 * time.Millisecond

// errStopping answers long polls once the cluster stops.
var errStopping = serviceerror.NewUnavailable("the cluster is stopping")

func newLongPolls() *longPolls {
	return &longPolls{cancels: map[int]context.CancelFunc{}}
}

// isLongPoll reports whether a frontend call may wait for something to
// happen: a worker's task poll, an update or time-skipping poll, a history
// read that waits for the next event, a describe call with a long-poll
// token.
func isLongPoll(method string, req any) bool {
	if strings.HasPrefix(method, "Poll") {
		return true
	}
	switch r := req.(type) {
	case *workflowservice.GetWorkflowExecutionHistoryRequest:
		return r.GetWaitNewEvent()
	case interface{ GetLongPollToken() []byte }:
		return len(r.GetLongPollToken()) > 0
	}
	return false
}

func (l *longPolls) isStopping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopping
}

func (l *longPolls) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	if method == "ShutdownWorker" {
		if l.isStopping() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, stopShutdownWorkerBound)
			defer cancel()
		}
		return handler(ctx, req)
	}
	if !isLongPoll(method, req) {
		return handler(ctx, req)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return nil, errStopping
	}
	id := l.next
	l.next++
	l.cancels[id] = cancel
	l.mu.Unlock()
	resp, err := handler(ctx, req)
	l.mu.Lock()
	delete(l.cancels, id)
	cut := l.stopping
	l.mu.Unlock()
	if cut && (err != nil || noTask(resp)) {
		return nil, errStopping
	}
	return resp, err
}

// noTask reports whether resp is a task poll's answer without a task.
func noTask(resp any) bool {
	r, ok := resp.(interface{ GetTaskToken() []byte })
	return ok && len(r.GetTaskToken()) == 0
}

// stop ends the long polls in flight and every later one.
func (l *longPolls) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopping = true
	for _, cancel := range l.cancels {
		cancel()
	}
}
