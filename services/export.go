package services

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"time"

	"go.temporal.io/server/common/config"
	serverdc "go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"gopkg.in/yaml.v3"

	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// conventionalPorts are the ports a Temporal cluster uses by convention;
// `config export` gives them to services whose port devcluster would pick
// at start, so the exported config runs as it is.
var conventionalPorts = map[string]profiles.Service{
	profiles.Frontend: {GRPCPort: profiles.DefaultFrontendPort, MembershipPort: 6933, HTTPPort: profiles.DefaultHTTPPort},
	profiles.History:  {GRPCPort: 7234, MembershipPort: 6934},
	profiles.Matching: {GRPCPort: 7235, MembershipPort: 6935},
	profiles.Worker:   {GRPCPort: 7239, MembershipPort: 6939},
}

// ExportPorts fills every port left to devcluster (0) with Temporal's
// conventional one, and membership ports too: a real cluster gossips on them.
func ExportPorts(cfg profiles.Config) profiles.Config {
	out := cfg.Clone()
	for _, name := range profiles.RoleNames {
		s, conv := out.Services.Get(name), conventionalPorts[name]
		if s.GRPCPort == 0 {
			s.GRPCPort = conv.GRPCPort
		}
		if s.MembershipPort == 0 {
			s.MembershipPort = conv.MembershipPort
		}
		if name == profiles.Frontend && s.HTTPPort == 0 {
			s.HTTPPort = conv.HTTPPort
		}
	}
	return out
}

// exportDatabaseName names the in-memory database in an exported config
// (devcluster itself uses a fresh UUID per cluster).
const exportDatabaseName = "devcluster"

// exportMetricsPort is the Prometheus port of an exported config whose
// metrics.address leaves the port to devcluster (":0").
const exportMetricsPort = "9090"

// ExportDynamicConfigFile is the file the exported static config's
// dynamicConfigClient reads when the caller names none.
const ExportDynamicConfigFile = "dynamicconfig.yaml"

// Export renders cfg as what `temporal-server --config` reads (static
// config YAML) and as a dynamic-config file in Temporal's format, which the
// static config's dynamicConfigClient reads from dynamicFile
// (ExportDynamicConfigFile when empty). Ports left to devcluster get
// Temporal's conventional numbers (ExportPorts). Besides what the cluster
// itself runs with, the static config carries the log settings, the
// Prometheus listener of metrics.address and that dynamic-config client:
// devcluster provides those through server options.
func Export(cfg profiles.Config, dynamicFile string) (static, dynamic []byte, err error) {
	cfg = ExportPorts(cfg)
	if cfg.TLS.Enabled && cfg.Ringpop() && !cfg.TLS.Internode.Set() {
		// As a node's start makes it (bootstrap): each node's own
		// certificate names its address, which its clients check.
		cfg.TLS.VerifyInternodeAddress = true
	}
	sqlCfg, err := persistence.MainSQLConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Persistence.InMemory() {
		sqlCfg.DatabaseName = exportDatabaseName
	}
	sc, err := StaticConfig(cfg, sqlCfg)
	if err != nil {
		return nil, nil, err
	}
	exportServerOptions(sc, cfg, dynamicFile)
	static, err = compactYAML(sc)
	if err != nil {
		return nil, nil, fmt.Errorf("render server config: %w", err)
	}
	// What a devcluster with these (now fixed) ports serves, the switches
	// it adds included, so the exported cluster behaves alike.
	dynamic, err = DynamicConfigYAML(EffectiveDynamicConfig(cfg).Values)
	return static, dynamic, err
}

// DynamicConfigYAML renders unconstrained values in Temporal's file format:
// each key a list of {value: ...}.
func DynamicConfigYAML(values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	doc := yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		val, err := dynamicconfig.ParseValue(k, values[k])
		if err != nil {
			return nil, err
		}
		if d, ok := val.(time.Duration); ok {
			val = d.String()
		}
		var v yaml.Node
		if err := v.Encode([]map[string]any{{"value": val}}); err != nil {
			return nil, fmt.Errorf("dynamic config %s: %w", k, err)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	return yaml.Marshal(&doc)
}

// compactYAML renders v without its zero values. The server decodes its
// config into a zero Config, so an absent key and a zero one mean the same.
func compactYAML(v any) ([]byte, error) {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	tree, _ = prune(tree)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// prune drops zero scalars and empty maps and lists; it reports whether
// anything is left.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if pe, ok := prune(e); ok {
				x[k] = pe
			} else {
				delete(x, k)
			}
		}
		return x, len(x) > 0
	case []any:
		var out []any
		for _, e := range x {
			if pe, ok := prune(e); ok {
				out = append(out, pe)
			}
		}
		return out, len(out) > 0
	case nil:
		return nil, false
	case string:
		return x, x != "" && x != "0s"
	case bool:
		return x, x
	case int:
		return x, x != 0
	case float64:
		return x, x != 0
	}
	return v, true
}

// exportServerOptions adds to an exported static config what devcluster
// gives the server as options rather than config: logging, metrics and the
// dynamic-config client. What the temporal: section already set stays.
func exportServerOptions(sc *config.Config, cfg profiles.Config, dynamicFile string) {
	format := "json"
	if cfg.Log.Format == "text" {
		format = "console"
	}
	if sc.Log == (log.Config{}) {
		sc.Log = log.Config{Level: cfg.Log.Level, Format: format, OutputFile: cfg.Log.File}
	}
	if addr := cfg.Metrics.Address; addr != "" && sc.Global.Metrics == nil {
		if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
			addr = net.JoinHostPort(host, exportMetricsPort)
		}
		// metrics.framework's values are the server's framework names.
		sc.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			Framework: cfg.Metrics.Framework, ListenAddress: addr, HandlerPath: "/metrics"}}
	}
	if f := cfg.Persistence.PasswordFile; f != "" && cfg.Persistence.Postgres() {
		// devcluster reads the file at start; the server reads a password
		// only from its config or from a command's output.
		abs, err := filepath.Abs(f)
		if err != nil {
			abs = f
		}
		main := sc.Persistence.DataStores[sc.Persistence.DefaultStore].SQL
		for _, ds := range sc.Persistence.DataStores {
			if ds.SQL != nil && ds.SQL.Password == "" && ds.SQL.PasswordCommand == nil && (main == nil || ds.SQL.User == main.User) {
				ds.SQL.PasswordCommand = &config.PasswordCommandConfig{Command: "cat", Args: []string{abs}}
			}
		}
	}
	if dynamicFile == "" {
		dynamicFile = ExportDynamicConfigFile
	}
	if sc.DynamicConfigClient == nil {
		// The server's file client polls no faster than every 5 s.
		sc.DynamicConfigClient = &serverdc.FileBasedClientConfig{Filepath: dynamicFile, PollInterval: 10 * time.Second}
	}
}
