package services

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/config"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// resolvedConfig is profiles.Default() with every port chosen, as
// ResolvePorts would leave it.
func resolvedConfig() profiles.Config {
	cfg := profiles.Default().Clone()
	cfg.Services.Frontend = profiles.Service{GRPCPort: 17233, HTTPPort: 17243, MembershipPort: 17933}
	cfg.Services.History = profiles.Service{GRPCPort: 17234}
	cfg.Services.Matching = profiles.Service{GRPCPort: 17235, MembershipPort: 17935}
	cfg.Services.Worker = profiles.Service{GRPCPort: 17239}
	return cfg
}

func mustStaticConfig(t *testing.T, cfg profiles.Config, sqlCfg *config.SQL) *config.Config {
	t.Helper()
	sc, err := StaticConfig(cfg, sqlCfg)
	if err != nil {
		t.Fatalf("StaticConfig: %v", err)
	}
	if sc == nil {
		t.Fatal("StaticConfig returned a nil config and no error")
	}
	return sc
}

func TestStaticConfigDefaults(t *testing.T) {
	cfg := resolvedConfig()
	sqlCfg := persistence.SQLiteConfig(cfg.Persistence)
	sc := mustStaticConfig(t, cfg, sqlCfg)

	// Services.
	wantPorts := map[string]config.RPC{
		profiles.Frontend: {GRPCPort: 17233, HTTPPort: 17243, MembershipPort: 17933, BindOnIP: "127.0.0.1"},
		profiles.History:  {GRPCPort: 17234, BindOnIP: "127.0.0.1"},
		profiles.Matching: {GRPCPort: 17235, MembershipPort: 17935, BindOnIP: "127.0.0.1"},
		profiles.Worker:   {GRPCPort: 17239, BindOnIP: "127.0.0.1"},
	}
	if len(sc.Services) != len(wantPorts) {
		t.Errorf("Services has %d entries, want %d: %v", len(sc.Services), len(wantPorts), sc.Services)
	}
	for name, want := range wantPorts {
		svc, ok := sc.Services[name]
		if !ok {
			t.Errorf("service %q missing", name)
			continue
		}
		if !reflect.DeepEqual(svc.RPC, want) {
			t.Errorf("service %q RPC = %+v, want %+v", name, svc.RPC, want)
		}
	}

	// Persistence: one SQL store, used for both default and visibility.
	p := sc.Persistence
	if p.DefaultStore == "" || p.DefaultStore != p.VisibilityStore {
		t.Errorf("DefaultStore = %q, VisibilityStore = %q; want one store for both", p.DefaultStore, p.VisibilityStore)
	}
	if p.SecondaryVisibilityStore != "" {
		t.Errorf("SecondaryVisibilityStore = %q, want none", p.SecondaryVisibilityStore)
	}
	if len(p.DataStores) != 1 {
		t.Fatalf("DataStores has %d entries, want 1: %v", len(p.DataStores), p.DataStores)
	}
	ds, ok := p.DataStores[p.DefaultStore]
	if !ok {
		t.Fatalf("DataStores has no entry for the default store %q", p.DefaultStore)
	}
	if ds.SQL != sqlCfg {
		t.Errorf("data store SQL = %p, want the given *config.SQL %p (one pool per DSN)", ds.SQL, sqlCfg)
	}
	if ds.Cassandra != nil || ds.Elasticsearch != nil || ds.CustomDataStoreConfig != nil {
		t.Errorf("data store has more than SQL: %+v", ds)
	}
	if p.NumHistoryShards != 1 {
		t.Errorf("NumHistoryShards = %d, want 1", p.NumHistoryShards)
	}

	// Cluster metadata.
	cm := sc.ClusterMetadata
	if cm == nil {
		t.Fatal("ClusterMetadata is nil")
	}
	if cm.CurrentClusterName != "active" || cm.MasterClusterName != "active" {
		t.Errorf("cluster names = current %q, master %q; want active", cm.CurrentClusterName, cm.MasterClusterName)
	}
	if cm.EnableGlobalNamespace {
		t.Error("EnableGlobalNamespace = true for a single cluster")
	}
	info, ok := cm.ClusterInformation["active"]
	if !ok || len(cm.ClusterInformation) != 1 {
		t.Fatalf("ClusterInformation = %v, want exactly the current cluster", cm.ClusterInformation)
	}
	if !info.Enabled || info.RPCAddress != "127.0.0.1:17233" || info.HTTPAddress != "127.0.0.1:17243" {
		t.Errorf("cluster info = %+v, want enabled at 127.0.0.1:17233 / 127.0.0.1:17243", info)
	}
	if info.InitialFailoverVersion < 1 || info.InitialFailoverVersion >= cm.FailoverVersionIncrement {
		t.Errorf("InitialFailoverVersion %d must be in [1, FailoverVersionIncrement=%d)", info.InitialFailoverVersion, cm.FailoverVersionIncrement)
	}

	if sc.PublicClient.HostPort != "127.0.0.1:17233" {
		t.Errorf("PublicClient.HostPort = %q, want 127.0.0.1:17233", sc.PublicClient.HostPort)
	}
	if sc.Global.Membership.BroadcastAddress != "127.0.0.1" {
		t.Errorf("BroadcastAddress = %q, want 127.0.0.1", sc.Global.Membership.BroadcastAddress)
	}

	// The server's own validation accepts it.
	if err := sc.Validate(); err != nil {
		t.Errorf("config.Config.Validate() = %v", err)
	}
	if err := sc.Persistence.Validate(); err != nil {
		t.Errorf("config.Persistence.Validate() = %v", err)
	}
}

