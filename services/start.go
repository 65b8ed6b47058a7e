package services

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/server/temporal"
)

// The server's Start, bounded: see runStart.

// endStart closes abort: the start is over (it ended, or the server
// stops), so a system worker still dialing the frontend gives up.
func (s *Server) endStart() {
	s.mu.Lock()
	abort, once := s.abort, s.abortOnce
	s.mu.Unlock()
	if once != nil {
		once.Do(func() { close(abort) })
	}
}

// runStart runs the server's Start. The server's Start takes no context:
// when ctx ends first (the start deadline, or an interrupt), runStart
// ends the system worker's wait for the frontend (endStart), the one wait
// in the server's Start that is not bounded by its own 15 s service
// timeouts, and waits for Start to return, at most the shutdown timeout,
// then stops what it started. Should Start still not return, runStart
// returns anyway and the server is stopped in the background once it
// does: a deadline ends the start whatever the server does. On failure it
// stops the server too. The error of an ended start names the server's
// last warning, which says what it was waiting for.
func (s *Server) runStart(ctx context.Context, srv temporal.Server) error {
	done := make(chan error, 1)
	go func() { done <- guard(s, srv.Start) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		s.logger.Info("start interrupted: stopping the server's start")
		s.endStart()
		err = ctx.Err()
		if w := s.slog.lastWarning(); w != "" {
			err = fmt.Errorf("%w; the server's last warning: %s", err, w)
		}
		s.slog.stop() // what the aborted start logs now is expected
		select {
		case <-done:
		case <-time.After(s.cfg.Shutdown.Timeout):
			s.logger.Warn("the server's start did not return within the shutdown timeout; stopping it in the background once it does")
			go func() {
				<-done
				stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.Timeout)
				defer cancel()
				s.stopServices(stopCtx)
				_ = s.stopServer(stopCtx)
			}()
			return fmt.Errorf("start server: %w", err)
		}
	}
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.Timeout)
		defer cancel()
		s.stopServices(stopCtx)
		_ = s.stopServer(stopCtx)
		return fmt.Errorf("start server: %w", err)
	}
	s.mu.Lock()
	s.started = true
	fatal := s.fatalErr
	s.mu.Unlock()
	return fatal
}

// stopServices stops the services of a server whose ServerImpl.Start
// failed. That Start starts the services one by one and returns the first
// failure without stopping those it started (a worker service that could
// not start leaves frontend, history and matching serving), and fx does
// not call the Stop of a hook whose Start failed; so the server's own Stop
// would leave them running. Once ServerImpl.Start succeeded, fx stops it
// (a second Stop would close its channel twice), so this does nothing.
func (s *Server) stopServices(ctx context.Context) {
	s.mu.Lock()
	impl := s.impl
	s.mu.Unlock()
	if impl == nil || s.implStarted.Load() {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = guard(s, func() error { return impl.Stop(ctx) })
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// guard runs f on a goroutine of its own so that a server Fatal (which ends
// its goroutine, see serverLogger) or panic becomes an error here.
func guard(s *Server, f func() error) error {
	done := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: panic: %v", ErrServerFatal, r)
				return
			}
			if !returned {
				if err := s.Err(); err != nil {
					done <- err
				} else {
					done <- fmt.Errorf("%w: goroutine exited", ErrServerFatal)
				}
			}
		}()
		err := f()
		returned = true
		done <- err
	}()
	return <-done
}
