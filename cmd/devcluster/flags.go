package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// Flag names. Each flag that sets a config key is listed in startFlagKeys,
// which errors use to say where a value came from.
const (
	flagIP                  = "ip"
	flagPort                = "port"
	flagHTTPPort            = "http-port"
	flagHistoryPort         = "history-port"
	flagMatchingPort        = "matching-port"
	flagWorkerPort          = "worker-port"
	flagFrontendMember      = "frontend-membership-port"
	flagHistoryMember       = "history-membership-port"
	flagMatchingMember      = "matching-membership-port"
	flagWorkerMember        = "worker-membership-port"
	flagDBFile              = "db-file"
	flagDBURL               = "db-url"
	flagDBPasswordFile      = "db-password-file"
	flagShards              = "shards"
	flagNamespace           = "namespace"
	flagRetention           = "retention"
	flagSearchAttribute     = "search-attribute"
	flagDynamicConfigValue  = "dynamic-config-value"
	flagLogLevel            = "log-level"
	flagLogFormat           = "log-format"
	flagStartupTimeout      = "startup-timeout"
	flagShutdownTimeout     = "shutdown-timeout"
	flagProfile             = "profile"
	flagConfig              = "config"
	flagPortsFile           = "ports-file"
	flagDataDir             = "data-dir"
	flagDynamicConfigFile   = "dynamic-config-file"
	flagFaults              = "faults"
	flagUIPort              = "ui-port"
	flagUIIP                = "ui-ip"
	flagHeadless            = "headless"
	flagWriteClientProfile  = "write-client-profile"
	flagTLS                 = "tls"
	flagTimeSkipping        = "time-skipping"
	flagCertDir             = "cert-dir"
	flagAddress             = "address"
	flagTimeout             = "timeout"
	flagClusters            = "clusters"
	flagServices            = "services"
	flagMembership          = "membership"
	flagBroadcastAddress    = "broadcast-address"
	dynamicConfigKeyPrefix  = "dynamic-config.values."
	namespacesKeyPrefix     = "namespaces"
	searchAttributeKeyMatch = ".search-attributes"
)

// startFlagKeys maps a flag to the config key it sets.
var startFlagKeys = map[string]string{
	flagIP:                 "ip",
	flagPort:               "services.frontend.grpc-port",
	flagHTTPPort:           "services.frontend.http-port",
	flagHistoryPort:        "services.history.grpc-port",
	flagMatchingPort:       "services.matching.grpc-port",
	flagWorkerPort:         "services.worker.grpc-port",
	flagFrontendMember:     "services.frontend.membership-port",
	flagHistoryMember:      "services.history.membership-port",
	flagMatchingMember:     "services.matching.membership-port",
	flagWorkerMember:       "services.worker.membership-port",
	flagDBFile:             "persistence.file",
	flagDBURL:              "persistence.url",
	flagDBPasswordFile:     "persistence.password-file",
	flagShards:             "persistence.shards",
	flagLogLevel:           "log.level",
	flagLogFormat:          "log.format",
	flagStartupTimeout:     "startup.timeout",
	flagShutdownTimeout:    "shutdown.timeout",
	flagPortsFile:          "ports-file",
	flagDataDir:            "data-dir",
	flagDynamicConfigFile:  "dynamic-config.file",
	flagFaults:             "faults.file",
	flagUIPort:             "ui.port",
	flagUIIP:               "ui.ip",
	flagTLS:                "tls.enabled",
	flagTimeSkipping:       "time-skipping",
	flagUIPublicPath:       "ui.public-path",
	flagUICodecEndpoint:    "ui.codec-endpoint",
	flagUIAssetPath:        "ui.asset-path",
	flagCertDir:            "tls.cert-dir",
	flagNamespace:          "namespaces[*].name",
	flagRetention:          "namespaces[*].retention",
	flagSearchAttribute:    "namespaces[*].search-attributes",
	flagDynamicConfigValue: "dynamic-config.values",
	flagClusters:           "clusters",
	flagServices:           "services.run",
	flagMembership:         "membership.mode",
	flagBroadcastAddress:   "membership.broadcast-address",
}