func TestStaticConfigVariants(t *testing.T) {
	tests := []struct {
		name          string
		mutate        func(c *profiles.Config)
		wantBind      string
		wantRPCAddr   string
		wantHTTPAddr  string
		wantHTTPPort  int // frontend RPC HTTPPort
		wantShards    int32
		wantCluster   string
		wantClusterID string
	}{
		{
			name:         "localhost",
			mutate:       func(c *profiles.Config) { c.IP = "localhost" },
			wantBind:     "127.0.0.1",
			wantRPCAddr:  "127.0.0.1:17233",
			wantHTTPAddr: "127.0.0.1:17243",
			wantHTTPPort: 17243,
			wantShards:   1,
			wantCluster:  "active",
		},
		{
			name:         "all interfaces v4",
			mutate:       func(c *profiles.Config) { c.IP = "0.0.0.0" },
			wantBind:     "0.0.0.0",
			wantRPCAddr:  "127.0.0.1:17233",
			wantHTTPAddr: "127.0.0.1:17243",
			wantHTTPPort: 17243,
			wantShards:   1,
			wantCluster:  "active",
		},
		{
			name:         "all interfaces v6",
			mutate:       func(c *profiles.Config) { c.IP = "::" },
			wantBind:     "::",
			wantRPCAddr:  "[::1]:17233",
			wantHTTPAddr: "[::1]:17243",
			wantHTTPPort: 17243,
			wantShards:   1,
			wantCluster:  "active",
		},
		{
			name:         "specific address",
			mutate:       func(c *profiles.Config) { c.IP = "10.1.2.3" },
			wantBind:     "10.1.2.3",
			wantRPCAddr:  "10.1.2.3:17233",
			wantHTTPAddr: "10.1.2.3:17243",
			wantHTTPPort: 17243,
			wantShards:   1,
			wantCluster:  "active",
		},
		{
			name:         "http off",
			mutate:       func(c *profiles.Config) { c.Services.Frontend.HTTPPort = -1 },
			wantBind:     "127.0.0.1",
			wantRPCAddr:  "127.0.0.1:17233",
			wantHTTPAddr: "",
			wantHTTPPort: 0,
			wantShards:   1,
			wantCluster:  "active",
		},
		{
			name: "shards and cluster",
			mutate: func(c *profiles.Config) {
				c.Persistence.Shards = 16
				c.Cluster.Name = "dev-east"
				c.Cluster.ID = "0b7e3a52-59c3-4a9f-9d0e-3c1f2f4b8a11"
			},
			wantBind:      "127.0.0.1",
			wantRPCAddr:   "127.0.0.1:17233",
			wantHTTPAddr:  "127.0.0.1:17243",
			wantHTTPPort:  17243,
			wantShards:    16,
			wantCluster:   "dev-east",
			wantClusterID: "0b7e3a52-59c3-4a9f-9d0e-3c1f2f4b8a11",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resolvedConfig()
			tt.mutate(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("test config is invalid: %v", err)
			}
			sc := mustStaticConfig(t, cfg, persistence.SQLiteConfig(cfg.Persistence))

			for _, name := range profiles.RoleNames {
				rpc := sc.Services[name].RPC
				if rpc.BindOnIP != tt.wantBind {
					t.Errorf("%s BindOnIP = %q, want %q", name, rpc.BindOnIP, tt.wantBind)
				}
				if rpc.GRPCPort != cfg.Services.Get(name).GRPCPort {
					t.Errorf("%s GRPCPort = %d, want %d", name, rpc.GRPCPort, cfg.Services.Get(name).GRPCPort)
				}
			}
			if got := sc.Services[profiles.Frontend].RPC.HTTPPort; got != tt.wantHTTPPort {
				t.Errorf("frontend HTTPPort = %d, want %d", got, tt.wantHTTPPort)
			}
			if sc.Persistence.NumHistoryShards != tt.wantShards {
				t.Errorf("NumHistoryShards = %d, want %d", sc.Persistence.NumHistoryShards, tt.wantShards)
			}
			cm := sc.ClusterMetadata
			if cm.CurrentClusterName != tt.wantCluster || cm.MasterClusterName != tt.wantCluster {
				t.Errorf("cluster names = %q/%q, want %q", cm.CurrentClusterName, cm.MasterClusterName, tt.wantCluster)
			}
			info, ok := cm.ClusterInformation[tt.wantCluster]
			if !ok {
				t.Fatalf("no ClusterInformation for %q: %v", tt.wantCluster, cm.ClusterInformation)
			}
			if info.RPCAddress != tt.wantRPCAddr || info.HTTPAddress != tt.wantHTTPAddr || info.ClusterID != tt.wantClusterID {
				t.Errorf("cluster info = {RPC:%q HTTP:%q ID:%q}, want {RPC:%q HTTP:%q ID:%q}",
					info.RPCAddress, info.HTTPAddress, info.ClusterID, tt.wantRPCAddr, tt.wantHTTPAddr, tt.wantClusterID)
			}
			if sc.PublicClient.HostPort != tt.wantRPCAddr {
				t.Errorf("PublicClient.HostPort = %q, want %q", sc.PublicClient.HostPort, tt.wantRPCAddr)
			}
			if err := sc.Validate(); err != nil {
				t.Errorf("config.Config.Validate() = %v", err)
			}
		})
	}
}

