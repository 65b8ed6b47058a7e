package services

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"gopkg.in/yaml.v3"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// exportCases are configs whose export must be what devcluster runs.
func exportCases(t *testing.T) []struct {
	name string
	cfg  profiles.Config
} {
	dir := t.TempDir()
	rich := profiles.Default().Clone()
	rich.IP = "0.0.0.0"
	rich.Services.Frontend = profiles.Service{GRPCPort: 7300, HTTPPort: -1}
	rich.Services.History = profiles.Service{GRPCPort: 7301, MembershipPort: 7401}
	rich.Persistence.File = filepath.Join(dir, "data", "devcluster.db")
	rich.Persistence.Shards = 4
	rich.Metrics.Address = "127.0.0.1:0"
	rich.Log = profiles.Log{Level: "debug", Format: "json"}
	rich.Persistence.Pragmas = map[string]string{"busy_timeout": "5000"}
	rich.Archival.History = profiles.ArchivalTarget{Enabled: true, Dir: filepath.Join(dir, "archival", "history")}
	rich.Archival.Visibility = profiles.ArchivalTarget{Enabled: true, Dir: filepath.Join(dir, "archival", "visibility")}
	rich.Cluster = profiles.Cluster{Name: "east", ID: "9b2c4f4e-2b8d-4c1e-9d3a-1f6f1d2a3b4c",
		InitialFailoverVersion: 2, FailoverVersionIncrement: 100, EnableGlobalNamespace: true}
	rich.Temporal = map[string]any{
		"global": map[string]any{"membership": map[string]any{"maxJoinDuration": "10s"}},
	}

	historyOnly := profiles.Default().Clone()
	historyOnly.Archival.History = profiles.ArchivalTarget{Enabled: true, Dir: filepath.Join(dir, "h")}
	historyOnly.Temporal = map[string]any{
		"persistence": map[string]any{"datastores": map[string]any{
			storeName: map[string]any{"sql": map[string]any{"maxConns": 3}},
		}},
	}

	pgURL := profiles.Default().Clone()
	pgURL.Persistence.URL = "postgres://temporal:s3cret@db.internal:6543/orders?sslmode=require&application_name=devcluster"
	pgURL.Persistence.Shards = 8
	pgFile := profiles.Default().Clone()
	pgFile.Persistence.URL = "postgres://temporal@127.0.0.1/main?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem"
	pgFile.Persistence.PasswordFile = filepath.Join(dir, "pg.pw")
	pgFile.Visibility.URL = "postgres://temporal@127.0.0.1:5433/vis"

	historyNode := pgURL.Clone()
	historyNode.Services.Run = []string{profiles.History}

	return []struct {
		name string
		cfg  profiles.Config
	}{
		{"default", profiles.Default()},
		{"postgres with a password in the URL, TLS, 8 shards", pgURL},
		{"postgres with a password file and a visibility URL", pgFile},
		{"file database, archival, temporal section, 4 shards", rich},
		{"history archival only, SQL tuned in the temporal section", historyOnly},
		{"one history node of a cluster on postgres", historyNode},
	}
}

// yamlOf renders a server config for comparison.
func yamlOf(t *testing.T, c *config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("marshal server config: %v", err)
	}
	return string(b)
}