// startFlags are the layer flags and every flag that sets a config key.
// Defaults shown in help are the built-in defaults; a flag only takes part
// when it is given.
func startFlags() []cli.Flag {
	return append(layerFlags(), configKeyFlags()...)
}

func configKeyFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: flagIP, Value: "127.0.0.1", Usage: "IP address every service binds to (0.0.0.0 for all interfaces)"},
		&cli.IntFlag{Name: flagPort, Aliases: []string{"p"}, Value: profiles.DefaultFrontendPort, Usage: "frontend gRPC port (0: a free port)"},
		&cli.IntFlag{Name: flagHTTPPort, Value: profiles.DefaultHTTPPort, Usage: "frontend HTTP API port (0: a free port, -1: off)"},
		&cli.IntFlag{Name: flagHistoryPort, Usage: "history gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagMatchingPort, Usage: "matching gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagWorkerPort, Usage: "worker gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagFrontendMember, Usage: "frontend ringpop port (default with ringpop: a free port; with static membership it is only reserved)"},
		&cli.IntFlag{Name: flagHistoryMember, Usage: "history ringpop port (as --frontend-membership-port)"},
		&cli.IntFlag{Name: flagMatchingMember, Usage: "matching ringpop port (as --frontend-membership-port)"},
		&cli.IntFlag{Name: flagWorkerMember, Usage: "worker ringpop port (as --frontend-membership-port)"},
		&cli.StringFlag{Name: flagServices, Usage: "roles this process runs, e.g. history or frontend,worker (default all four); fewer than four joins the other processes of the cluster through ringpop on a shared --db-url"},
		&cli.StringFlag{Name: flagMembership, Usage: "how roles find each other: static (all in this process), ringpop (on the membership ports, seeded from the shared database) or auto (ringpop when --services lists fewer than four)"},
		&cli.StringFlag{Name: flagBroadcastAddress, Usage: "IP the other nodes reach this one at, when --ip is not reachable by them (default --ip, or 127.0.0.1 for 0.0.0.0)"},
		&cli.StringFlag{Name: flagDBFile, Aliases: []string{"f", "db-filename"}, Usage: "SQLite database file, created if new (default: in memory, lost at exit)"},
		&cli.StringFlag{Name: flagDBURL, Usage: "run on PostgreSQL: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=require]; devcluster creates the database (and DB_visibility), installs or upgrades the schema"},
		&cli.StringFlag{Name: flagDBPasswordFile, Usage: "file holding the PostgreSQL password, for a --db-url without one"},
		&cli.IntFlag{Name: flagShards, Value: 1, Usage: "number of history shards (fixed when the database is created)"},
		&cli.StringSliceFlag{Name: flagNamespace, Aliases: []string{"n"}, Usage: "extra namespace to register (repeatable); \"default\" always exists"},
		&cli.DurationFlag{Name: flagRetention, Value: profiles.Default().Namespaces[0].Retention, Usage: "retention of closed workflows in every namespace"},
		&cli.StringSliceFlag{Name: flagSearchAttribute, Usage: "custom search attribute NAME=TYPE in every namespace (repeatable); TYPE is one of " + strings.Join(profiles.SearchAttributeTypes, ", ")},
		&cli.GenericFlag{Name: flagDynamicConfigValue, Value: &wholeValues{}, Usage: "dynamic config KEY=JSON, e.g. limit.maxIDLength=255 or 'history.cacheBackgroundEvict={\"Enabled\":true,\"LoopInterval\":\"10s\"}' (repeatable)"},
		&cli.StringFlag{Name: flagLogLevel, Value: "info", Usage: "debug, info, warn or error (the server's own messages show from warn up unless debug)"},
		&cli.StringFlag{Name: flagLogFormat, Value: "text", Usage: "text or json"},
		&cli.DurationFlag{Name: flagStartupTimeout, Value: profiles.Default().Startup.Timeout, Usage: "give up starting after this long"},
		&cli.DurationFlag{Name: flagShutdownTimeout, Value: profiles.Default().Shutdown.Timeout, Usage: "stop at once after this long"},
		&cli.StringFlag{Name: flagPortsFile, Usage: "write the cluster's addresses as JSON to this file once it is ready (removed at stop)"},
		&cli.StringFlag{Name: flagDynamicConfigFile, Usage: "dynamic-config YAML in Temporal's format, applied over --dynamic-config-value and reloaded on every save (may appear later)"},
		&cli.StringFlag{Name: flagFaults, Usage: "fault rules (YAML: seed, rules of frontend or persistence faults) the running cluster obeys, reloaded on every save (may appear later); see the README's Faults"},
		&cli.IntFlag{Name: flagUIPort, Usage: "Web UI port (default: frontend port + 1000, or free when that is 0)"},
		&cli.StringFlag{Name: flagUIIP, Usage: "Web UI bind IP (default: --ip)"},
		&cli.BoolFlag{Name: flagHeadless, Usage: "do not serve the Web UI"},
		&cli.BoolFlag{Name: flagTLS, Usage: "mTLS on internode and frontend traffic with throwaway certificates (as --profile secure)"},
		&cli.BoolFlag{Name: flagTimeSkipping, Usage: "workflows started in every namespace skip time whenever they only wait on timers (a 30-day sleep ends at once)"},
		&cli.StringFlag{Name: flagCertDir, Usage: "keep generated certificates here across restarts (default: a temporary directory)"},
		&cli.StringFlag{Name: flagWriteClientProfile, Usage: "once ready, write a temporal CLI/SDK client profile NAME (address, namespace, TLS files) to the client config file"},
		&cli.StringFlag{Name: flagDataDir, Usage: "directory for relative paths (database file, archives); created at start"},
		&cli.StringFlag{Name: flagClusters, Usage: "run several clusters that replicate to each other, e.g. a,b (NAME or NAME:PORT, at least two): every namespace is global and active on the first; --port is the first's frontend, the others get free ports"},
	}, cliOnlyFlags()...)
}

