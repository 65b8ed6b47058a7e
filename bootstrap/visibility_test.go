package bootstrap_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/devcluster/devcluster/testutil"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
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
	testutil.WaitFor(t, 10*time.Second, "the workflow is listed", func() error {
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

// visibilityIndexes lists the named indexes of a file's visibility table
// and whether devcluster's table of dropped index definitions is there.
func visibilityIndexes(t *testing.T, path string) (names []string, saved bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'devcluster_dropped_indexes'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return names, n == 1
}

// TestVisibilityIndexes: visibility.indexes=lean (the default) keeps the
// eight indexes of the common queries and drops the rest, and queries on
// dropped columns (a custom keyword, HistoryLength, StateTransitionCount,
// a text search) give the same rows as on the server's full schema, which a
// later start with visibility.indexes=full restores.
func TestVisibilityIndexes(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Persistence.File = filepath.Join(t.TempDir(), "dev.db")
	cfg.Namespaces[0].SearchAttributes = map[string]string{"CustomerId": "Keyword", "Note": "Text"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	queries := []string{
		"CustomerId = 'c-1'",
		"CustomerId = 'c-2' AND ExecutionStatus = 'Completed'",
		"HistoryLength > 3",
		"Note = 'urgent'",
		"StateTransitionCount > 0",
		"WorkflowType = 'ChildWorkflow'",
	}
	want := []int{2, 1, 3, 1, 3, 3}
	counts := func(cl client.Client) error {
		for i, q := range queries {
			resp, err := cl.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: q})
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			if got := resp.GetCount(); got != int64(want[i]) {
				return fmt.Errorf("%s: counted %d, want %d", q, got, want[i])
			}
		}
		return nil
	}

	lean := startCluster(t, cfg)
	names, saved := visibilityIndexes(t, cfg.Persistence.File)
	wantLean := []string{"by_execution_time", "by_parent_workflow_id", "by_root_workflow_id", "by_status",
		"by_task_queue", "by_workflow_id", "by_workflow_type", "default_idx"}
	if !slices.Equal(names, wantLean) || !saved {
		t.Fatalf("lean indexes %v (definitions saved: %v), want %v and saved definitions", names, saved, wantLean)
	}
	cl := dial(t, lean, "default")
	runWorker(t, cl, "idx")
	customer := temporal.NewSearchAttributeKeyKeyword("CustomerId")
	note := temporal.NewSearchAttributeKeyString("Note")
	for i, sa := range []temporal.SearchAttributes{
		temporal.NewSearchAttributes(customer.ValueSet("c-1"), note.ValueSet("urgent")),
		temporal.NewSearchAttributes(customer.ValueSet("c-1")),
		temporal.NewSearchAttributes(customer.ValueSet("c-2")),
	} {
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("idx-%d", i), TaskQueue: "idx", TypedSearchAttributes: sa}, ChildWorkflow, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "lean visibility counts", func() error { return counts(cl) })
	stopCluster(t, lean)

	cfg.Visibility.Indexes = "full"
	full := startCluster(t, cfg)
	names, saved = visibilityIndexes(t, cfg.Persistence.File)
	if len(names) != 58 || saved {
		t.Fatalf("full: %d indexes (definitions table left: %v), want the server's 58 and no table", len(names), saved)
	}
	if err := counts(dial(t, full, "default")); err != nil {
		t.Fatalf("full schema: %v", err)
	}
}
