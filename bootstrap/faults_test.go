package bootstrap_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devcluster/devcluster/testutil"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// TestFullDisk fills the file system under a file database: starts fail
// with an error while the cluster keeps running, and once space is free
// again they succeed; the file passes SQLite's integrity check. It needs
// root to mount a small tmpfs, and skips otherwise.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", disk).Run() })

	cfg := testConfig()
	cfg.Persistence.File = filepath.Join(disk, "dev.db")
	logs, withLogs := keptLogs(t, slog.LevelInfo)
	c := startClusterWith(t, cfg, withLogs)
	cl := dial(t, c, "default")
	runWorker(t, cl, "disk")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	startOne := func() error {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		_, err := cl.ExecuteWorkflow(sctx, client.StartWorkflowOptions{TaskQueue: "disk"}, WaitForSignal)
		return err
	}
	if err := startOne(); err != nil {
		t.Fatalf("before the disk is full: %v", err)
	}

	// Fill the disk.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	_ = f.Close()

	failed := 0
	for i := 0; i < 20 && failed == 0; i++ {
		if err := startOne(); err != nil {
			failed++
			t.Logf("with a full disk a start fails: %v", err)
		}
	}
	if failed == 0 {
		t.Error("every start succeeded on a full disk; the test did not fill it")
	}
	// devcluster says what is wrong, not only the server's retried errors.
	testutil.WaitFor(t, 30*time.Second, "a log line saying the disk is full", func() error {
		if !strings.Contains(logs.String(), "the disk under the database is full") {
			return errors.New("not logged")
		}
		return nil
	})
	if err := c.Err(); err != nil {
		t.Fatalf("the cluster failed on a full disk: %v", err)
	}
	if _, err := cl.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err != nil {
		t.Fatalf("the frontend stopped answering: %v", err)
	}

	// Free the space: starts succeed again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "a start succeeds once space is free", startOne)
	stopCluster(t, c)

	db, err := sql.Open("sqlite", "file:"+cfg.Persistence.File+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Fatalf("integrity_check: %q, %v", result, err)
	}
}

// TestClientsVanishMidPoll closes clients while their workers' long polls
// are open, several times: the cluster keeps serving new clients.
func TestClientsVanishMidPoll(t *testing.T) {
	t.Parallel()
	c := startCluster(t, testConfig())
	for i := 0; i < 3; i++ {
		cl, err := client.Dial(c.ClientOptions("default"))
		if err != nil {
			t.Fatal(err)
		}
		w := worker.New(cl, "vanish", worker.Options{})
		w.RegisterWorkflow(WaitForSignal)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		// Close the connection under the running pollers, without stopping
		// the worker first: what a crashed process looks like to the server.
		cl.Close()
		w.Stop()
	}
	cl := dial(t, c, "default")
	runWorker(t, cl, "after")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "after"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SignalWorkflow(ctx, run.GetID(), "", signalGo, "still here"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || !strings.Contains(got, "still here") {
		t.Fatalf("after vanished clients: %q, %v", got, err)
	}
}

// Contains reports whether any logged line holds s.