// TestExportLoadsInServer writes Export's static config to a file, loads it
// with the server's own loader and compares it with what devcluster runs.
func TestExportLoadsInServer(t *testing.T) {
	for _, tc := range exportCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			before := yamlOfProfile(t, tc.cfg)
			static, _, err := Export(tc.cfg, "")
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			if yamlOfProfile(t, tc.cfg) != before {
				t.Error("Export changed the config it was given")
			}
			path := filepath.Join(t.TempDir(), "temporal.yaml")
			if err := os.WriteFile(path, static, 0o600); err != nil {
				t.Fatal(err)
			}
			loaded, err := config.Load(config.WithConfigFile(path))
			patched := false
			if err != nil && strings.Contains(err.Error(), "SQL.ConnectAddr: zero value") {
				// Known bug (see report): the export has no connectAddr and
				// connectProtocol, which the server's loader requires even for
				// SQLite. Report it, then go on with both set to check the rest.
				t.Errorf("the server cannot load the export: %v", err)
				loaded, err = config.Load(config.WithConfigFile(withConnectAddr(t, static)))
				patched = true
			}
			if err != nil {
				t.Fatalf("the server cannot load the export: %v\n%s", err, static)
			}

			// What devcluster runs for the same config.
			ported := ExportPorts(tc.cfg)
			sqlCfg, err := persistence.MainSQLConfig(ported)
			if err != nil {
				t.Fatal(err)
			}
			if ported.Persistence.InMemory() {
				sqlCfg.DatabaseName = exportDatabaseName
			}
			if patched {
				sqlCfg.ConnectAddr, sqlCfg.ConnectProtocol = patchConnectAddr, patchConnectProtocol
			}
			want, err := StaticConfig(ported, sqlCfg)
			if err != nil {
				t.Fatalf("StaticConfig: %v", err)
			}
			exportServerOptions(want, ported, "")
			if got, want := yamlOf(t, loaded), yamlOf(t, want); got != want {
				t.Errorf("the server loads a different config than devcluster runs\nloaded:\n%s\nruns:\n%s", got, want)
			}
			if err := loaded.Validate(); err != nil {
				t.Errorf("the loaded export fails the server's validation: %v", err)
			}

			// Spot checks, so that a bug making both sides equally wrong
			// still shows.
			// All four also for one node: the server keeps a membership
			// ring for each service its config names, and needs one for
			// each role it calls.
			if got := len(loaded.Services); got != len(profiles.RoleNames) {
				t.Errorf("the export has %d services, want all %d", got, len(profiles.RoleNames))
			}
			if tc.cfg.Ringpop() && loaded.PublicClient.HostPort != "" {
				t.Errorf("publicClient.hostPort %q in a node's export: a node reaches a frontend through the membership", loaded.PublicClient.HostPort)
			}
			for _, name := range profiles.RoleNames {
				if loaded.Services[name].RPC.GRPCPort == 0 {
					t.Errorf("service %s has no gRPC port in the export", name)
				}
				if loaded.Services[name].RPC.MembershipPort == 0 {
					t.Errorf("service %s has no membership port in the export", name)
				}
			}
			if loaded.Log.Level != tc.cfg.Log.Level {
				t.Errorf("log level %q in the export, want %q", loaded.Log.Level, tc.cfg.Log.Level)
			}
			if dc := loaded.DynamicConfigClient; dc == nil || dc.Filepath != ExportDynamicConfigFile || dc.PollInterval < 5*time.Second {
				t.Errorf("dynamicConfigClient %+v, want %s polled every 5 s or slower", dc, ExportDynamicConfigFile)
			}
			if addr := tc.cfg.Metrics.Address; addr != "" {
				if m := loaded.Global.Metrics; m == nil || m.Prometheus == nil || m.Prometheus.ListenAddress == "" || strings.HasSuffix(m.Prometheus.ListenAddress, ":0") {
					t.Errorf("metrics %+v in the export, want a Prometheus listener for %s", m, addr)
				}
			}
			if got := loaded.Persistence.NumHistoryShards; got != int32(tc.cfg.Persistence.Shards) {
				t.Errorf("numHistoryShards = %d, want %d", got, tc.cfg.Persistence.Shards)
			}
			ds := loaded.Persistence.DataStores[defaultStore(tc.cfg)]
			if ds.SQL == nil {
				t.Fatalf("no SQL data store %q in the export", defaultStore(tc.cfg))
			}
			wantDB := tc.cfg.Persistence.File
			if tc.cfg.Persistence.InMemory() {
				wantDB = exportDatabaseName
			}
			if tc.cfg.Persistence.Postgres() {
				checkPostgresExport(t, tc.cfg, loaded)
				main, _, _ := tc.cfg.Databases()
				wantDB = main.Database
			}
			if ds.SQL.DatabaseName != wantDB {
				t.Errorf("databaseName = %q, want %q", ds.SQL.DatabaseName, wantDB)
			}
			for kind, target := range map[string]profiles.ArchivalTarget{"history": tc.cfg.Archival.History, "visibility": tc.cfg.Archival.Visibility} {
				state, uri := loaded.Archival.History.State, loaded.NamespaceDefaults.Archival.History.URI
				if kind == "visibility" {
					state, uri = loaded.Archival.Visibility.State, loaded.NamespaceDefaults.Archival.Visibility.URI
				}
				switch {
				case target.Enabled && (state != "enabled" || uri != "file://"+target.Dir):
					t.Errorf("%s archival = %q at %q, want enabled at file://%s", kind, state, uri, target.Dir)
				case !target.Enabled && (state != "disabled" || uri != ""):
					t.Errorf("%s archival = %q at %q, want disabled", kind, state, uri)
				}
			}
		})
	}
}

