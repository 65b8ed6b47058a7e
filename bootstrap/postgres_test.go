package bootstrap_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

// TestPostgresSurvivesRestart runs a cluster on PostgreSQL with the Go SDK:
// devcluster creates both databases, a workflow runs with a worker, one
// waits for a signal; after a restart on the same databases the completed
// workflow's history, the waiting workflow, the namespace, its retention
// and search attributes (plus one added at the second start) are there and
// visibility lists by a custom attribute. A different shard count is then
// refused, naming both numbers.
func TestPostgresSurvivesRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	name, url := pg.NewDatabase(t)
	cfg := testConfig()
	cfg.Persistence.URL = url
	cfg.Persistence.Shards = 2
	cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{
		Name: "orders", Retention: 72 * time.Hour, SearchAttributes: map[string]string{"CustomerId": "Keyword"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	first := startCluster(t, cfg)
	for _, db := range []string{name, name + "_visibility"} {
		if !pg.DatabaseExists(t, db) {
			t.Fatalf("database %s was not created", db)
		}
	}
	cl := dial(t, first, "orders")
	w := worker.New(cl, "tq", worker.Options{})
	w.RegisterWorkflow(ParentWorkflow)
	w.RegisterWorkflow(ChildWorkflow)
	w.RegisterWorkflow(WaitForSignal)
	w.RegisterActivity(Greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	customer := temporal.NewSearchAttributeKeyKeyword("CustomerId")
	parent, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "parent", TaskQueue: "tq",
		TypedSearchAttributes: temporal.NewSearchAttributes(customer.ValueSet("c-1"))}, ParentWorkflow, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SignalWorkflow(ctx, "parent", "", signalGo, "now"); err != nil {
		t.Fatal(err)
	}
	var result string
	if err := parent.Get(ctx, &result); err != nil || result != "hello postgres/now/42" {
		t.Fatalf("parent workflow: %q, %v", result, err)
	}
	if _, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "waiting", TaskQueue: "tq",
		TypedSearchAttributes: temporal.NewSearchAttributes(customer.ValueSet("c-2"))}, WaitForSignal); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	cl.Close()
	stopCluster(t, first)

	// Second life on the same databases, with one more search attribute.
	cfg.Namespaces[1].SearchAttributes["Region"] = "Keyword"
	second := startCluster(t, cfg)
	cl2 := dial(t, second, "orders")
	runWorker(t, cl2, "tq")
	hist := cl2.GetWorkflowHistory(ctx, "parent", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for hist.HasNext() {
		if _, err := hist.Next(); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if events < 10 {
		t.Fatalf("history of the completed workflow has %d events after restart", events)
	}
	if err := cl2.SignalWorkflow(ctx, "waiting", "", signalGo, "again"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := cl2.GetWorkflow(ctx, "waiting", "").Get(ctx, &got); err != nil || got != "got again" {
		t.Fatalf("waiting workflow after restart: %q, %v", got, err)
	}
	desc, err := cl2.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 72*time.Hour {
		t.Errorf("retention after restart %s, want 72h", got)
	}
	sas, err := cl2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"CustomerId", "Region"} {
		if got := sas.GetCustomAttributes()[sa]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s is %v after restart, want Keyword (all: %v)", sa, got, sas.GetCustomAttributes())
		}
	}
	testutil.WaitFor(t, 30*time.Second, "both workflows listed by CustomerId", func() error {
		resp, err := cl2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "orders",
			Query: "CustomerId IN ('c-1', 'c-2') AND ExecutionStatus = 'Completed'"})
		if err != nil {
			return err
		}
		if n := len(resp.GetExecutions()); n != 2 {
			return fmt.Errorf("%d executions listed", n)
		}
		return nil
	})
	if n := pg.QueryString(t, name+"_visibility", `SELECT count(*)::text FROM executions_visibility`); n == "0" {
		t.Error("no visibility rows in the visibility database")
	}
	stopCluster(t, second)

	cfg.Persistence.Shards = 4
	_, err = bootstrap.Start(ctx, cfg, bootstrap.WithLogger(testLogger(t)))
	fes := profiles.FieldErrors(err)
	if len(fes) != 1 || fes[0].Key != "persistence.shards" || !strings.Contains(err.Error(), "persistence.shards: 4 differs from the 2 shard(s) database "+name) {
		t.Fatalf("start with 4 shards: %v; want persistence.shards naming 4 and the database's 2", err)
	}
}

