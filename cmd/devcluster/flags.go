package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

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
	flagShards              = "shards"
	flagNamespace           = "namespace"
	flagRetention           = "retention"
	flagSearchAttribute     = "search-attribute"
	flagDynamicConfigValue  = "dynamic-config-value"
	flagLogLevel            = "log-level"
	flagLogFormat           = "log-format"
	flagStartupTimeout      = "startup-timeout"
	flagShutdownTimeout     = "shutdown-timeout"
	flagAddress             = "address"
	flagTimeout             = "timeout"
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
	flagShards:             "persistence.shards",
	flagLogLevel:           "log.level",
	flagLogFormat:          "log.format",
	flagStartupTimeout:     "startup.timeout",
	flagShutdownTimeout:    "shutdown.timeout",
	flagNamespace:          "namespaces[*].name",
	flagRetention:          "namespaces[*].retention",
	flagSearchAttribute:    "namespaces[*].search-attributes",
	flagDynamicConfigValue: "dynamic-config.values",
}

func startFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagIP, Value: "127.0.0.1", Usage: "IP address every service binds to (0.0.0.0 for all interfaces)"},
		&cli.IntFlag{Name: flagPort, Aliases: []string{"p"}, Value: 7233, Usage: "frontend gRPC port (0: a free port)"},
		&cli.IntFlag{Name: flagHTTPPort, Value: 7243, Usage: "frontend HTTP API port (0: a free port, -1: off)"},
		&cli.IntFlag{Name: flagHistoryPort, Usage: "history gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagMatchingPort, Usage: "matching gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagWorkerPort, Usage: "worker gRPC port (default: a free port)"},
		&cli.IntFlag{Name: flagFrontendMember, Usage: "frontend membership port (reserved; static membership does not listen on it)"},
		&cli.IntFlag{Name: flagHistoryMember, Usage: "history membership port (reserved)"},
		&cli.IntFlag{Name: flagMatchingMember, Usage: "matching membership port (reserved)"},
		&cli.IntFlag{Name: flagWorkerMember, Usage: "worker membership port (reserved)"},
		&cli.StringFlag{Name: flagDBFile, Aliases: []string{"f"}, Usage: "SQLite database file, created if new (default: in memory, lost at exit)"},
		&cli.IntFlag{Name: flagShards, Value: 1, Usage: "number of history shards (fixed when a database file is created)"},
		&cli.StringSliceFlag{Name: flagNamespace, Aliases: []string{"n"}, Usage: "extra namespace to register (repeatable); \"default\" always exists"},
		&cli.DurationFlag{Name: flagRetention, Value: profiles.Default().Namespaces[0].Retention, Usage: "retention of closed workflows in every namespace"},
		&cli.StringSliceFlag{Name: flagSearchAttribute, Usage: "custom search attribute NAME=TYPE in every namespace (repeatable); TYPE is one of " + strings.Join(profiles.SearchAttributeTypes, ", ")},
		&cli.StringSliceFlag{Name: flagDynamicConfigValue, Usage: "dynamic config KEY=JSON, e.g. limit.maxIDLength=255 (repeatable)"},
		&cli.StringFlag{Name: flagLogLevel, Value: "info", Usage: "debug, info, warn or error (the server's own messages show from warn up unless debug)"},
		&cli.StringFlag{Name: flagLogFormat, Value: "text", Usage: "text or json"},
		&cli.DurationFlag{Name: flagStartupTimeout, Value: profiles.Default().Startup.Timeout, Usage: "give up starting after this long"},
		&cli.DurationFlag{Name: flagShutdownTimeout, Value: profiles.Default().Shutdown.Timeout, Usage: "stop at once after this long"},
	}
}

