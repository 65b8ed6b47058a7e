package services

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// A stop of the server's frontend waits for the calls in flight, and gives
// up on them only after a fixed second (frontend Service.Stop: the drain
// time is at least 1 s). Calls in flight at a stop are mostly long polls:
// the polls of every SDK worker still running, and clients waiting for a
// workflow's next event. Some of them are the server's own: a system
// worker stopped right after the cluster became ready cuts short the task
// queue load its own first poll started, and matching then retries what
// depends on that load only 1 s later (GetUserDataRetryPolicy and the
// matching handler's retry policy, not configurable). A testutil cluster
// stopped within a few hundred ms of ready took 0.85-1 s to stop in 5 of 15
// tries instead of 20-60 ms.
//
// longPolls (with server.stop-system-workers-first) is a frontend
// interceptor that ends those calls as soon as the stop starts, as the
// frontend itself does when its drain time is up: long polls in flight are
// cancelled, new ones end at once, and a ShutdownWorker call (which, with
// frontend.enableCancelWorkerPollsOnShutdown, waits until each partition of
// the worker's task queues has loaded, only to tidy poller history) is
// bounded. Calls that change state are left to finish.
type longPolls struct {
	mu       sync.Mutex
	stopping bool
	next     int
	cancels  map[int]context.CancelFunc
}

// stopShutdownWorkerBound bounds a ShutdownWorker call once the cluster
// stops.
const stopShutdownWorkerBound = 250 * time.Millisecond

func newLongPolls() *longPolls {
	return &longPolls{cancels: map[int]context.CancelFunc{}}
}

// isLongPoll reports whether a frontend call may wait for something to
// happen: a worker's task poll, an update or time-skipping poll, a history
// read that waits for the next event.
func isLongPoll(method string, req any) bool {
	if strings.HasPrefix(method, "Poll") {
		return true
	}
	if r, ok := req.(*workflowservice.GetWorkflowExecutionHistoryRequest); ok {
		return r.GetWaitNewEvent()
	}
	return false
}

func (l *longPolls) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	if method == "ShutdownWorker" {
		l.mu.Lock()
		stopping := l.stopping
		l.mu.Unlock()
		if stopping {
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
		cancel()
	} else {
		id := l.next
		l.next++
		l.cancels[id] = cancel
		defer func() {
			l.mu.Lock()
			delete(l.cancels, id)
			l.mu.Unlock()
		}()
	}
	l.mu.Unlock()
	return handler(ctx, req)
}

// stop ends the long polls in flight and every later one.
func (l *longPolls) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopping = true
	for id, cancel := range l.cancels {
		cancel()
		delete(l.cancels, id)
	}
}