func TestStaticConfigIsPure(t *testing.T) {
	cfg := resolvedConfig()
	sqlCfg := persistence.SQLiteConfig(cfg.Persistence)
	a := mustStaticConfig(t, cfg, sqlCfg)
	b := mustStaticConfig(t, cfg, sqlCfg)
	if !reflect.DeepEqual(a, b) {
		t.Error("StaticConfig gave different results for the same input")
	}
	if a.String() != b.String() {
		t.Error("StaticConfig renders differently for the same input")
	}
	// Changing the input afterwards does not change the output.
	cfg.Services.History.GRPCPort = 1
	if a.Services[profiles.History].RPC.GRPCPort != 17234 {
		t.Error("StaticConfig output aliases its input")
	}
}

func TestNewSQLConfig(t *testing.T) {
	tests := []struct {
		name      string
		p         profiles.Persistence
		wantDB    string // exact, or prefix when wantDBPfx
		wantDBPfx bool
		wantAttrs map[string]string
	}{
		{
			name:      "memory",
			p:         profiles.Persistence{Shards: 1},
			wantDB:    "devcluster-",
			wantDBPfx: true,
			wantAttrs: map[string]string{"mode": "memory", "cache": "shared"},
		},
		{
			name:      "memory with pragma",
			p:         profiles.Persistence{Shards: 1, Pragmas: map[string]string{"busy_timeout": "100"}},
			wantDB:    "devcluster-",
			wantDBPfx: true,
			wantAttrs: map[string]string{"mode": "memory", "cache": "shared", "busy_timeout": "100"},
		},
		{
			name:      "file",
			p:         profiles.Persistence{File: "/tmp/x.db", Shards: 1},
			wantDB:    "/tmp/x.db",
			wantAttrs: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal", "busy_timeout": "10000", "journal_size_limit": "4194304"},
		},
		{
			name: "file pragmas override defaults but not mode",
			p: profiles.Persistence{File: "/tmp/x.db", Shards: 1,
				Pragmas: map[string]string{"journal_mode": "delete", "mode": "ro"}},
			wantDB:    "/tmp/x.db",
			wantAttrs: map[string]string{"mode": "rwc", "journal_mode": "delete", "synchronous": "normal", "busy_timeout": "10000", "journal_size_limit": "4194304"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := persistence.SQLiteConfig(tt.p)
			if got.PluginName != "sqlite" {
				t.Errorf("PluginName = %q, want sqlite", got.PluginName)
			}
			if tt.wantDBPfx {
				if !strings.HasPrefix(got.DatabaseName, tt.wantDB) || len(got.DatabaseName) <= len(tt.wantDB) {
					t.Errorf("DatabaseName = %q, want %q followed by a unique suffix", got.DatabaseName, tt.wantDB)
				}
			} else if got.DatabaseName != tt.wantDB {
				t.Errorf("DatabaseName = %q, want %q", got.DatabaseName, tt.wantDB)
			}
			if !reflect.DeepEqual(got.ConnectAttributes, tt.wantAttrs) {
				t.Errorf("ConnectAttributes = %v, want %v", got.ConnectAttributes, tt.wantAttrs)
			}
		})
	}
	// Two in-memory configs never share a database.
	a, b := persistence.SQLiteConfig(profiles.Persistence{}), persistence.SQLiteConfig(profiles.Persistence{})
	if a.DatabaseName == b.DatabaseName {
		t.Errorf("two in-memory configs share database %q", a.DatabaseName)
	}
}

