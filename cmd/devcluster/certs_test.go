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
