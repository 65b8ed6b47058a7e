package bootstrap_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// countVisibility counts the visibility rows of a database file.
func countVisibility(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM executions_visibility`).Scan(&n); err != nil {
		t.Fatalf("count visibility rows in %s: %v", path, err)
	}
	return n
}

// TestSeparateVisibilityFile keeps visibility records in their own SQLite
// file: a list query finds the workflow, and its row is in that file, not
// in the main database.
func TestSeparateVisibilityFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Persistence.File = filepath.Join(dir, "main.db")
	cfg.Visibility.File = filepath.Join(dir, "visibility.db")
	c := startCluster(t, cfg)
	cl := dial(t, c, "default")
	runWorker(t, cl, "vis")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "vis"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the workflow is listed", func() error {
		resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: "WorkflowId = '" + run.GetID() + "'"})
		if err != nil {
			return err
		}
		if len(resp.Executions) != 1 {
			return errors.New("not listed yet")
		}
		return nil
	})
	_ = cl.TerminateWorkflow(ctx, run.GetID(), "", "done")
	if n := countVisibility(t, cfg.Visibility.File); n < 1 {
		t.Errorf("visibility.db holds %d visibility rows, want the workflow's", n)
	}
	if n := countVisibility(t, cfg.Persistence.File); n != 0 {
		t.Errorf("main.db holds %d visibility rows, want none", n)
	}
}
