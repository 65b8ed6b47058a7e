package bootstrap_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/profiles"
)

func secureConfig(t *testing.T) profiles.Config {
	cfg := testConfig()
	cfg.TLS.Enabled = true
	return cfg
}

// call makes one GetSystemInfo call to addr with creds and returns its error.
func call(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = workflowservice.NewWorkflowServiceClient(conn).GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
	return err
}

func pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

func TestMTLS(t *testing.T) {
	t.Parallel()
	c := startCluster(t, secureConfig(t))
	tlsCfg, on := c.TLS()
	if !on {
		t.Fatal("TLS is not on")
	}

	// The SDK with the generated client certificate runs a workflow.
	cl := dial(t, c, "default")
	runWorker(t, cl, "tls")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tls"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SignalWorkflow(ctx, run.GetID(), "", signalGo, "over TLS"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || !strings.Contains(got, "over TLS") {
		t.Fatalf("workflow over mTLS: %q, %v", got, err)
	}

	// The frontend's HTTP API serves HTTPS with the frontend certificate and
	// wants the client certificate too.
	if h := c.HTTPAddr(); h == "" {
		t.Error("no HTTP API address")
	} else {
		url := "https://" + h + "/api/v1/namespaces"
		withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: c.TLSConfig()}, Timeout: 10 * time.Second}
		resp, err := withCert.Get(url)
		if err != nil {
			t.Errorf("HTTP API over TLS with the client certificate: %v", err)
		} else {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("HTTP API over TLS: %s", resp.Status)
			}
		}
		noCert := c.TLSConfig().Clone()
		noCert.Certificates, noCert.GetClientCertificate = nil, nil
		if resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: noCert}, Timeout: 10 * time.Second}).Get(url); err == nil {
			_ = resp.Body.Close()
			t.Errorf("HTTP API over TLS without a client certificate answered %s; want the handshake refused", resp.Status)
		}
	}

	clientCert, err := tls.LoadX509KeyPair(tlsCfg.Client.CertFile, tlsCfg.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	frontendCAs := pool(t, tlsCfg.Client.CAFile)
	other, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "other")})
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := tls.LoadX509KeyPair(other.ClientCert, other.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	good := &tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: frontendCAs, ServerName: "localhost"}
	if err := call(t, c.FrontendAddr(), credentials.NewTLS(good)); err != nil {
		t.Fatalf("the good client is refused: %v", err)
	}

	refused := []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
		want  string // any of these, separated by |
	}{
		{"no client certificate", c.FrontendAddr(),
			credentials.NewTLS(&tls.Config{RootCAs: frontendCAs, ServerName: "localhost"}), "certificate required|broken pipe|connection reset"},
		{"a client certificate from another CA", c.FrontendAddr(),
			// TLS 1.3: the client may finish its side of the handshake and
			// write before the server's alert arrives.
			credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{otherCert}, RootCAs: frontendCAs, ServerName: "localhost"}), "unknown certificate authority|broken pipe|connection reset"},
		{"a client expecting another server name", c.FrontendAddr(),
			credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: frontendCAs, ServerName: "temporal.example.com"}), "not temporal.example.com"},
		{"a client trusting another CA", c.FrontendAddr(),
			credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: pool(t, other.FrontendCA), ServerName: "localhost"}), "certificate signed by unknown authority"},
		{"plaintext", c.FrontendAddr(), insecure.NewCredentials(), "connection"},
		{"history without an internode certificate", c.ServiceAddr(profiles.History),
			credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: pool(t, tlsCfg.Internode.CAFile), ServerName: "localhost"}),
			// Go sends no certificate the server's CA list does not cover.
			"certificate required|unknown certificate authority|broken pipe|connection reset"},
		{"matching without an internode certificate", c.ServiceAddr(profiles.Matching),
			credentials.NewTLS(&tls.Config{RootCAs: pool(t, tlsCfg.Internode.CAFile), ServerName: "localhost"}), "certificate required|broken pipe|connection reset"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			err := call(t, tc.addr, tc.creds)
			if err == nil {
				t.Fatal("accepted")
			}
			matched := false
			for _, w := range strings.Split(tc.want, "|") {
				matched = matched || strings.Contains(err.Error(), w)
			}
			if !matched {
				t.Errorf("error %q lacks any of %q", err, tc.want)
			}
		})
	}
}

func TestCertDirReusedAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	cfg := secureConfig(t)
	cfg.TLS.CertDir = dir
	c := startCluster(t, cfg)
	first, _ := os.ReadFile(filepath.Join(dir, certs.FrontendCAFile))
	stopCluster(t, c)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("--cert-dir removed at stop: %v", err)
	}
	c2 := startCluster(t, cfg)
	second, _ := os.ReadFile(filepath.Join(dir, certs.FrontendCAFile))
	if len(first) == 0 || !bytes.Equal(first, second) {
		t.Error("the frontend CA changed across a restart on the same cert dir")
	}
	_ = dial(t, c2, "default")
}

func TestTemporaryCertsRemovedAtStop(t *testing.T) {
	t.Parallel()
	c := startCluster(t, secureConfig(t))
	tlsCfg, _ := c.TLS()
	dir := filepath.Dir(tlsCfg.Client.CertFile)
	stopCluster(t, c)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary cert dir %s left behind (%v)", dir, err)
	}
}

func TestUserCertificateFilesChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]profiles.TLSFiles{
		"missing": {CertFile: filepath.Join(dir, "nope.pem"), KeyFile: filepath.Join(dir, "nope-key.pem"), CAFile: filepath.Join(dir, "ca.pem")},
		"not PEM": {CertFile: notPEM, KeyFile: notPEM, CAFile: notPEM},
	} {
		cfg := secureConfig(t)
		cfg.TLS.Frontend = files
		_, err := bootstrap.Start(context.Background(), cfg, bootstrap.WithLogger(testLogger(t)))
		fes := profiles.FieldErrors(err)
		if len(fes) == 0 || !strings.HasPrefix(fes[0].Key, "tls.frontend.") || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s files: error %v; want a tls.frontend.* error naming the file", name, err)
		}
	}
}

