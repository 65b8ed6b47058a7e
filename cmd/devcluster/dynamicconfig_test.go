package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/profiles"
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
		{"show: with --http-port 0 the address is filled in at start", []string{"dynamicconfig", "show", "--http-port", "0"}, 0,
			[]string{`"http://${http-address}/namespaces`, "${http-address} is filled in at start"}, nil, nil},
		{"show: with --http-port fixed the address is filled in", []string{"dynamicconfig", "show", "--http-port", "7999"}, 0,
			[]string{`"http://127.0.0.1:7999/namespaces`}, nil, []string{"${http-address}"}},
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

// TestDynamicConfigShowMatchesRunningCluster pins that `dynamicconfig show`
// prints what a running server reads: it starts a cluster in process from
// the same flags (fixed ports, a --config with values, one of them holding
// ${http-address}, and a dynamic-config file) and compares every row show
// prints with the values the server's dynamic-config client serves, the
// switches devcluster adds and the filled-in address included.
func TestDynamicConfigShowMatchesRunningCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	clearEnv(t) // process environment: not parallel
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "devcluster.yaml")
	if err := os.WriteFile(cfgFile, []byte("dynamic-config:\n  values:\n"+
		"    limit.maxIDLength: 300\n"+
		"    frontend.namespaceRPS: 70\n"+
		"    component.nexusoperations.callback.endpoint.template: \"http://${http-address}/cb/{{.NamespaceName}}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dcFile := filepath.Join(dir, "dynamicconfig.yaml")
	if err := os.WriteFile(dcFile, []byte("limit.maxIDLength:\n  - value: 255\nfrontend.namespaceRPS:\n  - value: 50\n    constraints: {namespace: orders}\n  - value: 2400\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	grpcPort, httpPort := freePort(t), freePort(t)
	args := []string{"--config", cfgFile, "--dynamic-config-file", dcFile, "--headless",
		"--port", strconv.Itoa(grpcPort), "--http-port", strconv.Itoa(httpPort)}

	code, stdout, stderr := runCLI(t, append([]string{"dynamicconfig", "show"}, args...)...)
	if code != 0 {
		t.Fatalf("show: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	shown := map[string]dcRow{} // key and constraints -> row
	for _, line := range strings.Split(stdout, "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "KEY ") {
			continue
		}
		f := regexp.MustCompile(`\s{2,}`).Split(line, 4)
		if len(f) != 4 {
			t.Fatalf("show printed a line with %d columns: %q", len(f), line)
		}
		shown[f[0]+" "+f[2]] = dcRow{key: f[0], value: f[1], constraints: f[2], source: f[3]}
	}

	c := startInProcess(t, args...)
	served := c.DynamicConfig()
	want := map[string]dcRow{}
	for k, cvs := range served.Values() {
		s, ok := dynamicconfig.Lookup(k.String())
		if !ok {
			t.Fatalf("the server serves %s, which is not a registered setting", k)
		}
		if l, _ := served.Source(k); l == dynamicconfig.LayerGate {
			// Managed while the cluster runs: show prints the configured
			// value and says so.
			for _, r := range servedRows(s, cvs) {
				if got, ok := shown[r.key+" "+r.constraints]; !ok || !strings.Contains(got.source, "served only around") {
					t.Errorf("show prints %+v for %s; want the managed key with a note", got, r.key)
				}
				delete(shown, r.key+" "+r.constraints)
			}
			continue
		}
		for _, r := range servedRows(s, cvs) {
			want[r.key+" "+r.constraints] = r
		}
	}
	for id, w := range want {
		got, ok := shown[id]
		switch {
		case !ok:
			t.Errorf("the server serves %s = %s (%s); show does not print it", w.key, w.value, w.constraints)
		case got.value != w.value:
			t.Errorf("%s (%s): show prints %s, the server serves %s", w.key, w.constraints, got.value, w.value)
		}
		delete(shown, id)
	}
	for _, got := range shown {
		t.Errorf("show prints %s = %s (%s, from %s); the server does not serve it", got.key, got.value, got.constraints, got.source)
	}
	tmpl := fmt.Sprintf(`"http://127.0.0.1:%d/cb/{{.NamespaceName}}"`, httpPort)
	if !strings.Contains(stdout, tmpl) {
		t.Errorf("show lacks the template with the HTTP address filled in, %s:\n%s", tmpl, stdout)
	}
}

// dcRow is one line `dynamicconfig show` printed.
type dcRow struct{ key, value, constraints, source string }

// servedRows are the lines show should print for the values cvs a running
// server serves for setting s.
func servedRows(s dynamicconfig.Setting, cvs []dynamicconfig.ConstrainedValue) []dcRow {
	var out []dcRow
	for _, r := range bootstrap.DynamicConfigRows(s, cvs, "") {
		out = append(out, dcRow{key: r.Key, value: oneLine(r.Value, 60), constraints: r.Constraints})
	}
	return out
}

// startInProcess starts a cluster in this process from start's flags and
// stops it at cleanup; its log goes to the test when it fails.
func startInProcess(t *testing.T, args ...string) *bootstrap.Cluster {
	t.Helper()
	var loaded *profiles.Loaded
	app := &cli.App{Name: "devcluster", Commands: []*cli.Command{{Name: "load", Flags: startFlags(),
		Action: func(c *cli.Context) (err error) { loaded, err = loadConfig(c, os.Environ()); return err }}}}
	if err := app.Run(append([]string{"devcluster", "load"}, args...)); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := bootstrap.Start(ctx, loaded.Config, bootstrap.WithLogger(bootstrap.NewLogger(&logs, loaded.Config.Log)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}
