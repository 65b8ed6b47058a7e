package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// step is one part of a cluster's start, with its stop.
type step struct {
	name        string
	start, stop func(context.Context) error
}

// sequence starts a cluster's parts in order and stops them in reverse.
// fx builds the parts (see Options); the order they start in is written
// here, in one place:
//
//  1. the metrics endpoint, so that /readyz answers 503 while the rest
//     starts;
//  2. the dynamic-config file, loaded before the server reads a setting;
//  3. the server: database, services, then ready (WaitReady);
//  4. the Web UI, which needs the server's resolved ports.
type sequence struct {
	steps    []step
	started  int           // steps started, in order
	shutdown time.Duration // bounds the rollback of a failed start
	timeout  time.Duration // startup.timeout, for ErrStartTimeout
}

// ErrStartTimeout reports a start that did not finish within
// startup.timeout; the error names the step it was waiting for and that
// step's last status.
var ErrStartTimeout = errors.New("the start did not finish within startup.timeout")

func newSequence(cfg profiles.Config, obs *observer, files *fileWatch, faults *faultRules, srv *services.Server, ui *webUI) *sequence {
	return &sequence{shutdown: cfg.Shutdown.Timeout, timeout: cfg.Startup.Timeout, steps: []step{
		{"metrics", obs.start, obs.stop},
		{"dynamic-config file", files.start, files.stop},
		{"faults file", faults.start, faults.stop},
		{"server", func(ctx context.Context) error { return startServer(ctx, srv, cfg.Shutdown.Timeout) },
			func(ctx context.Context) error { obs.ready(false); return srv.Stop(ctx) }},
		{"fault namespaces", faults.startResolving, faults.stopResolving},
		{"web UI", ui.start, ui.stop},
	}}
}

// startServer starts the server and waits until it is ready; a server
// that does not become ready is stopped before the error is returned.
func startServer(ctx context.Context, srv *services.Server, shutdown time.Duration) error {
	if err := srv.Start(ctx); err != nil {
		return err
	}
	if err := srv.WaitReady(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdown)
		defer cancel()
		_ = srv.Stop(stopCtx)
		return err
	}
	return nil
}

// start runs each step's start in order. When one fails, the steps
// already started are stopped (bounded by the shutdown timeout) and its
// error is returned: a failed start leaves nothing running. A step that
// ends because ctx's deadline passed is an ErrStartTimeout naming the
// step it was waiting for.
func (q *sequence) start(ctx context.Context) error {
	for _, s := range q.steps {
		if err := s.start(ctx); err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.shutdown)
			defer cancel()
			_ = q.stop(stopCtx)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w %s (--startup-timeout): waiting for the %s: %w", ErrStartTimeout, q.timeout, s.name, err)
			}
			return err
		}
		q.started++
	}
	return nil
}

// stop stops the started steps in reverse order, all of them even when
// one fails, and returns their errors joined, each naming its step.
func (q *sequence) stop(ctx context.Context) error {
	var errs []error
	for ; q.started > 0; q.started-- {
		s := q.steps[q.started-1]
		if err := s.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}