// The values Temporal's own SQLite sample configs use; the plugin ignores them.
const (
	patchConnectAddr     = "localhost"
	patchConnectProtocol = "tcp"
)

// withConnectAddr writes static with connectAddr and connectProtocol set in
// the SQL store and returns the file's path.
func withConnectAddr(t *testing.T, static []byte) string {
	t.Helper()
	var tree map[string]any
	if err := yaml.Unmarshal(static, &tree); err != nil {
		t.Fatal(err)
	}
	sql := tree["persistence"].(map[string]any)["datastores"].(map[string]any)[storeName].(map[string]any)["sql"].(map[string]any)
	sql["connectAddr"], sql["connectProtocol"] = patchConnectAddr, patchConnectProtocol
	b, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "patched.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// yamlOfProfile renders a devcluster config, to see that it is not changed.
func yamlOfProfile(t *testing.T, c profiles.Config) string {
	t.Helper()
	b, err := yaml.Marshal(profiles.ToMap(c))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExportTemporalSection(t *testing.T) {
	cfg := profiles.Default().Clone()
	cfg.Temporal = map[string]any{"global": map[string]any{"membership": map[string]any{"maxJoinDuration": "10s"}}}
	static, _, err := Export(cfg, "")
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	var tree struct {
		Global struct {
			Membership struct {
				MaxJoinDuration  string `yaml:"maxJoinDuration"`
				BroadcastAddress string `yaml:"broadcastAddress"`
			} `yaml:"membership"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal(static, &tree); err != nil {
		t.Fatal(err)
	}
	if tree.Global.Membership.MaxJoinDuration != "10s" || tree.Global.Membership.BroadcastAddress != "127.0.0.1" {
		t.Errorf("global.membership = %+v, want maxJoinDuration 10s and the generated broadcastAddress", tree.Global.Membership)
	}

	bad := []struct {
		name     string
		temporal map[string]any
		part     string
		// lines is the number of lines of the message when not 1.
		lines int
	}{
		// One line, without yaml's line numbers (they would point into
		// devcluster's merged document, not the user's file).
		{"unknown key", map[string]any{"global": map[string]any{"nope": 1}}, "field nope not found", 1},
		{"wrong type", map[string]any{"global": map[string]any{"membership": map[string]any{"maxJoinDuration": "soon"}}}, "does not fit the server's static config", 1},
		{"rejected by the server's validation", map[string]any{"publicClient": map[string]any{"forceTLSConfig": "sometimes"}}, "the server rejects: invalid value for publicClient.forceTLSConfig", 1},
		{"archival without a provider", map[string]any{"archival": map[string]any{"history": map[string]any{"state": "enabled"}}}, "the server rejects", 1},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cfg := profiles.Default().Clone()
			cfg.Temporal = tc.temporal
			static, dynamic, err := Export(cfg, "")
			if err == nil {
				t.Fatalf("Export accepted temporal section %v:\n%s", tc.temporal, static)
			}
			if static != nil || dynamic != nil {
				t.Error("Export returned output with its error")
			}
			var fe *profiles.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *profiles.FieldError", err, err)
			}
			if fe.Key != "temporal" {
				t.Errorf("FieldError key = %q, want temporal", fe.Key)
			}
			if !strings.Contains(fe.Error(), tc.part) {
				t.Errorf("error %q does not contain %q", fe.Error(), tc.part)
			}
			if got := strings.Count(fe.Error(), "\n") + 1; got != tc.lines {
				t.Errorf("error has %d lines, want %d: %q", got, tc.lines, fe.Error())
			}
		})
	}
}

// TestExportDynamicConfig checks the dynamic-config file with the server's
// own loader: every key registered, every value valid.
func TestExportDynamicConfig(t *testing.T) {
	cfg := profiles.Default().Clone()
	cfg.DynamicConfig.Values["limit.maxIDLength"] = 300
	cfg.DynamicConfig.Values["history.defaultActivityRetryPolicy"] = map[string]any{"MaximumAttempts": 3}
	_, dynamic, err := Export(cfg, "")
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	lr := dynamicconfig.LoadYamlFile(dynamic)
	if err := lr.Err(); err != nil {
		t.Fatalf("the server cannot load the dynamic config: %v\n%s", err, dynamic)
	}
	if len(lr.Warnings) > 0 {
		t.Errorf("the server warns about the dynamic config: %v\n%s", lr.Warnings, dynamic)
	}
	if want := len(EffectiveDynamicConfig(cfg).Values); len(lr.Map) != want {
		t.Errorf("dynamic config has %d keys, want %d (the config's and devcluster's switches):\n%s", len(lr.Map), want, dynamic)
	}
	cvs := lr.Map[dynamicconfig.MakeKey("limit.maxIDLength")]
	if len(cvs) != 1 || cvs[0].Value != 300 {
		t.Errorf("limit.maxIDLength = %+v, want one value 300", cvs)
	}

	// Values decoded from JSON (--dynamic-config-value, .json files) are
	// json.Number.
	t.Run("JSON numbers", func(t *testing.T) {
		out, err := DynamicConfigYAML(map[string]any{"limit.maxIDLength": json.Number("300")})
		if err != nil {
			t.Fatal(err)
		}
		lr := dynamicconfig.LoadYamlFile(out)
		cvs := lr.Map[dynamicconfig.MakeKey("limit.maxIDLength")]
		if len(cvs) != 1 || cvs[0].Value != 300 || len(lr.Warnings) > 0 {
			t.Errorf("limit.maxIDLength from json.Number = %+v (warnings %v); want the int 300:\n%s", cvs, lr.Warnings, out)
		}

	})
}

// TestExportDeterministic: the same config exports the same bytes.
func TestExportDeterministic(t *testing.T) {
	cfg := profiles.Default().Clone()
	cfg.Persistence.Shards = 4
	cfg.DynamicConfig.Values["limit.maxIDLength"] = 300
	a1, b1, err := Export(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	a2, b2, err := Export(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(a1) != string(a2) || string(b1) != string(b2) {
		t.Errorf("two exports of one config differ:\n%s\n---\n%s", a1, a2)
	}
}

// checkPostgresExport spot-checks the PostgreSQL data stores of an export.
func checkPostgresExport(t *testing.T, cfg profiles.Config, loaded *config.Config) {
	t.Helper()
	p := loaded.Persistence
	main, vis := p.DataStores[p.DefaultStore].SQL, p.DataStores[p.VisibilityStore].SQL
	if main == nil || vis == nil || p.DefaultStore == p.VisibilityStore {
		t.Fatalf("want two SQL stores, got default %q and visibility %q: %+v", p.DefaultStore, p.VisibilityStore, p.DataStores)
	}
	mu, vu, err := cfg.Databases()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sql *config.SQL
		url profiles.DatabaseURL
	}{{main, mu}, {vis, vu}} {
		if c.sql.PluginName != "postgres12_pgx" || c.sql.ConnectAddr != c.url.Addr() || c.sql.DatabaseName != c.url.Database || c.sql.User != c.url.User {
			t.Errorf("store %+v does not match %s", c.sql, c.url)
		}
		if cfg.Persistence.PasswordFile != "" {
			if pc := c.sql.PasswordCommand; c.sql.Password != "" || pc == nil || pc.Command != "cat" || len(pc.Args) != 1 || pc.Args[0] != cfg.Persistence.PasswordFile {
				t.Errorf("store %s: password %q, command %+v; want cat %s", c.sql.DatabaseName, c.sql.Password, pc, cfg.Persistence.PasswordFile)
			}
		} else if c.sql.Password != c.url.Password {
			t.Errorf("store %s has password %q, want the URL's", c.sql.DatabaseName, c.sql.Password)
		}
		wantTLS := c.url.SSLMode == "require" || c.url.SSLMode == "verify-full"
		if got := c.sql.TLS != nil && c.sql.TLS.Enabled; got != wantTLS {
			t.Errorf("store %s: TLS %v, want %v (sslmode %s)", c.sql.DatabaseName, got, wantTLS, c.url.SSLMode)
		}
		if c.url.SSLMode == "verify-full" && (!c.sql.TLS.EnableHostVerification || c.sql.TLS.CaFile != c.url.SSLRootCert) {
			t.Errorf("store %s: TLS %+v, want host verification with %s", c.sql.DatabaseName, c.sql.TLS, c.url.SSLRootCert)
		}
	}
	if cfg.Visibility.URL == "" && vis.DatabaseName != main.DatabaseName+"_visibility" {
		t.Errorf("visibility database %q, want %s_visibility", vis.DatabaseName, main.DatabaseName)
	}
}
