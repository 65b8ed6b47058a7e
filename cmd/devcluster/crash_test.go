package main

// Crash safety of a database file: the devcluster binary is killed with
// SIGKILL while it starts, while it acknowledges workflow starts and while it
// stops; every start it acknowledged must survive a restart on the same file
// and run to completion, and the file must pass SQLite's integrity check.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	_ "modernc.org/sqlite" // driver "sqlite", for PRAGMA integrity_check
)

const (
	crashTaskQueue   = "crash"
	crashSignal      = "go"
	crashWorkflows   = 200 // starts issued per load
	crashKillAfter   = 100 // acknowledged starts before the kill
	crashLoadStreams = 8   // concurrent start calls
)

// WaitForSignal waits for the signal "go" and returns its payload.
func WaitForSignal(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, crashSignal).Receive(ctx, &v)
	return v, nil
}

// fileCluster is a devcluster process on a database file.
type fileCluster struct {
	*proc
	ports string // the ports file of this run
}

// startOnFile starts `devcluster start --profile test` on db. Each run gets
// a ports file of its own: a killed process leaves its file behind.
func startOnFile(t *testing.T, db string, extra ...string) *fileCluster {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(db), "ports-*.json")
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	ports := f.Name()
	if err := os.Remove(ports); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"start", "--profile", "test", "--db-file", db, "--ports-file", ports}, extra...)
	return &fileCluster{proc: startProc(t, args...), ports: ports}
}

// frontend waits for the ports file and returns the frontend address.
func (c *fileCluster) frontend(t *testing.T, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(c.ports); err == nil {
			var p Ports
			if err := json.Unmarshal(b, &p); err != nil || p.Frontend == "" {
				t.Fatalf("ports file %s: %v\n%s", c.ports, err, b)
			}
			return p.Frontend
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ports file within %s\nstderr:\n%s", d, c.stderr.String())
		}
		select {
		case <-c.done:
			t.Fatalf("devcluster exited before it was ready: %v\nstderr:\n%s", c.err, c.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// killNow sends SIGKILL and waits for the process to be gone.
func (c *fileCluster) killNow(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("process still alive 10s after SIGKILL")
	}
}

// stop sends SIGINT and expects a clean exit.
func (c *fileCluster) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0\nstderr:\n%s", code, c.stderr.String())
	}
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after d or if the process exits first.
func waitFor(t *testing.T, p *proc, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		select {
		case <-p.done:
			t.Fatalf("%s: devcluster exited first: %v\nstderr:\n%s", what, p.err, p.stderr.String())
		case <-time.After(time.Millisecond):
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// integrityCheck runs PRAGMA integrity_check on db (no process has it
// open). The connection is read-only: a writable one, the last to close,
// would fold a crashed file's -wal into it and delete it, and devcluster
// cannot tell the file from a copy made without its log then.
func integrityCheck(t *testing.T, db string) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout%3d5000")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	rows, err := conn.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check on %s: %v", db, err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check on %s: %v", db, err)
	}
	if len(out) != 1 || out[0] != "ok" {
		t.Fatalf("integrity_check on %s = %q, want ok", db, out)
	}
}

func dialFrontend(t *testing.T, addr string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "default"})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

// startLoad is a run of crashWorkflows starts of WaitForSignal; reached is
// closed once crashKillAfter of them were acknowledged (or all returned).
type startLoad struct {
	mu      sync.Mutex
	acked   []string
	issued  atomic.Int64
	failed  atomic.Int64
	reached chan struct{}
	once    sync.Once
	wait    func()
}

