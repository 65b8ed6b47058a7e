package testutil_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/testutil"
)

// TestNewNodes: a cluster of three processes in a Go test runs a workflow;
// its history node, killed and started again, rejoins on the same address
// and the cluster runs the next one; the nodes are gone when the test
// ends.
func TestNewNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds devcluster and starts three processes on PostgreSQL")
	}
	if os.Getenv("DCTEST_POSTGRES") == "1" {
		t.Skip("on PostgreSQL in the first pass already")
	}
	t.Parallel()
	pg := pgtest.Shared(t)
	var pids []int
	t.Run("nodes", func(t *testing.T) {
		n := testutil.NewNodes(t, "frontend+worker,history,matching", testutil.WithPostgres(pg.URL("ignored")))
		if len(n.Nodes) != 3 || n.Address() == "" {
			t.Fatalf("%d nodes, frontend %q", len(n.Nodes), n.Address())
		}
		for _, nd := range n.Nodes {
			pids = append(pids, nd.PID())
		}
		n.NewWorker("tq", register)
		echo := func(id, s string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			run, err := n.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "tq"}, Echo, s)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if err := run.Get(ctx, &got); err != nil || got != s {
				t.Fatalf("workflow %s: %q, %v; want %q", id, got, err, s)
			}
		}
		echo("before", "one")

		h := n.Node("node2")
		addr := h.Ports().Services["history"]
		h.Kill()
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		p, err := h.WaitReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Services["history"] != addr || p.Node == nil || p.Node.Membership["history"] == "" {
			t.Errorf("restarted history node: %+v, want history at %s", p, addr)
		}
		echo("after", "two")
	})
	for _, pid := range pids {
		if processRuns(pid) {
			t.Errorf("node pid %d still runs after the test", pid)
		}
	}
}

// processRuns reports whether pid is a process (the nodes are this test
// process's children, reaped when they exit).
func processRuns(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestNewNodesSecure: NewNodes with WithMTLS and WithAuth gives nodes that
// share one CA and signing key (made in the test's directory), and
// ClientOptions that carry the client certificate and an admin token; a
// read token minted with MintToken cannot start a workflow.
func TestNewNodesSecure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds devcluster and starts two processes on PostgreSQL")
	}
	if os.Getenv("DCTEST_POSTGRES") == "1" {
		t.Skip("on PostgreSQL in the first pass already")
	}
	t.Parallel()
	pg := pgtest.Shared(t)
	n := testutil.NewNodes(t, "frontend+worker+matching,history", testutil.WithPostgres(pg.URL("ignored")), testutil.WithMTLS(), testutil.WithAuth())
	if n.CertDir() == "" || n.ClientOptions().ConnectionOptions.TLS == nil || n.ClientOptions().Credentials == nil {
		t.Fatalf("cert dir %q, client options %+v: want TLS and a token", n.CertDir(), n.ClientOptions())
	}
	n.NewWorker("tq", register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := n.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "secure", TaskQueue: "tq"}, Echo, "hi")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hi" {
		t.Fatalf("workflow: %q, %v", got, err)
	}
	o := n.ClientOptions()
	o.Credentials = client.NewAPIKeyStaticCredentials(n.MintToken(auth.Grant{Subject: "reader", Namespace: n.Namespace(), Role: "read"}))
	reader, err := client.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	_, err = reader.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "by-reader", TaskQueue: "tq"}, Echo, "no")
	var pd *serviceerror.PermissionDenied
	if !errors.As(err, &pd) {
		t.Fatalf("start with a read token: %v; want PermissionDenied", err)
	}
}
