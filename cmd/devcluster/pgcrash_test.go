package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
)

// TestCrashSafetyPostgres: devcluster on a PostgreSQL with its own
// durability settings is killed (SIGKILL) under a load of workflow starts,
// and PostgreSQL is stopped at once right after it (an immediate shutdown:
// no checkpoint, its unwritten buffers lost). PostgreSQL started again
// recovers from its write-ahead log, devcluster started again on the same
// database finds every start it acknowledged, and each of those workflows
// completes with a worker. devcluster's choices on PostgreSQL (its pool
// sizes, the lean visibility indexes) must never cost an acknowledged
// workflow.
func TestCrashSafetyPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.StartDurable(t)
	_, url := pg.NewDatabase(t)
	dir := t.TempDir()
	start := func(ports string) *fileCluster {
		return &fileCluster{proc: startProc(t, "start", "--profile", "test", "--db-url", url, "--ports-file", ports), ports: ports}
	}

	c := start(filepath.Join(dir, "ports-1.json"))
	cl := dialFrontend(t, c.frontend(t, 90*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	load := runLoad(ctx, cl, "pg")
	<-load.reached
	c.killNow(t)
	pg.Crash(t)
	cancel()
	acked := load.ackedIDs()
	cl.Close()
	if len(acked) < crashKillAfter {
		t.Fatalf("only %d starts acknowledged before the kill (want %d): the load did not run\nstderr:\n%s",
			len(acked), crashKillAfter, c.stderr.String())
	}
	t.Logf("%d of %d starts acknowledged before the kill", len(acked), load.issued.Load())

	pg.Restart(t)
	c2 := start(filepath.Join(dir, "ports-2.json"))
	verifyAcked(t, c2.frontend(t, 90*time.Second), acked)
	c2.stop(t)
}
