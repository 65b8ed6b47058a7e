package services

import (
	"runtime"
	"sync"
	"sync/atomic"

	sdkclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/sdk"
	"go.temporal.io/server/service/worker"
	"go.temporal.io/server/temporal"
	"go.uber.org/fx"
)

// The server's worker service starts SDK workers that nothing ever stops:
// the scanner's task-queue and history scanners (service/worker/scanner/
// scanner.go, "TODO: Nothing is gracefully stopping these workers") and the
// parent-close-policy processor (service/worker/parentclosepolicy/processor.go).
// Their long polls stay open on the frontend, whose Stop then waits out its
// full drain time (at least 1s) before it cuts them off, and their pollers
// keep retrying after the server has stopped.
//
// workerServiceProvider builds the worker service exactly as
// temporal.WorkerServiceProvider does, but with its sdk.ClientFactory
// behind a systemClientGate on abort, and, with stopFirst (the config key
// server.stop-system-workers-first), with an sdk.ClientFactory that records
// every worker it creates, and stops whatever is still running right after
// the worker service's own Stop (so before the frontend stops).

type workerTracker struct {
	sdk.ClientFactory
	mu      sync.Mutex
	workers []sdkworker.Worker
}

func (t *workerTracker) NewWorker(c sdkclient.Client, tq string, o sdkworker.Options) sdkworker.Worker {
	w := t.ClientFactory.NewWorker(c, tq, o)
	t.mu.Lock()
	t.workers = append(t.workers, w)
	t.mu.Unlock()
	return w
}

// stopAll stops every worker created through the factory, concurrently.
// sdk worker Stop is idempotent: workers the server already stopped return
// at once.
func (t *workerTracker) stopAll() {
	t.mu.Lock()
	ws := t.workers
	t.workers = nil
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.Stop)
	}
	wg.Wait()
}

// systemClientGate ends the wait for the worker service's SDK client when
// abort closes. The server's GetSystemClient dials the frontend with
// retries for a minute, ignoring any context, and then Fatals (which ends
// its goroutine; see serverLogger): a start that could never connect (a
// frontend that rejects the system worker's certificate, say) would hold
// the server's Start, and so the start deadline, for that minute. Worse,
// the other callers waiting on its sync.Once then get a nil client and
// crash the process. Through the gate every caller waits for the dial on a
// goroutine of its own and, once abort closes (the start ended, or the
// server stops), ends its own goroutine with runtime.Goexit, which fx
// turns into a failed start hook and which ends the scanner's goroutines
// quietly; no caller ever sees a nil client.
type systemClientGate struct {
	sdk.ClientFactory
	abort  <-chan struct{}
	client atomic.Pointer[sdkclient.Client] // once the dial worked
}

func (g *systemClientGate) GetSystemClient() sdkclient.Client {
	if c := g.client.Load(); c != nil {
		return *c
	}
	got := make(chan sdkclient.Client, 1)
	go func() { got <- g.ClientFactory.GetSystemClient() }()
	select {
	case c := <-got:
		if c != nil {
			g.client.Store(&c)
			return c
		}
	case <-g.abort:
	}
	runtime.Goexit()
	return nil
}

// NewClient waits for the system client as GetSystemClient does: the
// server's NewClient builds on it.
func (g *systemClientGate) NewClient(o sdkclient.Options) sdkclient.Client {
	g.GetSystemClient()
	return g.ClientFactory.NewClient(o)
}

func workerServiceProvider(stopFirst bool, abort <-chan struct{}) func(temporal.ServiceProviderParamsCommon) (temporal.ServicesGroupOut, error) {
	return func(p temporal.ServiceProviderParamsCommon) (temporal.ServicesGroupOut, error) {
		// One decorator: fx allows one per type in a scope.
		var t *workerTracker
		opts := []fx.Option{p.GetCommonServiceOptions(primitives.WorkerService),
			fx.Decorate(func(f sdk.ClientFactory) sdk.ClientFactory {
				var out sdk.ClientFactory = &systemClientGate{ClientFactory: f, abort: abort}
				if t != nil {
					t.ClientFactory = out
					out = t
				}
				return out
			})}
		if stopFirst {
			t = &workerTracker{}
			opts = append(opts,
				// Invoked before worker.Module's ServiceLifetimeHooks, and
				// after *worker.Service (hence every provider) is built:
				// this OnStop runs right after the service's Stop.
				fx.Invoke(func(lc fx.Lifecycle, _ *worker.Service) {
					lc.Append(fx.StopHook(t.stopAll))
				}))
		}
		app := fx.New(append(opts, worker.Module)...)
		return temporal.NewService(app, primitives.WorkerService, p.Logger), app.Err()
	}
}