// usageError is a bad flag value found before the config exists; exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Environment variables read by the command line itself.
const (
	envProfile = "DEVCLUSTER_PROFILE"
	envConfig  = "DEVCLUSTER_CONFIG"
	// envTestPostgres is testutil.PostgresEnv (for `go test`, not for
	// devcluster): a shell that exports it may still run devcluster.
	envTestPostgres = "DEVCLUSTER_TEST_POSTGRES_URL"
)

// layerFlags choose the profiles and the config file.
func layerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: flagProfile, EnvVars: []string{envProfile},
			Usage: "built-in profiles to compose, in order, e.g. ci or persistent (" + strings.Join(profiles.Builtin(), ", ") + "; default " + profiles.DefaultProfile + ")"},
		&cli.StringFlag{Name: flagConfig, Aliases: []string{"c"}, EnvVars: []string{envConfig},
			Usage: "config file (.yaml, .toml or .json) applied over the profiles"},
	}
}

// loadConfig composes defaults < profiles < --config file < DEVCLUSTER_*
// environment < flags. Only flags the user set take part.
func loadConfig(c *cli.Context, environ []string) (*profiles.Loaded, error) {
	opts := profiles.LoadOptions{
		File:    c.String(flagConfig),
		Environ: environ,
		Ignore:  []string{envProfile, envConfig, envTestPostgres},
	}
	for _, p := range c.StringSlice(flagProfile) {
		for _, name := range strings.Split(p, ",") {
			if name = strings.TrimSpace(name); name != "" {
				opts.Profiles = append(opts.Profiles, name)
			}
		}
	}
	opts.ProfilesOrigin = flagOrEnvOrigin(c, flagProfile, envProfile, environ)
	startDev := isStartDev(c)
	if startDev {
		// The CLI's defaults first; profiles the harness names go over them.
		opts.Profiles = append([]string{startDevProfile}, opts.Profiles...)
	}
	opts.FileOrigin = flagOrEnvOrigin(c, flagConfig, envConfig, environ)

	for _, flag := range sortedFlagNames() {
		key := startFlagKeys[flag]
		if !c.IsSet(flag) || strings.ContainsAny(key, "[*") || key == "dynamic-config.values" {
			continue
		}
		value := c.Value(flag)
		switch flag {
		case flagClusters: // a list: "a,b" is two names
			value = splitList(c.String(flag))
		case flagServices: // "frontend,worker" or "frontend+worker"
			value = profiles.ParseRoles(c.String(flag))
		case flagLogLevel:
			if startDev {
				value = cliLogLevel(c.String(flag))
			}
		case flagLogFormat:
			if startDev {
				value = cliLogFormat(c.String(flag))
			}
		}
		opts.Settings = append(opts.Settings, profiles.Setting{Path: profiles.KeyPath(key), Value: value, Origin: "flag --" + flag})
	}
	if c.IsSet(flagHeadless) {
		opts.Settings = append(opts.Settings, profiles.Setting{Path: []string{"ui", "enabled"}, Value: !c.Bool(flagHeadless), Origin: "flag --" + flagHeadless})
	}
	for _, kv := range c.StringSlice(flagSQLitePragma) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, &usageError{fmt.Sprintf("flag --%s: %q is not PRAGMA=VALUE; e.g. --%s journal_mode=wal", flagSQLitePragma, kv, flagSQLitePragma)}
		}
		opts.Settings = append(opts.Settings, profiles.Setting{Path: []string{"persistence", "pragmas", strings.TrimSpace(name)}, Value: strings.TrimSpace(value), Origin: "flag --" + flagSQLitePragma})
	}
	var dcValues []string
	if w, ok := c.Generic(flagDynamicConfigValue).(*wholeValues); ok {
		dcValues = *w
	}
	dcParsed := map[string]any{}
	var dcOrder []string
	for _, kv := range dcValues {
		key, raw, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return nil, &usageError{fmt.Sprintf("flag --%s: %q is not KEY=JSON; e.g. --%s limit.maxIDLength=255", flagDynamicConfigValue, kv, flagDynamicConfigValue)}
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			hint := fmt.Sprintf(`quote strings, e.g. %s='"text"'`, key)
			if s, ok := dynamicconfig.Lookup(key); ok {
				hint = s.JSONHint() // what this setting's type takes
			}
			return nil, &usageError{fmt.Sprintf("flag --%s: %s: %q is not JSON; %s", flagDynamicConfigValue, key, raw, hint)}
		}
		// Numbers as the server takes them (300, not the string "300" that
		// config show printed for a json.Number).
		if _, seen := dcParsed[key]; !seen {
			dcOrder = append(dcOrder, key)
		}
		dcParsed[key] = dynamicconfig.Normalise(v)
	}
	if startDev {
		// Keys documentation and SDK harnesses pass that the server
		// renamed or removed: applied under the new name, or dropped.
		var warnings []string
		dcParsed, warnings = dynamicconfig.UpgradeLegacy(dcParsed)
		for _, w := range warnings {
			fmt.Fprintln(c.App.ErrWriter, "devcluster: warning: "+w)
		}
		dcOrder = dcOrder[:0]
		for k := range dcParsed {
			dcOrder = append(dcOrder, k)
		}
		sort.Strings(dcOrder)
	}
	for _, key := range dcOrder {
		opts.Settings = append(opts.Settings, profiles.Setting{Path: []string{"dynamic-config", "values", key}, Value: dcParsed[key], Origin: "flag --" + flagDynamicConfigValue})
	}

	sas := map[string]string{}
	for _, kv := range c.StringSlice(flagSearchAttribute) {
		name, typ, ok := strings.Cut(kv, "=")
		if !ok || name == "" || typ == "" {
			return nil, &usageError{fmt.Sprintf("flag --%s: %q is not NAME=TYPE; e.g. --%s CustomerId=Keyword", flagSearchAttribute, kv, flagSearchAttribute)}
		}
		canon, ok := profiles.CanonicalSearchAttributeType(typ)
		if !ok {
			return nil, &usageError{fmt.Sprintf("flag --%s: %q: type %q is not a search attribute type; use one of %s",
				flagSearchAttribute, kv, typ, strings.Join(profiles.SearchAttributeTypes, ", "))}
		}
		sas[name] = canon
	}
	extra := c.StringSlice(flagNamespace)
	if len(extra) > 0 || len(sas) > 0 || c.IsSet(flagRetention) || c.IsSet(flagMetricsPort) || startDev {
		opts.Adjust = func(cfg *profiles.Config) map[string]string {
			origins := map[string]string{}
			if key, origin, ok := metricsAddress(c, cfg, startDev); ok {
				origins[key] = origin
			}
			for _, ns := range extra {
				if !hasNamespace(cfg.Namespaces, ns) {
					cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{Name: ns, Retention: profiles.DefaultRetention})
					origins[fmt.Sprintf("namespaces[%d]", len(cfg.Namespaces)-1)] = "flag --" + flagNamespace
				}
			}
			for i := range cfg.Namespaces {
				key := fmt.Sprintf("namespaces[%d]", i)
				if c.IsSet(flagRetention) {
					cfg.Namespaces[i].Retention = c.Duration(flagRetention)
					origins[key+".retention"] = "flag --" + flagRetention
				}
				if len(sas) > 0 {
					merged := map[string]string{}
					for k, v := range cfg.Namespaces[i].SearchAttributes {
						merged[k] = v
					}
					for k, v := range sas {
						merged[k] = v
						origins[key+".search-attributes."+k] = "flag --" + flagSearchAttribute
					}
					cfg.Namespaces[i].SearchAttributes = merged
				}
			}
			return origins
		}
	}
	return profiles.Load(opts)
}

