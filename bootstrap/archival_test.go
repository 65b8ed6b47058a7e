package bootstrap_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

// TestArchival closes a workflow on a cluster with filestore archival and
// checks that its history lands in the archive directory, and that the
// namespace was registered with archival on and the configured URI.
func TestArchival(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	cfg.Archival.History = profiles.ArchivalTarget{Enabled: true, Dir: filepath.Join(dir, "history")}
	cfg.Archival.Visibility = profiles.ArchivalTarget{Enabled: true, Dir: filepath.Join(dir, "visibility")}
	c := startCluster(t, cfg)
	cl := dial(t, c, "default")
	runWorker(t, cl, "archival")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ns.Config.HistoryArchivalUri, "file://"+cfg.Archival.History.Dir; got != want {
		t.Errorf("history archival URI %q, want %q", got, want)
	}
	if ns.Config.HistoryArchivalState.String() != "Enabled" || ns.Config.VisibilityArchivalState.String() != "Enabled" {
		t.Errorf("archival states %v/%v, want Enabled", ns.Config.HistoryArchivalState, ns.Config.VisibilityArchivalState)
	}

	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "archival"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	// WaitForSignal closes when signalled.
	if err := cl.SignalWorkflow(ctx, run.GetID(), "", signalGo, "now"); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "history archived in "+cfg.Archival.History.Dir, func() error {
		n := 0
		err := filepath.WalkDir(cfg.Archival.History.Dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return err
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no archived history file yet")
		}
		return nil
	})
}
