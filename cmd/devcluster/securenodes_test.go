package main

// A secure cluster of several processes on PostgreSQL: one CA and one
// signing key in the directory the nodes share, mutual TLS between them,
// auth on every frontend node, and the nodes that must not join.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/internal/portsfile"
)

// clientTLSFrom loads a client's TLS config from a ports file's tls
// section.
func clientTLSFrom(t *testing.T, f *portsfile.TLS) *tls.Config {
	t.Helper()
	if f == nil {
		t.Fatal("the ports file has no tls section")
	}
	pair, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := clientconn.CertPool(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
}

// transportErr is the error of a health check through creds to addr, nil
// when the server answered (even with Unimplemented): Unavailable means
// the connection was refused (the TLS handshake).
func transportErr(t *testing.T, addr string, creds grpc.DialOption, token string) error {
	t.Helper()
	opts := []grpc.DialOption{creds}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(clientconn.BearerToken{Header: "authorization", Token: token}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if status.Code(err) == codes.Unimplemented || status.Code(err) == codes.NotFound {
		return nil // the server answered: the connection was accepted
	}
	return err
}

// secureWorker dials addr with tlsConfig and token and runs a worker for
// SleepyDouble on "ringpop"; both stop when t ends.
func secureWorker(t *testing.T, addr string, tlsConfig *tls.Config, token string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "default", ConnectionOptions: client.ConnectionOptions{TLS: tlsConfig},
		Credentials: client.NewAPIKeyStaticCredentials(token)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := worker.New(c, "ringpop", worker.Options{})
	w.RegisterWorkflow(SleepyDouble)
	w.RegisterActivity(Double)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}

func tlsCreds(certFile, keyFile, caFile, serverName string) grpc.DialOption {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			panic(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		panic(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AppendCertsFromPEM(pem)
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// TestSecureNodes: five processes (frontend+worker, frontend, history,
// history, matching) with --profile secure and one --cert-dir on
// PostgreSQL. The first node makes the cluster's CA, the others load it
// and issue their own certificates; the real SDK runs workflows with the
// client certificate and a token while a history node is SIGKILLed; the
// frontends refuse clients without the cluster's certificate, the history
// and matching nodes refuse any caller without an internode certificate,
// both frontends hold the auth rules, and nodes started with another
// cluster's directory, or without TLS, do not join and say why.
func TestSecureNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server and five devcluster processes")
	}
	pg := pgtest.Shared(t)
	dbURL := pg.URL(pgtest.DatabaseName())
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	fePort := freePort(t)
	common := []string{"start", "--db-url", dbURL, "--shards", strconv.Itoa(ringpopShards), "--headless", "--http-port", "-1",
		"--port", strconv.Itoa(fePort), "--profile", "secure", "--cert-dir", certDir}
	newNode := func(name, services string, extra ...string) *ringNode {
		ports := filepath.Join(dir, name+".json")
		args := append(append(append([]string{}, common...), "--services", services, "--ports-file", ports), extra...)
		return newRingNode(name, ports, args...)
	}
	fe := newNode("frontend", "frontend+worker")
	fe2Port := freePort(t)
	h1 := newNode("history1", "history")
	h2 := newNode("history2", "history")
	m := newNode("matching", "matching")
	for _, n := range []*ringNode{fe, h1, h2, m} {
		n.start(t)
	}
	ports := map[*ringNode]Ports{}
	for _, n := range []*ringNode{fe, h1, h2, m} {
		ports[n] = n.waitReady(t, 90*time.Second)
	}
	// A second frontend on a port of its own, started once the cluster
	// runs (a frontend node's own port is the only frontend it knows).
	fe2 := newRingNode("frontend2", filepath.Join(dir, "frontend2.json"),
		append(append([]string{}, common[:len(common)-6]...), "--port", strconv.Itoa(fe2Port), "--profile", "secure", "--cert-dir", certDir,
			"--services", "frontend", "--ports-file", filepath.Join(dir, "frontend2.json"))...)
	fe2.start(t)
	ports[fe2] = fe2.waitReady(t, 90*time.Second)

	f := ports[fe].TLS
	if f == nil || f.CertDir != certDir || f.ClientCert != filepath.Join(certDir, certs.ClientCertFile) || !f.Auth || f.KeyDir != certDir {
		t.Fatalf("the frontend node's ports file: tls %+v; want the client files in %s and auth", f, certDir)
	}
	for _, name := range []string{certs.InternodeCAKeyFile, certs.FrontendCAKeyFile, auth.KeyFile} {
		fi, err := os.Stat(filepath.Join(certDir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a 0600 file", name, fi, err)
		}
	}
	key, err := auth.LoadKey(certDir)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(g auth.Grant) string {
		tok, err := key.Mint(g, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin := mint(auth.Grant{Subject: "test-admin", SystemAdmin: true})
	addr, addr2 := ports[fe].Frontend, ports[fe2].Frontend
	clientTLS := clientTLSFrom(t, f)

	// The real SDK through the first frontend, under load, while a
	// history node is killed: every workflow completes.
	c := secureWorker(t, addr, clientTLS, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runs := startBatch(t, ctx, c, "secure-kill", 30)
	h2.Kill()
	checkBatch(t, ctx, runs)

	t.Run("frontend mTLS", func(t *testing.T) {
		other, err := certs.EnsureAuthority(certs.Options{Dir: filepath.Join(t.TempDir(), "other")})
		if err != nil {
			t.Fatal(err)
		}
		ca := f.CA
		for _, a := range []string{addr, addr2} {
			if err := transportErr(t, a, tlsCreds(f.ClientCert, f.ClientKey, ca, f.ServerName), admin); err != nil {
				t.Fatalf("%s with the cluster's client certificate: %v (the control: must be accepted)", a, err)
			}
			for name, creds := range map[string]grpc.DialOption{
				"no client certificate":        tlsCreds("", "", ca, f.ServerName),
				"another CA's certificate":     tlsCreds(other.ClientCert, other.ClientKey, ca, f.ServerName),
				"the wrong server name":        tlsCreds(f.ClientCert, f.ClientKey, ca, "wrong.example"),
				"plaintext":                    grpc.WithTransportCredentials(insecure.NewCredentials()),
				"trusting another frontend CA": tlsCreds(f.ClientCert, f.ClientKey, other.FrontendCA, f.ServerName),
			} {
				if err := transportErr(t, a, creds, ""); status.Code(err) != codes.Unavailable {
					t.Errorf("%s with %s: %v; want the connection refused (Unavailable)", a, name, err)
				}
			}
		}
	})

	t.Run("internode mTLS", func(t *testing.T) {
		own, err := certs.EnsureAuthority(certs.Options{Dir: certDir})
		if err != nil {
			t.Fatal(err)
		}
		mine, err := own.IssueNode(t.TempDir(), nil, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, err := certs.EnsureAuthority(certs.Options{Dir: filepath.Join(t.TempDir(), "other")})
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := other.IssueNode(t.TempDir(), nil, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for role, a := range map[string]string{"history": ports[h1].Services["history"], "matching": ports[m].Services["matching"]} {
			if err := transportErr(t, a, tlsCreds(mine.InternodeCert, mine.InternodeKey, mine.InternodeCA, "127.0.0.1"), ""); err != nil {
				t.Fatalf("%s at %s with this cluster's internode certificate: %v (the control: must be accepted)", role, a, err)
			}
			for name, creds := range map[string]grpc.DialOption{
				"plaintext":                   grpc.WithTransportCredentials(insecure.NewCredentials()),
				"another CA's internode cert": tlsCreds(theirs.InternodeCert, theirs.InternodeKey, mine.InternodeCA, "127.0.0.1"),
				"the frontend's client cert":  tlsCreds(f.ClientCert, f.ClientKey, mine.InternodeCA, "127.0.0.1"),
				"no client certificate":       tlsCreds("", "", mine.InternodeCA, "127.0.0.1"),
			} {
				if err := transportErr(t, a, creds, ""); status.Code(err) != codes.Unavailable {
					t.Errorf("%s at %s with %s: %v; want the connection refused (Unavailable)", role, a, name, err)
				}
			}
		}
	})

	t.Run("auth on the second frontend", func(t *testing.T) {
		dial := func(token string) client.Client {
			o := client.Options{HostPort: addr2, Namespace: "default", ConnectionOptions: client.ConnectionOptions{TLS: clientTLS}}
			if token != "" {
				o.Credentials = client.NewAPIKeyStaticCredentials(token)
			}
			c, err := client.NewLazyClient(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c
		}
		describe := func(c client.Client) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			return err
		}
		start := func(c client.Client, id string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "ringpop"}, SleepyDouble, 1)
			return err
		}
		denied := func(err error) bool {
			var pd *serviceerror.PermissionDenied
			return errors.As(err, &pd) || status.Code(err) == codes.Unauthenticated
		}
		if err := start(dial(admin), "second-frontend"); err != nil {
			t.Fatalf("start with the admin token on the second frontend: %v (the control)", err)
		}
		if err := describe(dial("")); !denied(err) {
			t.Errorf("describe without a token: %v; want PermissionDenied", err)
		}
		if err := start(dial(mint(auth.Grant{Subject: "reader", Namespace: "default", Role: "read"})), "read-token"); !denied(err) {
			t.Errorf("start with a read token: %v; want PermissionDenied", err)
		}
		if err := describe(dial(mint(auth.Grant{Subject: "reader", Namespace: "default", Role: "read"}))); err != nil {
			t.Errorf("describe with a read token: %v; want it allowed", err)
		}
		otherKey, err := auth.EnsureKey(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		forged, err := otherKey.Mint(auth.Grant{Subject: "forger", SystemAdmin: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := describe(dial(forged)); !denied(err) {
			t.Errorf("describe with another key's admin token: %v; want PermissionDenied", err)
		}
	})

	t.Run("nodes that must not join", func(t *testing.T) {
		foreign := filepath.Join(t.TempDir(), "foreign")
		expired := filepath.Join(t.TempDir(), "expired")
		if _, err := certs.EnsureAuthority(certs.Options{Dir: expired, Validity: time.Hour, Now: func() time.Time { return time.Now().Add(-3 * time.Hour) }}); err != nil {
			t.Fatal(err)
		}
		nokey := filepath.Join(t.TempDir(), "nokey")
		if _, err := certs.EnsureAuthority(certs.Options{Dir: nokey}); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(nokey, certs.InternodeCAKeyFile)); err != nil {
			t.Fatal(err)
		}
		base := append([]string{}, common[:len(common)-4]...) // without --profile secure --cert-dir DIR
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"another cluster's directory", append(append([]string{}, base...), "--profile", "secure", "--cert-dir", foreign),
				[]string{"tls.cert-dir", foreign, "holds another cluster's CA", "127.0.0.1:" + strconv.Itoa(fePort), "does not join"}},
			{"a CA without its key", append(append([]string{}, base...), "--profile", "secure", "--cert-dir", nokey),
				[]string{"tls.cert-dir", certs.InternodeCAKeyFile, "is missing"}},
			{"an expired CA", append(append([]string{}, base...), "--profile", "secure", "--cert-dir", expired),
				[]string{"tls.cert-dir", certs.InternodeCAFile, "expired on"}},
			{"no TLS", append([]string{}, base...),
				[]string{"tls.enabled", "speaks TLS", "--profile secure"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := append(append([]string{}, tc.args...), "--services", "history")
				began := time.Now()
				code, _, stderr := runBinary(t, args...)
				if code != exitUsage {
					t.Errorf("exit %d, want %d", code, exitUsage)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, stderr)
					}
				}
				t.Logf("refused in %s", time.Since(began).Round(time.Millisecond))
			})
		}
		// Nothing joined: the cluster runs as before.
		runs := startBatch(t, ctx, c, "after-refusals", 5)
		checkBatch(t, ctx, runs)
	})
}
