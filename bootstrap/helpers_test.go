package bootstrap_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

// testLogger keeps the cluster's logs (debug up) and prints them through
// t.Log only when the test fails (or always with -v).
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	return testutil.Logger(t, slog.LevelDebug)
}

// testConfig is the default config on free ports.
func testConfig() profiles.Config {
	cfg := profiles.Default()
	cfg.Services.Frontend.GRPCPort = 0
	cfg.Services.Frontend.HTTPPort = 0
	return cfg
}

// startCluster starts cfg and stops it at cleanup.
func startCluster(t testing.TB, cfg profiles.Config) *bootstrap.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() { stopCluster(t, c) })
	return c
}

// startRefused starts cfg (within 30 s) expecting a refusal and returns
// its error; a start that succeeds fails the test.
func startRefused(t testing.TB, cfg profiles.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(testLogger(t)))
	if err == nil {
		stopCluster(t, c)
		t.Fatal("started; want an error")
	}
	return err
}

func stopCluster(t testing.TB, c *bootstrap.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("stop cluster: %v", err)
	}
}

// startClusterWith starts cfg with extra options and stops it at cleanup.
func startClusterWith(t testing.TB, cfg profiles.Config, opts ...bootstrap.Option) *bootstrap.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := bootstrap.Start(ctx, cfg, append([]bootstrap.Option{bootstrap.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() { stopCluster(t, c) })
	return c
}

// keptLogs returns a logger option whose output (from level up) the test
// can read, printed through t.Log if the test fails.
func keptLogs(t testing.TB, level slog.Level) (*syncbuf.Buffer, bootstrap.Option) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", logs.String())
		}
	})
	return logs, bootstrap.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
}