// usageError is a bad flag value found before the config exists; exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// configFromFlags builds the config a `start` command line asks for.
func configFromFlags(c *cli.Context) (profiles.Config, error) {
	cfg := profiles.Default()
	cfg.IP = c.String(flagIP)
	cfg.Services.Frontend.GRPCPort = c.Int(flagPort)
	cfg.Services.Frontend.HTTPPort = c.Int(flagHTTPPort)
	cfg.Services.History.GRPCPort = c.Int(flagHistoryPort)
	cfg.Services.Matching.GRPCPort = c.Int(flagMatchingPort)
	cfg.Services.Worker.GRPCPort = c.Int(flagWorkerPort)
	cfg.Services.Frontend.MembershipPort = c.Int(flagFrontendMember)
	cfg.Services.History.MembershipPort = c.Int(flagHistoryMember)
	cfg.Services.Matching.MembershipPort = c.Int(flagMatchingMember)
	cfg.Services.Worker.MembershipPort = c.Int(flagWorkerMember)
	cfg.Persistence.File = c.String(flagDBFile)
	cfg.Persistence.Shards = c.Int(flagShards)
	cfg.Log.Level = c.String(flagLogLevel)
	cfg.Log.Format = c.String(flagLogFormat)
	cfg.Startup.Timeout = c.Duration(flagStartupTimeout)
	cfg.Shutdown.Timeout = c.Duration(flagShutdownTimeout)

	for _, ns := range c.StringSlice(flagNamespace) {
		if ns == profiles.DefaultNamespace {
			continue
		}
		cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{Name: ns})
	}
	sas := map[string]string{}
	for _, kv := range c.StringSlice(flagSearchAttribute) {
		name, typ, ok := strings.Cut(kv, "=")
		if !ok || name == "" || typ == "" {
			return cfg, &usageError{fmt.Sprintf("flag --%s: %q is not NAME=TYPE; e.g. --%s CustomerId=Keyword", flagSearchAttribute, kv, flagSearchAttribute)}
		}
		canon, ok := profiles.CanonicalSearchAttributeType(typ)
		if !ok {
			return cfg, &usageError{fmt.Sprintf("flag --%s: %q: type %q is not a search attribute type; use one of %s",
				flagSearchAttribute, kv, typ, strings.Join(profiles.SearchAttributeTypes, ", "))}
		}
		sas[name] = canon
	}
	for i := range cfg.Namespaces {
		cfg.Namespaces[i].Retention = c.Duration(flagRetention)
		if len(sas) > 0 {
			cfg.Namespaces[i].SearchAttributes = sas
		}
	}
	for _, kv := range c.StringSlice(flagDynamicConfigValue) {
		key, raw, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return cfg, &usageError{fmt.Sprintf("flag --%s: %q is not KEY=JSON; e.g. --%s limit.maxIDLength=255", flagDynamicConfigValue, kv, flagDynamicConfigValue)}
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			return cfg, &usageError{fmt.Sprintf("flag --%s: %s: %q is not JSON; quote strings, e.g. %s='\"1s\"'", flagDynamicConfigValue, key, raw, key)}
		}
		if cfg.DynamicConfig.Values == nil {
			cfg.DynamicConfig.Values = map[string]any{}
		}
		cfg.DynamicConfig.Values[key] = v
	}
	return cfg, nil
}

// originOf returns "flag --NAME" for the flag that set key, if one did.
func originOf(c *cli.Context, key string) string {
	for flag, k := range startFlagKeys {
		if !c.IsSet(flag) {
			continue
		}
		if k == key || (strings.HasPrefix(key, namespacesKeyPrefix) && strings.HasSuffix(k, afterIndex(key))) {
			return "flag --" + flag
		}
	}
	if strings.HasPrefix(key, namespacesKeyPrefix) && strings.Contains(key, searchAttributeKeyMatch) && c.IsSet(flagSearchAttribute) {
		return "flag --" + flagSearchAttribute
	}
	return ""
}

// afterIndex turns "namespaces[2].retention" into ".retention".
func afterIndex(key string) string {
	if i := strings.IndexByte(key, ']'); i >= 0 {
		return key[i+1:]
	}
	return key
}