func hasNamespace(list []profiles.Namespace, name string) bool {
	for _, ns := range list {
		if ns.Name == name {
			return true
		}
	}
	return false
}

func sortedFlagNames() []string {
	out := make([]string, 0, len(startFlagKeys))
	for f := range startFlagKeys {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// flagOrEnvOrigin says whether a layer flag came from the command line or
// from its environment variable (urfave reports both as set).
func flagOrEnvOrigin(c *cli.Context, flag, env string, environ []string) string {
	if !c.IsSet(flag) {
		return ""
	}
	text := c.String(flag)
	if list := c.StringSlice(flag); len(list) > 0 {
		text = strings.Join(list, ",")
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, env+"="); ok && v == text {
			return "env " + env
		}
	}
	return "flag --" + flag
}

// wholeValues is a repeatable flag that keeps each value whole. A
// StringSliceFlag splits values at commas, which cut JSON objects and
// lists given to --dynamic-config-value into pieces that were then
// reported as not JSON.
type wholeValues []string

func (w *wholeValues) Set(v string) error { *w = append(*w, v); return nil }

func (w *wholeValues) String() string { return strings.Join(*w, " ") }

// metricsAddress puts the metrics endpoint on --ip at --metrics-port; for
// start-dev, on --ip at a free port unless a config or profile chose an
// address (as the CLI binds metrics beside the frontend: a container's
// --ip 0.0.0.0 publishes them). It returns the key it set and its origin.
func metricsAddress(c *cli.Context, cfg *profiles.Config, startDev bool) (string, string, bool) {
	ip := cfg.IP
	if ip == "" || ip == "localhost" {
		ip = "127.0.0.1"
	}
	switch {
	case c.IsSet(flagMetricsPort):
		cfg.Metrics.Address = netaddr.HostPort(ip, c.Int(flagMetricsPort))
		return "metrics.address", "flag --" + flagMetricsPort, true
	case startDev && cfg.Metrics.Address == startDevMetricsAddress:
		cfg.Metrics.Address = netaddr.HostPort(ip, 0)
	}
	return "", "", false
}

// startDevMetricsAddress is metrics.address in the start-dev profile.
const startDevMetricsAddress = "127.0.0.1:0"
