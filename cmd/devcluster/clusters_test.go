package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClustersBadInput: what --clusters refuses, each with exit code 2, a
// message that says why and where the value came from.
func TestClustersBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	single := filepath.Join(dir, "single.db")
	p := startProc(t, "start", "--port=0", "--http-port=0", "--headless", "--db-file", single)
	p.waitBanner(t, 60*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("single cluster: exit code %d", code)
	}
	cfgFile := filepath.Join(dir, "one.yaml")
	if err := os.WriteFile(cfgFile, []byte("clusters: [solo]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"one name", []string{"--clusters", "a"}, []string{"clusters: \"a\" names one cluster", "(from flag --clusters)"}},
		{"one name in a file", []string{"--config", cfgFile}, []string{"names one cluster", "(from file " + cfgFile + ")"}},
		{"duplicate", []string{"--clusters", "a,b,a"}, []string{`names cluster "a" twice`}},
		{"bad name", []string{"--clusters", "a,b/c"}, []string{`"b/c" is not a cluster name`}},
		{"frontend port of the first", []string{"--port", "7300", "--clusters", "a,b:7300"}, []string{`gives cluster "b" port 7300 for its services.frontend.grpc-port, which cluster "a" uses for its services.frontend.grpc-port`}},
		{"ui port of the first", []string{"--port", "7300", "--clusters", "a,b:8300"}, []string{`which cluster "a" uses for its ui.port`}},
		{"single cluster's file", []string{"--port=0", "--http-port=0", "--headless", "--clusters", "a,b", "--db-file", single},
			[]string{"persistence.file: " + single + " exists, and is a single cluster's database", "single.a.db, " + filepath.Join(dir, "single.b.db")}},
		{"tls with a file as cert-dir", []string{"--clusters", "a,b", "--tls", "--cert-dir", cfgFile}, []string{"tls.cert-dir: " + cfgFile + " cannot be created"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runBinary(t, append([]string{"start"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".a.") || strings.Contains(e.Name(), ".b.") {
			t.Errorf("a refused start left %s behind", e.Name())
		}
	}
}

// TestClustersStartPortsFileFailover starts two clusters from the command
// line, reads both from the ports file, fails the default namespace over
// through b's frontend with devcluster failover and back, and stops.
func TestClustersStartPortsFileFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	portsFile := filepath.Join(t.TempDir(), "ports.json")
	p := startProc(t, "start", "--port=0", "--http-port=0", "--headless", "--clusters", "a,b", "--ports-file", portsFile)
	p.waitBanner(t, 90*time.Second)
	var ports Ports
	b, err := os.ReadFile(portsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ports); err != nil {
		t.Fatalf("ports file: %v\n%s", err, b)
	}
	a, bb := ports.Clusters["a"], ports.Clusters["b"]
	if len(ports.Clusters) != 2 || a.Frontend != ports.Frontend || bb.Frontend == "" || bb.Frontend == a.Frontend || bb.HTTP == "" || len(bb.Services) != 4 {
		t.Fatalf("ports file: %s", b)
	}
	for _, want := range []string{"Clusters a, b replicate", "  b        " + bb.Frontend} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("banner does not say %q:\n%s", want, p.stdout.String())
		}
	}

	if code, out, errOut := runBinary(t, "wait-ready", "--address", bb.Frontend, "--timeout", "20s"); code != 0 {
		t.Fatalf("wait-ready at b: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runBinary(t, "failover", "--address", bb.Frontend, "--namespace", "default", "--to", "b")
	if code != 0 || !strings.Contains(out, "namespace default is active on b; every cluster agrees") {
		t.Fatalf("failover to b: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runBinary(t, "failover", "--address", a.Frontend, "--to", "a")
	if code != 0 || !strings.Contains(out, "active on a") {
		t.Fatalf("failover to a: %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runBinary(t, "failover", "--address", a.Frontend, "--to", "c")
	if code != exitRuntime || !strings.Contains(errOut, `knows no connected cluster "c" (it knows a, b)`) {
		t.Fatalf("failover to c: %d\n%s", code, errOut)
	}

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if _, err := os.Stat(portsFile); !os.IsNotExist(err) {
		t.Errorf("ports file should be removed at stop, stat: %v", err)
	}
}

// TestClustersSecureFailoverCLI: `--clusters a,b --profile secure` names
// the client files in its ports file, and `devcluster failover` with them
// and a token (the banner's line) reaches both clusters, each with its own
// CA, and fails over.
func TestClustersSecureFailoverCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	portsFile := filepath.Join(dir, "ports.json")
	certDir := filepath.Join(dir, "certs")
	p := startProc(t, "start", "--port=0", "--http-port=0", "--headless", "--clusters", "a,b", "--profile", "secure", "--cert-dir", certDir, "--ports-file", portsFile)
	p.waitBanner(t, 90*time.Second)
	b, err := os.ReadFile(portsFile)
	if err != nil {
		t.Fatal(err)
	}
	var ports Ports
	if err := json.Unmarshal(b, &ports); err != nil {
		t.Fatalf("ports file: %v\n%s", err, b)
	}
	f := ports.TLS
	if f == nil || f.CA != filepath.Join(certDir, "clusters-frontend-ca.pem") || f.KeyDir != certDir || !f.Auth {
		t.Fatalf("ports file tls: %+v; want the clusters' CA bundle and the key in %s\n%s", f, certDir, b)
	}
	if !strings.Contains(p.stdout.String(), "devcluster failover --address "+ports.Frontend+" --namespace default --to b --tls-cert-path "+f.ClientCert) {
		t.Errorf("banner's failover line lacks the TLS flags:\n%s", p.stdout.String())
	}
	code, tok, errOut := runBinary(t, "token", "--cert-dir", f.KeyDir, "--system-admin")
	if code != 0 {
		t.Fatalf("token: %d %s", code, errOut)
	}
	secure := []string{"--tls-cert-path", f.ClientCert, "--tls-key-path", f.ClientKey, "--tls-ca-path", f.CA, "--tls-server-name", f.ServerName, "--api-key", strings.TrimSpace(tok)}
	code, out, errOut := runBinary(t, append([]string{"failover", "--address", ports.Clusters["b"].Frontend, "--namespace", "default", "--to", "b"}, secure...)...)
	if code != 0 || !strings.Contains(out, "namespace default is active on b; every cluster agrees") {
		t.Fatalf("failover to b: %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runBinary(t, "failover", "--address", ports.Clusters["b"].Frontend, "--namespace", "default", "--to", "a")
	if code == 0 {
		t.Fatalf("failover without TLS succeeded: %s", errOut)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
