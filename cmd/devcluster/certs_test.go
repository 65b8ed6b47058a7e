package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsGenerateErrorsNameFlags: `certs generate` reports a bad value
// under the flag the user typed, never the certs.Options field it fills.
func TestCertsGenerateErrorsNameFlags(t *testing.T) {
	clearEnv(t) // process environment: not parallel
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no --dir", nil, []string{"--dir"}},
		{"--dir is a file", []string{"--dir", file}, []string{"flag --dir: " + file, "not a directory"}},
		{"--dir cannot be created", []string{"--dir", filepath.Join(file, "sub")}, []string{"flag --dir: " + filepath.Join(file, "sub")}},
		{"negative --validity", []string{"--dir", t.TempDir(), "--validity", "-1h"}, []string{"flag --validity: -1h0m0s is negative"}},
		{"--host with a port", []string{"--dir", t.TempDir(), "--host", "devbox:7233"}, []string{`flag --host: "devbox:7233"`, "without port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"certs", "generate"}, tc.args...)...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit %d and nothing on stdout", code, stdout, exitUsage)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "Options.") {
				t.Errorf("stderr %q names a Go field", stderr)
			}
		})
	}
}

// TestCertsGenerateCluster: `certs generate --cluster` makes a cluster's
// authority (the CA keys 0600), reuses it on a second run, and a
// directory from `certs generate` without it is refused by a node with the
// reason.
func TestCertsGenerateCluster(t *testing.T) {
	clearEnv(t) // process environment: not parallel
	dir := filepath.Join(t.TempDir(), "ca")
	code, stdout, stderr := runCLI(t, "certs", "generate", "--cluster", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "made a cluster's CA in "+dir) {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"internode-ca-key.pem", "frontend-ca-key.pem", "client-key.pem", "system-worker-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v; want a 0600 file", f, err)
		}
	}
	if code, stdout, _ := runCLI(t, "certs", "generate", "--cluster", "--dir", dir); code != 0 || !strings.Contains(stdout, "reused the cluster's CA") {
		t.Errorf("second run: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "certs", "generate", "--cluster", "--force", "--dir", dir); code != exitUsage || !strings.Contains(stderr, "never replaced in place") {
		t.Errorf("--cluster --force: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "certs", "generate", "--dir", dir); code != exitUsage || !strings.Contains(stderr, "holds a cluster's CA") {
		t.Errorf("certs generate without --cluster on a cluster's directory: exit %d\n%s", code, stderr)
	}
	single := filepath.Join(t.TempDir(), "single")
	if code, _, stderr := runCLI(t, "certs", "generate", "--dir", single); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr = runCLI(t, "start", "--services", "history", "--db-url", "postgres://u@127.0.0.1:1/db", "--tls", "--cert-dir", single)
	if code != exitUsage || !strings.Contains(stderr, "internode-ca-key.pem is missing") || !strings.Contains(stderr, "without --cluster") {
		t.Errorf("a node on a single process's set: exit %d\n%s", code, stderr)
	}
}
