package testutil_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/testutil"
)

// TestWithPostgres: two clusters on one PostgreSQL server each get a fresh
// database, run a workflow and list it by a search attribute; the
// databases are gone once their test ends.
func TestWithPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	var mu sync.Mutex
	var dbs []string
	t.Run("clusters", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := testutil.NewCluster(t, testutil.WithPostgres(pg.URL("ignored")),
					testutil.WithSearchAttributes(map[string]string{"CustomerId": "Keyword"}))
				u := c.Bootstrap().Config().Persistence.URL
				if !strings.Contains(u, "/devcluster_test_") || strings.Contains(u, "/ignored") {
					t.Fatalf("persistence.url = %q, want a fresh devcluster_test_ database", u)
				}
				db := u[strings.LastIndex(u, "/")+1:]
				if !pg.DatabaseExists(t, db) || !pg.DatabaseExists(t, db+"_visibility") {
					t.Fatalf("databases %s and %s_visibility not on the server", db, db)
				}
				mu.Lock()
				dbs = append(dbs, db)
				mu.Unlock()
				c.NewWorker("tq", register)
				ctx := ctxFor(t)
				run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "same-id", TaskQueue: "tq"}, Tag, "acme-"+name)
				if err != nil {
					t.Fatal(err)
				}
				if err := run.Get(ctx, nil); err != nil {
					t.Fatal(err)
				}
				testutil.WaitFor(t, 15*time.Second, "the workflow listed by CustomerId", func() error {
					resp, err := c.Client().ListWorkflow(ctx, listRequest(c.Namespace(), `CustomerId = "acme-`+name+`"`))
					if err != nil {
						return err
					}
					if len(resp.Executions) != 1 {
						return fmt.Errorf("%d executions listed", len(resp.Executions))
					}
					return nil
				})
			})
		}
	})
	if len(dbs) != 2 || dbs[0] == dbs[1] {
		t.Fatalf("databases %v, want two different ones", dbs)
	}
	for _, db := range dbs {
		for _, name := range []string{db, db + "_visibility"} {
			if pg.DatabaseExists(t, name) {
				t.Errorf("database %s left after its test", name)
			}
		}
	}
}