// TestPostgresBadInput: each bad database setting stops the start at once
// with one line naming the key and the fix.
func TestPostgresBadInput(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	tests := []struct {
		name  string
		url   func(db string) string
		want  error
		parts []string
	}{
		{"unreachable", func(db string) string { return "postgres://u:p@127.0.0.1:1/" + db },
			persistence.ErrUnreachable, []string{"persistence.url: cannot reach PostgreSQL at 127.0.0.1:1", "fix HOST:PORT"}},
		{"wrong password", func(db string) string { return strings.Replace(pg.URL(db), ":"+pg.Password+"@", ":nope@", 1) },
			persistence.ErrAuth, []string{"persistence.url: PostgreSQL at " + pg.Addr() + ` refused user "devcluster"`, "fix the user or password"}},
		{"may not create the database", func(db string) string { return pg.RoleURL(pgtest.Limited, db) },
			persistence.ErrPermission, []string{`user "limited" may not create databases`, "CREATEDB"}},
		{"TLS refused", func(db string) string { return pg.URL(db, "sslmode=require") },
			persistence.ErrTLS, []string{"does not offer TLS, which sslmode=require asks for"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.DatabaseName()
			cfg := testConfig()
			cfg.Persistence.URL = tc.url(db)
			began := time.Now()
			err := startRefused(t, cfg)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q lacks %q", err, p)
				}
			}
			if fes := profiles.FieldErrors(err); len(fes) != 1 || strings.Contains(err.Error(), "\n") {
				t.Errorf("want one field error on one line, got %q", err)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("refused after %s", took)
			}
			if pg.DatabaseExists(t, db) {
				t.Errorf("database %s was created", db)
			}
		})
	}
}

// TestPostgresChecksBothBeforeTouchingEither: when the user may set up the
// main database but not the visibility one (it may not create the missing
// visibility database, or may not create tables in an existing one), the
// start is refused before either database is changed: the main database
// keeps no table.
func TestPostgresChecksBothBeforeTouchingEither(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	tests := []struct {
		name    string
		prepare func(db string)
		parts   []string
	}{
		{"visibility database missing", func(db string) {
			pg.MustExec(t, "postgres", fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, db, pgtest.Limited))
		}, []string{`user "limited" may not create databases`, "_visibility", "CREATEDB"}},
		{"no CREATE in the visibility database", func(db string) {
			pg.MustExec(t, "postgres",
				fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, db, pgtest.Limited),
				fmt.Sprintf(`CREATE DATABASE %q`, db+"_visibility"))
			pg.MustExec(t, db+"_visibility", `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
		}, []string{`user "limited" may not create tables in its schema public`, "_visibility", "GRANT CREATE ON SCHEMA public"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.DatabaseName()
			t.Cleanup(func() { pg.Drop(t, db, db+"_visibility") })
			tc.prepare(db)
			cfg := testConfig()
			cfg.Persistence.URL = pg.RoleURL(pgtest.Limited, db)
			err := startRefused(t, cfg)
			if !errors.Is(err, persistence.ErrPermission) {
				t.Errorf("error %v is not %v", err, persistence.ErrPermission)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q lacks %q", err, p)
				}
			}
			if n := pg.QueryString(t, db, `SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'`); n != "0" {
				t.Errorf("the main database %s has %s tables after the refused start, want 0", db, n)
			}
		})
	}
}
