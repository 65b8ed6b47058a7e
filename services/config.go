package services

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// StaticConfig turns a resolved devcluster config (every port chosen) into
// the server's static config, merges the verbatim temporal: section last and
// checks the result with the server's own validation. The same input gives
// the same output, which `config export` prints and tests compare.
//
// One exception to purity: when the temporal: section changes the default
// store's SQL settings, they are copied into *sqlCfg, so that schema setup,
// namespace creation and the server keep sharing one *config.SQL.
func StaticConfig(cfg profiles.Config, sqlCfg *config.SQL) (*config.Config, error) {
	stores, err := dataStores(cfg, sqlCfg)
	if err != nil {
		return nil, err
	}
	static := generatedConfig(cfg, sqlCfg, stores)
	if len(cfg.Temporal) > 0 {
		merged, err := mergeVerbatim(static, cfg.Temporal)
		if err != nil {
			return nil, err
		}
		if ds, ok := merged.Persistence.DataStores[defaultStore(cfg)]; ok && ds.SQL != nil {
			if !reflect.DeepEqual(*ds.SQL, *sqlCfg) {
				*sqlCfg = *ds.SQL
			}
			ds.SQL = sqlCfg
			merged.Persistence.DataStores[defaultStore(cfg)] = ds
		}
		static = merged
	}
	if err := static.Validate(); err != nil {
		return nil, &profiles.FieldError{Key: "temporal", Msg: "gives a server config the server rejects: " + err.Error()}
	}
	return static, nil
}

// mergeVerbatim deep-merges the temporal: section (the server's own YAML
// keys) into the generated config. Unknown keys are errors, not ignored.
func mergeVerbatim(static *config.Config, verbatim map[string]any) (*config.Config, error) {
	base, err := yaml.Marshal(static)
	if err != nil {
		return nil, fmt.Errorf("render server config: %w", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(base, &tree); err != nil {
		return nil, fmt.Errorf("render server config: %w", err)
	}
	mergeTrees(tree, verbatim)
	out, err := yaml.Marshal(tree)
	if err != nil {
		return nil, &profiles.FieldError{Key: "temporal", Msg: "cannot be rendered as YAML: " + err.Error()}
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	merged := &config.Config{}
	if err := dec.Decode(merged); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// Line numbers would point into devcluster's merged document,
			// not the user's file: keep only what is wrong.
			parts := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
					e = rest
				}
				parts[i] = e
			}
			msg = strings.Join(parts, "; ")
		}
		return nil, &profiles.FieldError{Key: "temporal", Msg: "does not fit the server's static config: " + msg +
			"; keys are the server's own camelCase ones (see `devcluster config export`)"}
	}
	return merged, nil
}