// runLoad issues the starts (ids prefix-0, prefix-1, ...) on
// crashLoadStreams streams until they are all issued or ctx ends.
func runLoad(ctx context.Context, c client.Client, prefix string) *startLoad {
	l := &startLoad{reached: make(chan struct{})}
	ids := make(chan string)
	go func() {
		defer close(ids)
		for i := range crashWorkflows {
			select {
			case ids <- fmt.Sprintf("%s-%d", prefix, i):
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range crashLoadStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				l.issued.Add(1)
				callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := c.ExecuteWorkflow(callCtx, client.StartWorkflowOptions{ID: id, TaskQueue: crashTaskQueue}, "WaitForSignal")
				cancel()
				if err != nil {
					l.failed.Add(1)
					continue
				}
				l.mu.Lock()
				l.acked = append(l.acked, id)
				n := len(l.acked)
				l.mu.Unlock()
				if n >= crashKillAfter {
					l.once.Do(func() { close(l.reached) })
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		l.once.Do(func() { close(l.reached) }) // fewer acks than hoped: unblock the killer
	}()
	l.wait = wg.Wait
	return l
}

// ackedIDs waits for every stream to return and lists the acknowledged ids.
func (l *startLoad) ackedIDs() []string {
	l.wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

// verifyAcked checks on a running cluster that every acknowledged workflow
// exists and, with a worker, completes with the payload of its signal.
func verifyAcked(t *testing.T, addr string, acked []string) {
	t.Helper()
	c := dialFrontend(t, addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range acked {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatalf("acknowledged workflow %s lost after the crash: %v", id, err)
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Errorf("workflow %s: status %s, want running", id, st)
		}
	}
	w := worker.New(c, crashTaskQueue, worker.Options{})
	w.RegisterWorkflow(WaitForSignal)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(acked))
	var wg sync.WaitGroup
	for _, id := range acked {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.SignalWorkflow(ctx, id, "", crashSignal, "done "+id); err != nil {
				errs <- fmt.Errorf("signal %s: %w", id, err)
				return
			}
			var got string
			if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil {
				errs <- fmt.Errorf("result of %s: %w", id, err)
				return
			}
			if got != "done "+id {
				errs <- fmt.Errorf("result of %s = %q, want %q", id, got, "done "+id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCrashSafetyFileMode kills devcluster with SIGKILL while it starts,
// under load and while it stops, and restarts it on the same file.
func TestCrashSafetyFileMode(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts devcluster several times; skipped with -short")
	}

	t.Run("during start", func(t *testing.T) {
		// Kill points before the ports file: at once, as soon as the database
		// file exists, as soon as SQLite has written its header (the schema is
		// being created), once its WAL exists, half way through the schema.
		points := []struct {
			name string
			at   func(db string) bool
		}{
			{"at once", func(string) bool { return true }},
			{"file created", func(db string) bool { return fileSize(db) >= 0 }},
			{"header written", func(db string) bool { return fileSize(db) > 0 }},
			{"wal written", func(db string) bool { return fileSize(db+"-wal") > 0 }},
			// The execution schema is ~1.6MB of WAL: about half of its tables.
			{"schema half written", func(db string) bool { return fileSize(db+"-wal") > 800<<10 }},
		}
		for _, pt := range points {
			t.Run(pt.name, func(t *testing.T) {
				db := filepath.Join(t.TempDir(), "crash.db")
				c := startOnFile(t, db)
				waitFor(t, c.proc, 30*time.Second, "kill point "+pt.name, func() bool { return pt.at(db) })
				c.killNow(t)
				if _, err := os.Stat(c.ports); err == nil {
					t.Logf("note: the ports file was already written when the kill landed")
				}
				if fileSize(db) > 0 {
					integrityCheck(t, db)
				}
				t.Logf("killed at %q: db %d bytes, wal %d bytes", pt.name, fileSize(db), fileSize(db+"-wal"))

				// The restarted cluster works: one workflow runs to the end.
				restartWorks(t, db, "after-start-crash")
			})
		}
	})

	t.Run("during load", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "crash.db")
		c := startOnFile(t, db)
		addr := c.frontend(t, 30*time.Second)
		cl := dialFrontend(t, addr)
		ctx, cancel := context.WithCancel(context.Background())
		l := runLoad(ctx, cl, "load")
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			<-l.reached
			_ = c.cmd.Process.Kill()
			<-c.done
			cancel() // the starts not yet issued are not issued
		}()
		acked := l.ackedIDs()
		cancel()
		cl.Close()
		select {
		case <-killed:
		case <-time.After(10 * time.Second):
			t.Fatal("process still alive after SIGKILL")
		}
		t.Logf("killed under load: %d starts issued, %d acknowledged, %d failed", l.issued.Load(), len(acked), l.failed.Load())
		if len(acked) < crashKillAfter {
			t.Fatalf("only %d starts acknowledged before the kill, want at least %d", len(acked), crashKillAfter)
		}
		if l.issued.Load() >= crashWorkflows {
			t.Logf("note: every start was issued before the kill landed")
		}
		integrityCheck(t, db)

		r := startOnFile(t, db)
		verifyAcked(t, r.frontend(t, 30*time.Second), acked)
		r.stop(t)
		integrityCheck(t, db)
	})

	t.Run("during shutdown", func(t *testing.T) {
		// SIGINT under load, then SIGKILL a moment later, at three moments
		// of the stop (a test-profile cluster stops in ~50ms), on one file:
		// each restart is the cluster the next round kills.
		db := filepath.Join(t.TempDir(), "crash.db")
		c := startOnFile(t, db)
		addr := c.frontend(t, 30*time.Second)
		landed := 0
		for round, delay := range []time.Duration{2 * time.Millisecond, 15 * time.Millisecond, 35 * time.Millisecond} {
			cl := dialFrontend(t, addr)
			ctx, cancel := context.WithCancel(context.Background())
			l := runLoad(ctx, cl, fmt.Sprintf("shutdown%d", round))
			var sigint, kill time.Time
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				<-l.reached
				sigint = time.Now()
				_ = c.cmd.Process.Signal(syscall.SIGINT)
				deadline := sigint.Add(delay)
			poll:
				for time.Now().Before(deadline) {
					select {
					case <-c.done:
						break poll
					case <-time.After(time.Millisecond):
					}
				}
				kill = time.Now()
				_ = c.cmd.Process.Kill()
				<-c.done
				cancel()
			}()
			acked := l.ackedIDs()
			cancel()
			cl.Close()
			select {
			case <-killed:
			case <-time.After(10 * time.Second):
				t.Fatal("process still alive after SIGKILL")
			}
			exitedAlone := c.cmd.ProcessState.Exited() // false: the SIGKILL ended it
			if !exitedAlone {
				landed++
			}
			t.Logf("round %d: SIGINT, SIGKILL %s later (stop finished first: %v): %d starts issued, %d acknowledged, %d failed",
				round, kill.Sub(sigint).Round(time.Millisecond), exitedAlone, l.issued.Load(), len(acked), l.failed.Load())
			if len(acked) < crashKillAfter {
				t.Fatalf("only %d starts acknowledged, want at least %d", len(acked), crashKillAfter)
			}
			integrityCheck(t, db)

			began := time.Now()
			c = startOnFile(t, db)
			addr = c.frontend(t, 30*time.Second)
			ready := time.Since(began)
			verifyAcked(t, addr, acked)
			t.Logf("round %d: restart ready in %s, %d workflows signalled and completed in %s",
				round, ready.Round(time.Millisecond), len(acked), (time.Since(began) - ready).Round(time.Millisecond))
		}
		c.stop(t)
		integrityCheck(t, db)
		if landed == 0 {
			t.Errorf("every stop finished before its SIGKILL: no kill landed during a shutdown")
		}
	})
}

// TestShutdownDuringStart sends SIGTERM while devcluster is still starting
// on a new database file: it must exit within the stop deadline (the test
// profile's shutdown.timeout is 5s) and leave a file a restart can use.
func TestShutdownDuringStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster several times; skipped with -short")
	}
	points := []struct {
		name string
		at   func(c *fileCluster, db string) bool
	}{
		// The schema is being built beside the database, to be renamed
		// into place when whole.
		{"creating the schema", func(_ *fileCluster, db string) bool { return fileSize(creatingPath(db)) >= 0 }},
		// The schema exists; the services are starting.
		{"starting the services", func(c *fileCluster, _ string) bool {
			return strings.Contains(c.stderr.String(), `msg="database created"`)
		}},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "term.db")
			c := startOnFile(t, db, "--log-level", "info")
			waitFor(t, c.proc, 30*time.Second, pt.name, func() bool { return pt.at(c, db) })
			if _, err := os.Stat(c.ports); err == nil {
				t.Fatalf("the cluster was ready before the SIGTERM; the test missed its point")
			}
			began := time.Now()
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code := c.exitCode(t, 15*time.Second)
			t.Logf("exit %d %s after SIGTERM; stderr:\n%s", code, time.Since(began).Round(time.Millisecond), c.stderr.String())
			if code != 0 && code != exitRuntime {
				t.Errorf("exit code %d, want 0 or %d", code, exitRuntime)
			}
			// The start must end by itself within the stop deadline, not
			// by the watchdog that exits 5 s after it.
			if strings.Contains(c.stderr.String(), "stop took longer than the shutdown timeout") {
				t.Errorf("the interrupted start outlived the shutdown timeout and was cut off by the watchdog")
			}
			if !c.cmd.ProcessState.Exited() {
				t.Errorf("process ended by a signal (%v), want an exit", c.cmd.ProcessState)
			}
			if s := c.stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
				t.Errorf("stack trace on stderr")
			}
			if fileSize(db) > 0 {
				integrityCheck(t, db)
			}

			restartWorks(t, db, "after-term")
		})
	}
}

