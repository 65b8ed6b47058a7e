package main

// These tests run the config subcommands in-process through run(): golden
// files for `config show --sources` and `config export`, and the exit code
// and message of `config validate`.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// clearEnv unsets every DEVCLUSTER_* variable for the test (restored after).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DEVCLUSTER_") {
			t.Setenv(name, "") // restores the value at cleanup
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runCLI runs devcluster in-process with args and returns the exit code and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"devcluster"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/devcluster -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines that differ, for a readable failure.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// goldenArgs is the fixed configuration of the golden tests: every layer
// (default, profile, file, environment, flags) sets something.
var goldenArgs = []string{
	"--profile", "ci",
	"--config", "testdata/golden-config.yaml",
	"--port", "7300",
	"--dynamic-config-value", "limit.maxIDLength=300",
	"--namespace", "orders",
}

// goldenEnv sets the environment layer of the golden tests.
func goldenEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("DEVCLUSTER_LOG_FORMAT", "text")
	t.Setenv("DEVCLUSTER_SHUTDOWN_TIMEOUT", "3s")
}

// placeholderCwd replaces the working directory (in archival URIs) by <cwd>.
func placeholderCwd(t *testing.T, s string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, filepath.ToSlash(wd), "<cwd>")
}

func TestGoldenConfigShowSources(t *testing.T) {
	goldenEnv(t)
	code, stdout, stderr := runCLI(t, append([]string{"config", "show", "--sources"}, goldenArgs...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	golden(t, "config-show-sources.golden", stdout)

	// Whatever the golden file says, each layer is named where it applies.
	for _, want := range []string{
		"services.frontend.grpc-port ", "flag --port",
		"profile ci", "file testdata/golden-config.yaml",
		"env DEVCLUSTER_LOG_FORMAT", "flag --dynamic-config-value",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		// "key = value  # origin"
		kv, origin, _ := strings.Cut(line, "  # ")
		key, value, _ := strings.Cut(kv, " = ")
		fields := []string{key, value, origin}
		switch fields[0] {
		case "dynamic-config.values.limit.maxIDLength":
			if fields[1] != "300" || fields[2] != "flag --dynamic-config-value" {
				t.Errorf("line %q, want 300 from flag --dynamic-config-value", line)
			}
		case "persistence.file":
			if fields[1] != `"data/cluster.db"` || fields[2] != "file testdata/golden-config.yaml" {
				t.Errorf("line %q, want data/cluster.db from the file", line)
			}
		case "shutdown.timeout":
			if fields[2] != "env DEVCLUSTER_SHUTDOWN_TIMEOUT" {
				t.Errorf("line %q, want it from env DEVCLUSTER_SHUTDOWN_TIMEOUT", line)
			}
		}
	}
}

func TestGoldenConfigExport(t *testing.T) {
	goldenEnv(t)
	code, stdout, stderr := runCLI(t, append([]string{"config", "export"}, goldenArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	golden(t, "config-export.golden", placeholderCwd(t, stdout))
	golden(t, "config-export-dynamic.golden", stderr)

	// --dynamic-config-out writes the same dynamic config to a file instead.
	out := filepath.Join(t.TempDir(), "dynamic.yaml")
	code, stdout2, stderr2 := runCLI(t, append([]string{"config", "export", "--dynamic-config-out", out}, goldenArgs...)...)
	if code != 0 || stderr2 != "" {
		t.Fatalf("with --dynamic-config-out: exit %d, stderr:\n%s", code, stderr2)
	}
	// The static config then names that file instead of the default (and
	// drops the line saying how to write it); nothing else changes.
	wantStatic := strings.Replace(stdout, "# dynamicConfigClient reads dynamicconfig.yaml: write it with --dynamic-config-out dynamicconfig.yaml.\n", "", 1)
	wantStatic = strings.Replace(wantStatic, "filepath: dynamicconfig.yaml", "filepath: "+out, 1)
	if stdout2 != wantStatic || !strings.Contains(stdout, "filepath: dynamicconfig.yaml") {
		t.Errorf("with --dynamic-config-out the static config is:\n%s\nwant:\n%s", stdout2, wantStatic)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(stderr, "\n"); string(b) != body {
		t.Errorf("--dynamic-config-out wrote:\n%s\nwant what stderr showed:\n%s", b, body)
	}
}

func TestConfigShowJSON(t *testing.T) {
	clearEnv(t)
	code, stdout, stderr := runCLI(t, "config", "show", "--format", "json", "--profile", "persistent",
		"--port", "7300", "--dynamic-config-value", "limit.maxIDLength=300", "--namespace", "orders")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var tree struct {
		Services struct {
			Frontend struct {
				GRPCPort int `json:"grpc-port"`
			} `json:"frontend"`
		} `json:"services"`
		Persistence struct {
			File string `json:"file"`
		} `json:"persistence"`
		Namespaces []struct {
			Name      string `json:"name"`
			Retention string `json:"retention"`
		} `json:"namespaces"`
		DynamicConfig struct {
			Values map[string]any `json:"values"`
		} `json:"dynamic-config"`
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("config show --format json is not JSON: %v\n%s", err, stdout)
	}
	if err := json.Unmarshal([]byte(stdout), &tree); err != nil {
		t.Fatalf("unexpected JSON shape: %v\n%s", err, stdout)
	}
	if tree.Services.Frontend.GRPCPort != 7300 {
		t.Errorf("services.frontend.grpc-port = %d, want 7300", tree.Services.Frontend.GRPCPort)
	}
	if tree.Persistence.File != filepath.Join(".devcluster", "devcluster.db") {
		t.Errorf("persistence.file = %q", tree.Persistence.File)
	}
	if len(tree.Namespaces) != 2 || tree.Namespaces[0].Name != "default" || tree.Namespaces[1].Name != "orders" || tree.Namespaces[1].Retention != "24h0m0s" {
		t.Errorf("namespaces = %+v, want default then orders (24h0m0s)", tree.Namespaces)
	}
	if v, ok := tree.DynamicConfig.Values["limit.maxIDLength"]; !ok || v != float64(300) {
		t.Errorf("dynamic-config.values[limit.maxIDLength] = %v, want 300 under its dotted key", v)
	}
	for _, key := range profiles.Keys() {
		parts := profiles.KeyPath(key)
		var m any = raw
		for _, p := range parts {
			mm, ok := m.(map[string]any)
			if !ok {
				break
			}
			m, ok = mm[p]
			if !ok {
				t.Errorf("JSON lacks key %s", key)
				break
			}
		}
	}

	// An unknown format is a usage error.
	code, stdout, stderr = runCLI(t, "config", "show", "--format", "xml")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `flag --format: "xml" is not a format; use yaml or json`) {
		t.Errorf("--format xml: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestConfigValidateBuiltinProfiles(t *testing.T) {
	clearEnv(t)
	names := profiles.Builtin()
	if len(names) < 4 {
		t.Fatalf("Builtin() = %v, want at least ci, dev, persistent, test", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "config", "validate", "--profile", name)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if want := "config is valid (profiles: " + name + ")\n"; stdout != want {
				t.Errorf("stdout %q, want %q", stdout, want)
			}
		})
	}
	// All together, in one go.
	code, stdout, stderr := runCLI(t, "config", "validate", "--profile", strings.Join(names, ","))
	if code != 0 || !strings.Contains(stdout, "config is valid (profiles: "+strings.Join(names, ", ")+")") {
		t.Errorf("all profiles: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestConfigValidateBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	shards := write("shards.yaml", "persistence:\n  shards: 0\n")
	unknown := write("unknown.yaml", "log:\n  levle: debug\n")
	badTOML := write("bad.toml", "[log]\nlevel = \n")
	temporal := write("temporal.yaml", "temporal:\n  global:\n    nope: 1\n")
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // parts of the stderr line
	}{
		{"port out of range from a flag", []string{"--port", "70000"}, nil,
			[]string{"services.frontend.grpc-port: 70000 is not a valid port", "(from flag --port)"}},
		{"colliding ports from flags", []string{"--history-port", "7301", "--matching-port", "7301"}, nil,
			[]string{"services.matching.grpc-port: 7301 is also used by services.history.grpc-port", "(from flag --matching-port)"}},
		{"bad IP from a flag", []string{"--ip", "300.1.2.3"}, nil,
			[]string{`ip: "300.1.2.3" is not an IP address`, "(from flag --ip)"}},
		{"bad log level from the environment", nil, map[string]string{"DEVCLUSTER_LOG_LEVEL": "loud"},
			[]string{`log.level: "loud" is not a log level`, "(from env DEVCLUSTER_LOG_LEVEL)"}},
		{"wrong type from the environment", nil, map[string]string{"DEVCLUSTER_PERSISTENCE_SHARDS": "many"},
			[]string{`persistence.shards: "many" is not a whole number`, "(from env DEVCLUSTER_PERSISTENCE_SHARDS)"}},
		{"unknown variable", nil, map[string]string{"DEVCLUSTER_PORT": "7300"},
			[]string{"DEVCLUSTER_PORT: is not a devcluster variable", "(from environment)"}},
		{"shards from a file", []string{"--config", shards}, nil,
			[]string{"persistence.shards: 0 must be at least 1", "(from file " + shards + ")"}},
		{"unknown key in a file", []string{"--config", unknown}, nil,
			[]string{"log.levle: is not a devcluster setting; did you mean log.level", "(from file " + unknown + ")"}},
		{"malformed TOML file", []string{"--config", badTOML}, nil,
			[]string{"config file: " + badTOML + " is malformed: line 2 column", "(from flag --config)"}},
		{"missing file from the environment", nil, map[string]string{"DEVCLUSTER_CONFIG": missing},
			[]string{"config file: " + missing + " cannot be read", "(from env DEVCLUSTER_CONFIG)"}},
		{"unknown profile from a flag", []string{"--profile", "ci,cii"}, nil,
			[]string{`profile: "cii" is not a built-in profile; use one of ` + strings.Join(profiles.Builtin(), ", "), "(from flag --profile)"}},
		{"unknown profile from the environment", nil, map[string]string{"DEVCLUSTER_PROFILE": "prod"},
			[]string{`profile: "prod" is not a built-in profile`, "(from env DEVCLUSTER_PROFILE)"}},
		{"flag beats the environment", []string{"--log-level", "loud"}, map[string]string{"DEVCLUSTER_LOG_LEVEL": "debug"},
			[]string{`log.level: "loud"`, "(from flag --log-level)"}},
		{"bad namespace from a flag", []string{"--namespace", "a/b"}, nil,
			[]string{`namespaces[1].name: "a/b" is not a valid namespace name`, "(from flag --namespace)"}},
		{"dynamic config value not JSON", []string{"--dynamic-config-value", "limit.maxIDLength=ten"}, nil,
			[]string{"flag --dynamic-config-value: limit.maxIDLength: \"ten\" is not JSON"}},
		{"bad search attribute type", []string{"--search-attribute", "CustomerId=Strnig"}, nil,
			[]string{"flag --search-attribute", `type "Strnig" is not a search attribute type`}},
		// The temporal: section is checked by the server's config rules,
		// and the error names the file that set it.
		{"temporal section the server rejects", []string{"--config", temporal}, nil,
			[]string{"temporal: does not fit the server's static config", "field nope not found", "(from file "}},
		{"unknown flag", []string{"--prot", "7300"}, nil,
			[]string{"unknown flag --prot; see devcluster config validate --help"}},
	}
	multiLine := map[string]int{} // every message here is one line
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t, append([]string{"config", "validate"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			line := strings.TrimSuffix(stderr, "\n")
			if !strings.HasPrefix(line, "devcluster: ") {
				t.Errorf("stderr %q does not start with devcluster: ", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			wantLines := 1
			if n, ok := multiLine[tt.name]; ok {
				wantLines = n
			}
			if got := strings.Count(line, "\n") + 1; got != wantLines {
				t.Errorf("stderr has %d lines, want %d:\n%s", got, wantLines, stderr)
			}
		})
	}
}

// TestConfigValidateEveryProblem: several problems, one line each.
func TestConfigValidateEveryProblem(t *testing.T) {
	clearEnv(t)
	t.Setenv("DEVCLUSTER_LOG_FORMAT", "xml")
	code, stdout, stderr := runCLI(t, "config", "validate", "--ip", "nowhere", "--shards", "0", "--log-level", "loud")
	if code != 2 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	want := []string{
		`devcluster: ip: "nowhere" is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0 (from flag --ip)`,
		`log.format: "xml" is not a log format; use one of text, json (from env DEVCLUSTER_LOG_FORMAT)`,
		`log.level: "loud" is not a log level; use one of debug, info, warn, error (from flag --log-level)`,
		`persistence.shards: 0 must be at least 1 (from flag --shards)`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, strings.Join(want, "\n"))
	}
}

// TestDynamicConfigValueKeptWhole: a JSON object or list given to
// --dynamic-config-value reaches the config whole, commas and all, next to
// a second value; numbers stay numbers.
func TestDynamicConfigValueKeptWhole(t *testing.T) {
	clearEnv(t)
	out := filepath.Join(t.TempDir(), "dynamic.yaml")
	code, _, stderr := runCLI(t, "config", "export", "--dynamic-config-out", out,
		"--dynamic-config-value", `history.cacheBackgroundEvict={"Enabled":true,"LoopInterval":"10s","MaxEntryPerCall":512}`,
		"--dynamic-config-value", `frontend.keepAliveMaxConnectionAge="5m"`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"history.cacheBackgroundEvict:\n    - value:\n        Enabled: true\n        LoopInterval: 10s\n        MaxEntryPerCall: 512\n",
		"frontend.keepAliveMaxConnectionAge:\n    - value: 5m\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("exported dynamic config lacks %q:\n%s", want, b)
		}
	}
	// config show prints a number as a number, not as the string "300".
	code, stdout, stderr := runCLI(t, "config", "show", "--dynamic-config-value", "limit.maxIDLength=300")
	if code != 0 || !strings.Contains(stdout, "limit.maxIDLength: 300\n") {
		t.Errorf("config show: exit %d, stderr %q; stdout lacks %q:\n%s", code, stderr, "limit.maxIDLength: 300", stdout)
	}
}

// TestConfigValidateDynamicConfig: validate checks dynamic-config keys and
// values as start does.
func TestConfigValidateDynamicConfig(t *testing.T) {
	clearEnv(t)
	for arg, want := range map[string]string{
		"limit.maxIDLenght=10":     "did you mean limit.maxIDLength",
		`limit.maxIDLength="long"`: "want an int",
	} {
		code, stdout, stderr := runCLI(t, "config", "validate", "--dynamic-config-value", arg)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "flag --dynamic-config-value") || !strings.Contains(stderr, want) {
			t.Errorf("--dynamic-config-value %s: exit %d, stdout %q, stderr %q; want exit 2 naming the flag and %q", arg, code, stdout, stderr, want)
		}
	}
}
