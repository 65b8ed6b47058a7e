package bootstrap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
)

// TestClustersSecure: `--clusters a,b --profile secure`. Each cluster has
// its own CAs (a client that trusts only a's frontend CA cannot reach b),
// replication runs over mutual TLS with auth on both frontends, and a
// workflow replicates and fails over as without TLS.
func TestClustersSecure(t *testing.T) {
	t.Parallel()
	cfg := clustersConfig("a", "b")
	cfg.TLS.Enabled, cfg.Auth.Enabled = true, true
	cfg.TLS.CertDir = filepath.Join(t.TempDir(), "certs")
	g := startClusters(t, cfg)
	a, b := g.Get("a"), g.Get("b")
	ta, _ := a.TLS()
	tb, _ := b.TLS()
	fa, errA := certs.Fingerprint(ta.Frontend.CAFile)
	fb, errB := certs.Fingerprint(tb.Frontend.CAFile)
	ia, _ := certs.Fingerprint(ta.Internode.CAFile)
	ib, _ := certs.Fingerprint(tb.Internode.CAFile)
	if errA != nil || errB != nil || fa == fb || ia == ib {
		t.Fatalf("frontend CAs %s / %s, internode %s / %s (%v, %v): want each cluster its own", fa, fb, ia, ib, errA, errB)
	}
	if filepath.Dir(ta.Frontend.CAFile) != filepath.Join(cfg.TLS.CertDir, "a") || ta.Client.CAFile != filepath.Join(cfg.TLS.CertDir, bootstrap.ClustersCAFile) {
		t.Errorf("cluster a's CA %s, client CA %s; want them under %s", ta.Frontend.CAFile, ta.Client.CAFile, cfg.TLS.CertDir)
	}
	// Only a's CA: b's frontend is not trusted.
	pair, err := tls.LoadX509KeyPair(ta.Client.CertFile, ta.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	onlyA, err := clientconn.CertPool(ta.Frontend.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	o := b.ClientOptions(profiles.DefaultNamespace)
	o.ConnectionOptions.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: onlyA, ServerName: ta.ServerName}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if c, err := client.NewLazyClient(o); err != nil {
		t.Fatal(err)
	} else {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.WorkflowService().GetSystemInfo(callCtx, &workflowservice.GetSystemInfoRequest{})
		callCancel()
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a client trusting only cluster a's frontend CA, calling cluster b: %v; want a certificate verification failure", err)
		}
	}
	// b's frontend takes a's client certificate (replication presents
	// a's certificates), but it grants nothing without a token: only a's
	// system worker's certificate is pinned as an admin.
	o = b.ClientOptions(profiles.DefaultNamespace)
	o.Credentials = nil
	o.ConnectionOptions.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: mustPool(t, ta.Client.CAFile), ServerName: ta.ServerName}
	if c, err := client.NewLazyClient(o); err != nil {
		t.Fatal(err)
	} else {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: profiles.DefaultNamespace})
		c.Close()
		var pd *serviceerror.PermissionDenied
		if !errors.As(err, &pd) {
			t.Fatalf("describe on b with a's client certificate and no token: %v; want PermissionDenied", err)
		}
	}

	ns := profiles.DefaultNamespace
	ca, cb := dial(t, a, ns), dial(t, b, ns)
	wa := signalWorker(t, ca)
	// b's worker polls from the start, as a standby region's does: its
	// polls wait for queries only until the failover.
	wb := signalWorker(t, cb)
	defer wb.Stop()
	run, err := ca.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "secure-1", TaskQueue: "q"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	took := waitStatus(t, cb, "b", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	t.Logf("replication a -> b over mTLS: %s", took)
	wa.Stop()
	if took, err = g.Failover(ctx, ns, "b"); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover to b: %s", took)
	if err := cb.SignalWorkflow(ctx, run.GetID(), "", signalGo, "from b"); err != nil {
		t.Fatalf("signal through b: %v", err)
	}
	var result string
	if err := cb.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &result); err != nil || result != "got from b" {
		t.Fatalf("result through b: %q, %v", result, err)
	}
	waitStatus(t, ca, "a", run.GetID(), enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	for _, f := range []string{filepath.Join(cfg.TLS.CertDir, "jwt-signing-key.pem")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v; want the clusters' one signing key, 0600", f, err)
		}
	}
}

func mustPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	p, err := clientconn.CertPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClustersSecondFailsToStart: when a cluster after the first cannot
// start (its port is taken), StartClusters stops the ones it started and
// returns the reason, with TLS and without.
func TestClustersSecondFailsToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	t.Parallel()
	for _, secure := range []bool{false, true} {
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := held.Addr().(*net.TCPAddr).Port
		cfg := clustersConfig("a", fmt.Sprintf("b:%d", port))
		cfg.TLS.Enabled = secure
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, err := bootstrap.StartClusters(ctx, cfg)
		cancel()
		_ = held.Close()
		if err == nil {
			_ = g.Stop(context.Background())
			t.Fatalf("tls %v: clusters started with b's port %d taken", secure, port)
		}
		if !strings.Contains(err.Error(), `cluster "b"`) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
			t.Errorf("tls %v: %v; want cluster b's start refused, naming port %d", secure, err, port)
		}
	}
}