// TestUserCertificatesCheckedAtStart: a certificate of one's own that has
// expired, whose key is another's or that lacks the server name is refused
// by Start before the server starts (instead of a start-up timeout), with
// the key and the file.
func TestUserCertificatesCheckedAtStart(t *testing.T) {
	t.Parallel()
	good, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "good")})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "old"), Now: func() time.Time { return time.Now().Add(-96 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		files      profiles.TLSFiles
		serverName string
		key        string
		want       []string
	}{
		{"expired", profiles.TLSFiles{CertFile: old.FrontendCert, KeyFile: old.FrontendKey, CAFile: good.FrontendCA}, "",
			"tls.frontend.cert-file", []string{old.FrontendCert + " expired on", "(NotAfter); issue a new certificate or remove the tls.frontend settings"}},
		{"expired CA", profiles.TLSFiles{CertFile: good.FrontendCert, KeyFile: good.FrontendKey, CAFile: old.FrontendCA}, "",
			"tls.frontend.ca-file", []string{old.FrontendCA + " expired on"}},
		{"another certificate's key", profiles.TLSFiles{CertFile: good.FrontendCert, KeyFile: good.ClientKey, CAFile: good.FrontendCA}, "",
			"tls.frontend.key-file", []string{good.ClientKey + " is not the key of the certificate in " + good.FrontendCert}},
		{"server name not in the SANs", profiles.TLSFiles{CertFile: good.FrontendCert, KeyFile: good.FrontendKey, CAFile: good.FrontendCA}, "temporal.example.org",
			"tls.frontend.cert-file", []string{"lacks SAN temporal.example.org", "tls.server-name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := secureConfig(t)
			cfg.TLS.Frontend = tc.files
			if tc.serverName != "" {
				cfg.TLS.ServerName = tc.serverName
			}
			c, err := bootstrap.Start(context.Background(), cfg, bootstrap.WithLogger(testLogger(t)))
			if err == nil {
				stopCluster(t, c)
				t.Fatal("started")
			}
			fes := profiles.FieldErrors(err)
			if len(fes) != 1 || fes[0].Key != tc.key {
				t.Fatalf("error %v; want one %s error", err, tc.key)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestUserCertificateFiles starts a cluster on certificate files of one's
// own (here made by the certs package into a directory devcluster does not
// manage) with tls.require-client-auth off: the SDK connects with the CA
// alone, and with the client certificate too.
func TestUserCertificateFiles(t *testing.T) {
	t.Parallel()
	set, _, err := certs.Ensure(certs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := secureConfig(t)
	cfg.TLS.RequireClientAuth = false
	cfg.TLS.Internode = profiles.TLSFiles{CertFile: set.InternodeCert, KeyFile: set.InternodeKey, CAFile: set.InternodeCA}
	cfg.TLS.Frontend = profiles.TLSFiles{CertFile: set.FrontendCert, KeyFile: set.FrontendKey, CAFile: set.FrontendCA}
	cfg.TLS.SystemWorker = profiles.TLSFiles{CertFile: set.SystemWorkerCert, KeyFile: set.SystemWorkerKey}
	cfg.TLS.Client = profiles.TLSFiles{CertFile: set.ClientCert, KeyFile: set.ClientKey, CAFile: set.FrontendCA}
	c := startCluster(t, cfg)
	if got, _ := c.TLS(); got.Frontend.CertFile != set.FrontendCert {
		t.Fatalf("the cluster serves %s, want the user's %s", got.Frontend.CertFile, set.FrontendCert)
	}
	if err := describe(dial(t, c, "default"), "default"); err != nil {
		t.Fatalf("SDK with the user's client certificate: %v", err)
	}
	caOnly := c.TLSConfig().Clone()
	caOnly.Certificates, caOnly.GetClientCertificate = nil, nil
	if err := call(t, c.FrontendAddr(), credentials.NewTLS(caOnly)); err != nil {
		t.Fatalf("without a client certificate, tls.require-client-auth off: %v", err)
	}
}

// TestUserFrontendWithGeneratedClients: the frontend's certificate, key
// and CA of one's own (a CA made here, not devcluster's) with everything
// else generated. The system worker's and the client's certificates can
// only come from devcluster's CA, so the frontend trusts that one for
// client certificates too, and clients check the frontend with the user's
// CA. The cluster becomes ready, which includes its system worker having
// started the scanner workflows through the frontend.
func TestUserFrontendWithGeneratedClients(t *testing.T) {
	t.Parallel()
	user, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "user")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := secureConfig(t)
	cfg.TLS.Frontend = profiles.TLSFiles{CertFile: user.FrontendCert, KeyFile: user.FrontendKey, CAFile: user.FrontendCA}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("start with the user's frontend files: %v", err)
	}
	t.Cleanup(func() { stopCluster(t, c) })
	t.Logf("ready in %s", time.Since(began).Round(time.Millisecond))
	got, _ := c.TLS()
	if got.Frontend.CertFile != user.FrontendCert || got.Client.CAFile != user.FrontendCA {
		t.Errorf("frontend %s, client CA %s; want the user's %s and %s", got.Frontend.CertFile, got.Client.CAFile, user.FrontendCert, user.FrontendCA)
	}
	if strings.HasPrefix(got.SystemWorker.CertFile, filepath.Dir(user.FrontendCert)) {
		t.Errorf("system worker certificate %s is the user's; want a generated one", got.SystemWorker.CertFile)
	}
	if err := describe(dial(t, c, "default"), "default"); err != nil {
		t.Fatalf("SDK with the generated client certificate: %v", err)
	}
	// The user's own client certificate (from the user's CA) is accepted too.
	own := c.TLSConfig().Clone()
	pair, err := tls.LoadX509KeyPair(user.ClientCert, user.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	own.Certificates, own.GetClientCertificate = []tls.Certificate{pair}, nil
	if err := call(t, c.FrontendAddr(), credentials.NewTLS(own)); err != nil {
		t.Errorf("the user's client certificate: %v", err)
	}
}

// TestTLSMixRefused: a mix of one's own and generated files that cannot
// work is refused by Start at once, before anything starts, naming the
// keys and what must come from the user, with the temporary key directory
// removed.
func TestTLSMixRefused(t *testing.T) {
	t.Parallel()
	user, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "user")})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "other")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*profiles.TLS)
		want map[string]string // key -> text its message has
	}{
		{"own system worker, generated frontend", func(t *profiles.TLS) {
			t.SystemWorker = profiles.TLSFiles{CertFile: user.SystemWorkerCert, KeyFile: user.SystemWorkerKey}
		}, map[string]string{"tls.system-worker.cert-file": "give tls.frontend.{cert-file,key-file,ca-file} too"}},
		{"own client, generated frontend", func(t *profiles.TLS) {
			t.Client = profiles.TLSFiles{CertFile: user.ClientCert, KeyFile: user.ClientKey, CAFile: user.FrontendCA}
		}, map[string]string{"tls.client.ca-file": "does not verify the frontend's generated certificate",
			"tls.client.cert-file": "give tls.frontend.{cert-file,key-file,ca-file} too"}},
		{"frontend CA that did not sign the frontend", func(t *profiles.TLS) {
			t.Frontend = profiles.TLSFiles{CertFile: user.FrontendCert, KeyFile: user.FrontendKey, CAFile: other.FrontendCA}
		}, map[string]string{"tls.frontend.ca-file": "give tls.client.{cert-file,key-file,ca-file} with that CA"}},
		{"own system worker from another CA than the frontend's", func(t *profiles.TLS) {
			t.Frontend = profiles.TLSFiles{CertFile: user.FrontendCert, KeyFile: user.FrontendKey, CAFile: user.FrontendCA}
			t.SystemWorker = profiles.TLSFiles{CertFile: other.SystemWorkerCert, KeyFile: other.SystemWorkerKey}
		}, map[string]string{"tls.system-worker.cert-file": "is not accepted by the frontend (tls.frontend.ca-file " + user.FrontendCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := secureConfig(t)
			cfg.TLS.CertDir = filepath.Join(t.TempDir(), "generated")
			tc.set(&cfg.TLS)
			began := time.Now()
			c, err := bootstrap.Start(context.Background(), cfg, bootstrap.WithLogger(testLogger(t)))
			if err == nil {
				stopCluster(t, c)
				t.Fatal("started")
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("refused after %s; want at once", took)
			}
			fes := profiles.FieldErrors(err)
			got := map[string]string{}
			for _, fe := range fes {
				got[fe.Key] = fe.Error()
			}
			if len(got) != len(tc.want) {
				t.Errorf("errors for %d keys, want %v:\n%v", len(got), tc.want, err)
			}
			for key, text := range tc.want {
				if !strings.Contains(got[key], text) {
					t.Errorf("%s: %q; want it to say %q", key, got[key], text)
				}
			}
		})
	}
}

