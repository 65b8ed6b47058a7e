package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDynamicConfigCommands runs `devcluster dynamicconfig keys|show|validate`
// and `devcluster features` as a user would, in process.
func TestDynamicConfigCommands(t *testing.T) {
	clearEnv(t) // process environment: not parallel
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("limit.maxIDLength:\n  - value: 255\nfrontend.namespaceRPS:\n  - value: 50\n    constraints: {namespace: orders}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	freshOff := filepath.Join(dir, "fresh-off.yaml")
	if err := os.WriteFile(freshOff, []byte("server:\n  fresh-reads-after-change: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("limit.maxIDLenght:\n  - value: 255\nfrontend.namespaceRPS:\n  - value: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   []string // each must appear
		stderr   []string
		notInOut []string
	}{
		{"keys filters by text", []string{"dynamicconfig", "keys", "maxIDLength"}, 0,
			[]string{"limit.maxIDLength", "int", "Global", "1000"}, nil, []string{"frontend.namespaceRPS"}},
		{"keys -l describes", []string{"dynamicconfig", "keys", "-l", "limit.maxIDLength"}, 0,
			[]string{"limit.maxIDLength", "length limit for various IDs"}, nil, nil},
		{"show: a flag over the profiles", []string{"dynamicconfig", "show", "--dynamic-config-value", "limit.maxIDLength=300"}, 0,
			[]string{"limit.maxIDLength", "300", "flag --dynamic-config-value", "frontend.enableServerVersionCheck", "default"}, nil, nil},
		{"show: the managed key says so", []string{"dynamicconfig", "show"}, 0,
			[]string{"system.forceSearchAttributesCacheRefreshOnRead", "served only around namespace and search-attribute changes"}, nil, nil},
		{"show: the managed key as configured with server.fresh-reads-after-change off", []string{"dynamicconfig", "show", "--config", freshOff}, 0,
			[]string{"system.forceSearchAttributesCacheRefreshOnRead"}, nil, []string{"served only around"}},
		{"show: the file wins over the flag", []string{"dynamicconfig", "show", "--dynamic-config-value", "limit.maxIDLength=300", "--dynamic-config-file", good}, 0,
			[]string{"limit.maxIDLength", "255", "namespace=orders", good}, nil, nil},
		{"validate a good file", []string{"dynamicconfig", "validate", good}, 0,
			[]string{good + " is valid: 2 key(s)"}, nil, nil},
		{"validate a bad file: every problem with its line", []string{"dynamicconfig", "validate", bad}, 2,
			nil, []string{bad + ":1: limit.maxIDLenght", "did you mean limit.maxIDLength", bad + ":4: frontend.namespaceRPS", "want an int"}, nil},
		{"validate a missing file", []string{"dynamicconfig", "validate", filepath.Join(dir, "nope.yaml")}, 2,
			nil, []string{"nope.yaml"}, nil},
		{"features: every group on", []string{"features"}, 0,
			[]string{"versioning     on", "workflow-apis  on", "--dynamic-config-value 'frontend.WorkflowPauseEnabled=false'"}, nil, []string{"  off  "}},
		{"features: a flag turns a group off and says why", []string{"features", "--dynamic-config-value", "frontend.WorkflowPauseEnabled=false"}, 0,
			[]string{"workflow-apis  off", "workflow-apis is off because: frontend.WorkflowPauseEnabled = false", "versioning     on"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.notInOut {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
		})
	}
}