// mergeTrees merges src into dst: maps recursively, everything else replaced.
func mergeTrees(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeTrees(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// generatedConfig is the server config devcluster's schema describes.
func generatedConfig(cfg profiles.Config, sqlCfg *config.SQL, stores map[string]config.DataStore) *config.Config {
	adv := netaddr.DialIP(cfg.IP)
	fe := cfg.Services.Frontend

	// Every role, also on a node that runs fewer: the server's ringpop
	// monitor keeps a ring for each service the config names, and a
	// role it has no ring for is "not tracked by Monitor".
	svcs := make(map[string]config.Service, len(profiles.RoleNames))
	for _, name := range profiles.RoleNames {
		s := cfg.Services.Get(name)
		rpc := config.RPC{
			GRPCPort:       s.GRPCPort,
			MembershipPort: s.MembershipPort,
			BindOnIP:       netaddr.BindIP(cfg.IP),
		}
		if name == profiles.Frontend && s.HTTPPort > 0 {
			rpc.HTTPPort = s.HTTPPort
		}
		svcs[name] = config.Service{RPC: rpc}
	}

	httpAddr := ""
	if fe.HTTPPort > 0 {
		httpAddr = netaddr.HostPort(adv, fe.HTTPPort)
	}
	archival, nsArchival := archivalConfig(cfg.Archival)
	return &config.Config{
		Global: config.Global{
			TLS:           rootTLS(cfg.TLS),
			Authorization: authorizationConfig(cfg.Auth),
			Membership: config.Membership{
				MaxJoinDuration:  30 * time.Second,
				BroadcastAddress: broadcastAddress(cfg),
			},
		},
		Persistence: config.Persistence{
			DefaultStore:     defaultStore(cfg),
			VisibilityStore:  visibilityStore(cfg),
			NumHistoryShards: int32(cfg.Persistence.Shards),
			DataStores:       stores,
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    cfg.Cluster.EnableGlobalNamespace,
			FailoverVersionIncrement: cfg.Cluster.FailoverVersionIncrement,
			MasterClusterName:        cfg.Cluster.Name,
			CurrentClusterName:       cfg.Cluster.Name,
			ClusterInformation: map[string]cluster.ClusterInformation{
				cfg.Cluster.Name: {
					Enabled:                true,
					InitialFailoverVersion: cfg.Cluster.InitialFailoverVersion,
					RPCAddress:             netaddr.HostPort(adv, fe.GRPCPort),
					HTTPAddress:            httpAddr,
					ClusterID:              cfg.Cluster.ID,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            svcs,
		Archival:            archival,
		NamespaceDefaults:   config.NamespaceDefaults{Archival: nsArchival},
		PublicClient:        publicClient(cfg),
	}
}

// broadcastAddress is the IP other nodes reach this one at.
func broadcastAddress(cfg profiles.Config) string {
	if b := cfg.Membership.BroadcastAddress; b != "" {
		return b
	}
	return netaddr.DialIP(cfg.IP)
}

// publicClient is how the worker role (the server's system workers) reaches
// a frontend: this process's own with static membership; with ringpop, any
// frontend of the ring (the server resolves an empty address through the
// membership), so a worker-only node needs no address.
func publicClient(cfg profiles.Config) config.PublicClient {
	if cfg.Ringpop() {
		return config.PublicClient{}
	}
	return config.PublicClient{HostPort: netaddr.HostPort(netaddr.DialIP(cfg.IP), cfg.Services.Frontend.GRPCPort)}
}

// staticHosts lists every service at its advertised gRPC address: static
// membership needs no gossip ring, so the cluster is whole the moment each
// service starts.
func staticHosts(cfg profiles.Config) map[primitives.ServiceName]static.Hosts {
	adv := netaddr.DialIP(cfg.IP)
	hosts := make(map[primitives.ServiceName]static.Hosts, len(profiles.RoleNames))
	for _, name := range profiles.RoleNames {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(netaddr.HostPort(adv, cfg.Services.Get(name).GRPCPort))
	}
	return hosts
}

// archivalConfig maps devcluster's archival section onto the server's
// cluster archival (filestore provider) and namespace defaults. The server
// validates them all-or-nothing: a disabled kind has no provider and no URI.
func archivalConfig(a profiles.Archival) (config.Archival, config.ArchivalNamespaceDefaults) {
	out := config.Archival{
		History:    config.HistoryArchival{State: "disabled"},
		Visibility: config.VisibilityArchival{State: "disabled"},
	}
	ns := config.ArchivalNamespaceDefaults{
		History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}
	filestore := &config.FilestoreArchiver{FileMode: "0644", DirMode: "0755"}
	if a.History.Enabled {
		out.History = config.HistoryArchival{State: "enabled", EnableRead: true,
			Provider: &config.HistoryArchiverProvider{Filestore: filestore}}
		ns.History = config.HistoryArchivalNamespaceDefaults{State: "enabled", URI: persistence.ArchivalURI(a.History.Dir)}
	}
	if a.Visibility.Enabled {
		out.Visibility = config.VisibilityArchival{State: "enabled", EnableRead: true,
			Provider: &config.VisibilityArchiverProvider{Filestore: filestore}}
		ns.Visibility = config.VisibilityArchivalNamespaceDefaults{State: "enabled", URI: persistence.ArchivalURI(a.Visibility.Dir)}
	}
	return out, ns
}

// storeName is the data store of an in-memory database or persistence.file.
const storeName = "sqlite-default"

// visibilityStoreName is the data store of a separate visibility file.
const visibilityStoreName = "sqlite-visibility"

// defaultStore is the name of the main data store.
func defaultStore(cfg profiles.Config) string {
	if cfg.Persistence.Postgres() {
		return postgresStoreName
	}
	return storeName
}

func visibilityStore(cfg profiles.Config) string {
	if cfg.Persistence.Postgres() {
		return postgresVisibilityStoreName
	}
	if cfg.Visibility.File != "" {
		return visibilityStoreName
	}
	return storeName
}

// dataStores is the main store and, with visibility.file, a second SQLite
// file for visibility; on PostgreSQL, the main and the visibility database.
// The second *config.SQL is rebuilt on each call: a file's DSN is the same
// every time, so the plugin's pool is shared.
func dataStores(cfg profiles.Config, sqlCfg *config.SQL) (map[string]config.DataStore, error) {
	if cfg.Persistence.Postgres() {
		// The visibility store follows the main one's password, which
		// the start read from persistence.password-file.
		vis, err := persistence.VisibilitySQLConfig(cfg, sqlCfg)
		if err != nil {
			return nil, err
		}
		return map[string]config.DataStore{
			postgresStoreName:           {SQL: sqlCfg},
			postgresVisibilityStoreName: {SQL: vis},
		}, nil
	}
	stores := map[string]config.DataStore{storeName: {SQL: sqlCfg}}
	if cfg.Visibility.File != "" {
		stores[visibilityStoreName] = config.DataStore{SQL: persistence.VisibilityFileConfig(cfg)}
	}
	return stores, nil
}

// authorizationConfig maps auth.* onto global.authorization: the default
// JWT claim mapper reading keys from the JWKS file in auth.key-dir (loaded
// once: the key does not change while the cluster runs, and a refresh
// interval starts a ticker the server never stops), and the default
// authorizer.
func authorizationConfig(a profiles.Auth) config.Authorization {
	if !a.Enabled {
		return config.Authorization{}
	}
	jwks := "file://" + filepath.ToSlash(filepath.Join(a.KeyDir, "jwks.json"))
	return config.Authorization{
		JWTKeyProvider:       config.JWTKeyProvider{KeySourceURIs: []string{jwks}},
		PermissionsClaimName: a.PermissionsClaim,
		Authorizer:           "default",
		ClaimMapper:          "default",
		AuthHeaderName:       a.HeaderName,
		Audience:             a.Audience,
	}
}