// TestUserCASystemWorkerNameIsNotAdmin: with auth on and the frontend
// trusting the user's CA for client certificates, a certificate that CA
// issued with the system worker's common name gets no rights without a
// token: only the system worker's own certificate is the system admin.
// (The name alone used to be enough: anyone the user's CA serves could
// name a certificate temporal-system-worker and administer the cluster.)
func TestUserCASystemWorkerNameIsNotAdmin(t *testing.T) {
	t.Parallel()
	user, _, err := certs.Ensure(certs.Options{Dir: filepath.Join(t.TempDir(), "user")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := authConfig()
	cfg.TLS.Frontend = profiles.TLSFiles{CertFile: user.FrontendCert, KeyFile: user.FrontendKey, CAFile: user.FrontendCA}
	c := startCluster(t, cfg)
	impostor := c.TLSConfig().Clone()
	pair, err := tls.LoadX509KeyPair(user.SystemWorkerCert, user.SystemWorkerKey)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err != nil || leaf.Subject.CommonName != certs.SystemWorkerCommonName {
		t.Fatalf("the user's CA's certificate: %v, CN %q; want CN %s", err, leaf.Subject.CommonName, certs.SystemWorkerCommonName)
	}
	impostor.Certificates, impostor.GetClientCertificate = []tls.Certificate{pair}, nil
	conn, err := grpc.NewClient(c.FrontendAddr(), grpc.WithTransportCredentials(credentials.NewTLS(impostor)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = workflowservice.NewWorkflowServiceClient(conn).DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DescribeNamespace with the user's CA's %s certificate and no token: %v; want PermissionDenied", certs.SystemWorkerCommonName, err)
	}
	// The cluster's own system worker still is admin: the start waited for
	// its scanner workflows, and it still answers with a token.
	if err := describe(dial(t, c, "default"), "default"); err != nil {
		t.Fatalf("the admin client: %v", err)
	}
}