// creatingPath is where devcluster builds a new database before renaming
// it into place (services.creatingPath).
func creatingPath(db string) string {
	return filepath.Join(filepath.Dir(db), "."+filepath.Base(db)+".creating")
}

// TestKillDuringCreation kills devcluster (SIGKILL) while it builds a new
// database: the database path then holds nothing or a whole database, never
// a half-made one a later start would have to guess about, and a restart
// works.
func TestKillDuringCreation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster several times; skipped with -short")
	}
	db := filepath.Join(t.TempDir(), "kill.db")
	c := startOnFile(t, db)
	waitFor(t, c.proc, 30*time.Second, "creating the schema", func() bool { return fileSize(creatingPath(db)) >= 0 })
	c.killNow(t)
	if fileSize(db) > 0 {
		t.Logf("the database was renamed into place before the kill")
		integrityCheck(t, db)
	}
	restartWorks(t, db, "after-kill")
	if fileSize(creatingPath(db)) >= 0 {
		t.Errorf("%s left behind after a successful start", creatingPath(db))
	}
}

// restartWorks restarts devcluster on db, starts workflow id and runs it
// to the end, stops, and checks the file's integrity.
func restartWorks(t *testing.T, db, id string) {
	t.Helper()
	r := startOnFile(t, db)
	addr := r.frontend(t, 30*time.Second)
	cl := dialFrontend(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: crashTaskQueue}, "WaitForSignal")
	cancel()
	cl.Close()
	if err != nil {
		t.Fatalf("start a workflow after the restart: %v", err)
	}
	verifyAcked(t, addr, []string{id})
	r.stop(t)
	integrityCheck(t, db)
}
