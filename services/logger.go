package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// ErrServerFatal marks an error the embedded server reported through its
// logger's Fatal or Panic. The server would have exited the process; we stop
// the cluster instead.
var ErrServerFatal = errors.New("server fatal error")

// serverLogger adapts slog to the server's log.Logger.
//
// The server calls Fatal where it cannot go on (a listener that cannot bind,
// a worker that cannot reach the frontend) and expects the process to exit.
// A library must not exit, so Fatal and Panic record the error through
// onFatal (which stops the cluster) and then end the calling goroutine with
// runtime.Goexit: its deferred calls run, the code after Fatal (which would
// dereference a nil listener) does not, and the rest of the process goes on.
type serverLogger struct {
	l        *slog.Logger
	min      slog.Level
	onFatal  func(error)
	stopping *atomic.Bool
	// onDiskFull, when set, is called (at most once a minute) when the
	// server reports SQLite's "database or disk is full": the server only
	// retries, so without it a user sees writes time out.
	onDiskFull func()
	diskFullAt *atomic.Int64 // unix nanoseconds of the last onDiskFull
	// lastWarn is the last warning or error the server logged (message
	// and error tag), whatever the level shown: a start that ends by its
	// deadline names it as what the server was waiting for.
	lastWarn *atomic.Pointer[string]
	// with are the tags of With, turned into attributes only when a message
	// is logged: the server derives a logger for every task it runs and
	// almost never logs through it (formatting them at With was 1.2% of
	// the server's CPU under load).
	with []tag.Tag
}

// newServerLogger returns the server's logger. Server messages below min are
// dropped (the server is chatty: min is warn unless the user asked for
// debug); onFatal receives Fatal and Panic messages as errors.
func newServerLogger(l *slog.Logger, min slog.Level, onFatal func(error)) *serverLogger {
	return &serverLogger{l: l, min: min, onFatal: onFatal, stopping: new(atomic.Bool), diskFullAt: new(atomic.Int64),
		lastWarn: new(atomic.Pointer[string])}
}

// lastWarning returns the last warning or error the server logged, as
// "message: error", or "" when there was none. Safe on a nil logger.
func (s *serverLogger) lastWarning() string {
	if s == nil {
		return ""
	}
	if p := s.lastWarn.Load(); p != nil {
		return *p
	}
	return ""
}

// stop marks the server as stopping: from then on its warnings and errors
// (pollers cut off, peers gone) are expected and logged at debug level.
func (s *serverLogger) stop() { s.stopping.Store(true) }

func (s *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level >= slog.LevelError && s.onDiskFull != nil {
		s.checkDiskFull(tags)
	}
	if level >= slog.LevelWarn && !s.stopping.Load() {
		w := msg
		for _, t := range tags {
			if t.Key() == "error" {
				w += ": " + fmt.Sprint(t.Value())
			}
		}
		s.lastWarn.Store(&w)
	}
	if level > slog.LevelDebug && level < slog.LevelError+4 && s.stopping.Load() {
		level = slog.LevelDebug
	}
	if level < s.min || !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.LogAttrs(context.Background(), level, msg, s.attrs(tags)...)
}

// attrs returns the With tags and then tags as slog attributes.
func (s *serverLogger) attrs(tags []tag.Tag) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(s.with)+len(tags))
	for _, t := range s.with {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	return attrs
}

// checkDiskFull calls onDiskFull when an error tag carries SQLite's
// SQLITE_FULL message, at most once a minute.
func (s *serverLogger) checkDiskFull(tags []tag.Tag) {
	for _, t := range tags {
		if t.Key() != "error" || !strings.Contains(fmt.Sprint(t.Value()), "database or disk is full") {
			continue
		}
		now, last := time.Now().UnixNano(), s.diskFullAt.Load()
		if now-last >= int64(time.Minute) && s.diskFullAt.CompareAndSwap(last, now) {
			s.onDiskFull()
		}
		return
	}
}

func (s *serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s *serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s *serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s *serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic panics only in the server's development mode; here it is an error.
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic stops the cluster; see serverLogger.
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) { s.fatal(msg, tags) }

// Fatal stops the cluster; see serverLogger.
func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) { s.fatal(msg, tags) }

func (s *serverLogger) fatal(msg string, tags []tag.Tag) {
	// Always shown, whatever the level.
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, s.attrs(tags)...)
	s.onFatal(fatalError(msg, tags))
	runtime.Goexit()
}

// With returns a logger with tags prepended, as the server's WithLogger asks.
func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	c := *s
	c.with = append(s.with[:len(s.with):len(s.with)], tags...) // never shares the parent's array
	return &c
}

// fatalError turns a Fatal message and its tags into an error such as
// "server fatal error: Failed to start gRPC listener: address=127.0.0.1:7234 error=listen tcp ...".
// It wraps ErrServerFatal and the error the server logged with the error
// tag, so callers tell its kind by type (errors.Is(err, syscall.EADDRINUSE)).
func fatalError(msg string, tags []tag.Tag) error {
	var b strings.Builder
	b.WriteString(msg)
	sep := ": "
	var cause error
	for _, t := range tags {
		switch t.Key() {
		case "error", "address", "service", "service-name", "component":
			fmt.Fprintf(&b, "%s%s=%v", sep, t.Key(), t.Value())
			sep = " "
		}
		if zt, ok := t.(tag.ZapTag); ok && t.Key() == "error" {
			cause, _ = zt.Field().Interface.(error)
		}
	}
	return &serverFatal{msg: b.String(), cause: cause}
}

// serverFatal is a Fatal the server logged (see fatalError).
type serverFatal struct {
	msg   string
	cause error // the logged error; nil when there was none
}

func (e *serverFatal) Error() string { return ErrServerFatal.Error() + ": " + e.msg }

func (e *serverFatal) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrServerFatal}
	}
	return []error{ErrServerFatal, e.cause}
}
