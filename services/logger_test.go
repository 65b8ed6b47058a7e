package services

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// TestServerLoggerWith: tags given to With come before a message's own,
// siblings derived from one parent do not see each other's, and messages
// below the minimum level are dropped.
func TestServerLoggerWith(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	root := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), slog.LevelInfo, nil)
	// Three Withs: the parent's tags then have room for one more in place,
	// which a child must not use.
	parent := log.With(log.With(log.With(root, tag.NewStringTag("service", "history")),
		tag.NewStringTag("component", "queues")), tag.NewInt("shard", 1))
	a := log.With(parent, tag.NewStringTag("queue", "transfer"))
	b := log.With(parent, tag.NewStringTag("queue", "timer"))

	a.Info("task done", tag.NewInt("attempt", 2))
	b.Warn("task slow")
	a.Debug("dropped below the minimum level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=INFO msg="task done" service=history component=queues shard=1 queue=transfer attempt=2`,
		`level=WARN msg="task slow" service=history component=queues shard=1 queue=timer`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if _, rest, _ := strings.Cut(lines[i], " "); rest != w { // drop time=...
			t.Errorf("line %d = %q, want %q", i, rest, w)
		}
	}
}

// TestBindFailureByType: a listener the server could not bind is told
// from other fatals by the error it logged, not by its message.
func TestBindFailureByType(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	_, bindErr := net.Listen("tcp", l.Addr().String())
	if bindErr == nil {
		t.Fatal("second bind succeeded")
	}
	bind := fatalError("Failed to start gRPC listener", []tag.Tag{tag.Error(bindErr), tag.Address(l.Addr().String())})
	if !isBindFailure(bind) || !errors.Is(bind, ErrServerFatal) {
		t.Errorf("a taken port is not a bind failure: %v", bind)
	}
	if !strings.Contains(bind.Error(), "address already in use") || !strings.HasPrefix(bind.Error(), "server fatal error: Failed to start gRPC listener") {
		t.Errorf("message: %q", bind.Error())
	}
	other := fatalError("listener of another kind failed", []tag.Tag{tag.Error(errors.New("boom"))})
	if isBindFailure(other) {
		t.Errorf("a fatal whose message says listener is taken for a bind failure: %v", other)
	}
}