func TestStaticConfigTemporalSection(t *testing.T) {
	t.Run("merged over the generated config", func(t *testing.T) {
		cfg := resolvedConfig()
		cfg.Temporal = map[string]any{
			"global": map[string]any{"membership": map[string]any{"maxJoinDuration": "7s"}},
			"persistence": map[string]any{"datastores": map[string]any{
				storeName: map[string]any{"sql": map[string]any{"maxConns": 3}},
			}},
		}
		sqlCfg := persistence.SQLiteConfig(cfg.Persistence)
		dbName := sqlCfg.DatabaseName
		sc := mustStaticConfig(t, cfg, sqlCfg)

		if got := sc.Global.Membership.MaxJoinDuration; got != 7*time.Second {
			t.Errorf("MaxJoinDuration = %v, want 7s from the temporal section", got)
		}
		// Generated values not named in the section survive the merge.
		if got := sc.Services[profiles.History].RPC.GRPCPort; got != 17234 {
			t.Errorf("history GRPCPort = %d after merge, want 17234", got)
		}
		if sc.Global.Membership.BroadcastAddress != "127.0.0.1" {
			t.Errorf("BroadcastAddress = %q after merge", sc.Global.Membership.BroadcastAddress)
		}
		// The SQL settings stay one shared *config.SQL, now tuned.
		ds := sc.Persistence.DataStores[storeName]
		if ds.SQL != sqlCfg {
			t.Error("after merge the data store no longer uses the given *config.SQL")
		}
		if sqlCfg.MaxConns != 3 || sqlCfg.DatabaseName != dbName || sqlCfg.PluginName != "sqlite" {
			t.Errorf("shared SQL config = {MaxConns:%d DB:%q Plugin:%q}, want MaxConns 3 and the rest kept",
				sqlCfg.MaxConns, sqlCfg.DatabaseName, sqlCfg.PluginName)
		}
	})

	tests := []struct {
		name     string
		temporal map[string]any
		part     string
	}{
		{"unknown key", map[string]any{"globl": map[string]any{}}, "does not fit the server's static config"},
		{"wrong type", map[string]any{"persistence": map[string]any{"numHistoryShards": "many"}}, "does not fit the server's static config"},
		{"rejected by the server", map[string]any{"persistence": map[string]any{"visibilityStore": ""}}, "the server rejects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resolvedConfig()
			cfg.Temporal = tt.temporal
			sc, err := StaticConfig(cfg, persistence.SQLiteConfig(cfg.Persistence))
			if err == nil {
				t.Fatalf("StaticConfig accepted temporal section %v: %+v", tt.temporal, sc)
			}
			var fe *profiles.FieldError
			if !errors.As(err, &fe) || fe.Key != "temporal" {
				t.Fatalf("error = %v (%T), want a FieldError for key temporal", err, err)
			}
			if !strings.Contains(fe.Error(), tt.part) {
				t.Errorf("error %q does not contain %q", fe.Error(), tt.part)
			}
		})
	}
}

func TestStaticConfigArchival(t *testing.T) {
	cfg := resolvedConfig()
	cfg.Archival.History = profiles.ArchivalTarget{Enabled: true, Dir: "/tmp/devcluster-test/history"}
	sc := mustStaticConfig(t, cfg, persistence.SQLiteConfig(cfg.Persistence))
	if sc.Archival.History.State != "enabled" || sc.Archival.History.Provider == nil || sc.Archival.History.Provider.Filestore == nil {
		t.Errorf("history archival = %+v, want enabled with a filestore provider", sc.Archival.History)
	}
	if got := sc.NamespaceDefaults.Archival.History.URI; got != "file:///tmp/devcluster-test/history" {
		t.Errorf("history archival URI = %q", got)
	}
	if sc.Archival.Visibility.State != "disabled" || sc.Archival.Visibility.Provider != nil {
		t.Errorf("visibility archival = %+v, want disabled", sc.Archival.Visibility)
	}
	if err := sc.Validate(); err != nil {
		t.Errorf("config.Config.Validate() = %v", err)
	}
}
