package services

import (
	"sync"

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
// temporal.WorkerServiceProvider does, but, with stopFirst (the config key
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

func workerServiceProvider(stopFirst bool) func(temporal.ServiceProviderParamsCommon) (temporal.ServicesGroupOut, error) {
	return func(p temporal.ServiceProviderParamsCommon) (temporal.ServicesGroupOut, error) {
		opts := []fx.Option{p.GetCommonServiceOptions(primitives.WorkerService)}
		if stopFirst {
			t := &workerTracker{}
			opts = append(opts,
				fx.Decorate(func(f sdk.ClientFactory) sdk.ClientFactory {
					t.ClientFactory = f
					return t
				}),
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
