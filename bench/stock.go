package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/devcluster/devcluster/profiles"
)

// The "stock" configuration reproduces `temporal server start-dev` (CLI
// v1.x on server v1.32.2, see TEMPORAL-NOTES §3.4) on devcluster's own
// server wiring, so that the two columns differ only in the settings
// devcluster chooses:
//
//   - 1 history shard (as the CLI);
//   - SQLite with the driver's default rollback journal and full sync
//     (devcluster's file defaults are WAL + synchronous=NORMAL);
//   - the server's visibility schema with all its indexes
//     (visibility.indexes: full);
//   - 4 task-queue read/write partitions (the server default; devcluster
//     does not change it, stated explicitly here);
//   - only the dynamic-config values the CLI sets; every other value of
//     devcluster's built-in defaults and of the `features` base profile is
//     set back to the server's default;
//   - the server's parts run as a stock server runs them (the server.*
//     keys): the system SDK workers are not stopped before the frontend
//     drains, sticky backlog hints are the server's own, and the SDK hashes
//     the executable for its binary checksum.

// cliValues are the dynamic-config values `temporal server start-dev` sets
// (cli:server.go:240-251, cli:commands.server.go:14-32).
var cliValues = map[string]any{
	"history.hostLevelCacheMaxSize":                         8096,
	"frontend.namespaceRPS.visibility":                      100,
	"history.enableChasm":                                   true,
	"activity.enableStandalone":                             true,
	"history.enableStandaloneActivityOperatorCommands":      true,
	"frontend.enableBatchOperationsForStandaloneActivities": true,
	"system.forceSearchAttributesCacheRefreshOnRead":        true,
	"system.forceNexusEndpointRefreshOnRead":                true,
	"frontend.persistenceMaxQPS":                            10000,
	"history.persistenceMaxQPS":                             45000,
}

// serverDefaults are the server's defaults (`devcluster dynamicconfig keys`)
// of the keys devcluster's built-in defaults (profiles.Default) and the test
// profile set that are not in the CLI's list. The features profile's keys
// come from profiles.FeatureGroups[].Off.
var serverDefaults = map[string]any{
	"frontend.enableServerVersionCheck":                           true, // unless TEMPORAL_VERSION_CHECK_DISABLED is set
	"history.archivalProcessorArchiveDelay":                       "5m",
	"history.transferProcessorSchedulerWorkerCount":               512,
	"history.timerProcessorSchedulerWorkerCount":                  512,
	"history.visibilityProcessorSchedulerWorkerCount":             512,
	"history.archivalProcessorSchedulerWorkerCount":               512,
	"history.memoryTimerProcessorSchedulerWorkerCount":            64,
	"history.ReplicationProcessorSchedulerWorkerCount":            512,
	"history.ReplicationLowPriorityProcessorSchedulerWorkerCount": 128,
	"history.transferProcessorUpdateAckInterval":                  "30s",
	"history.visibilityProcessorUpdateAckInterval":                "30s",
	"history.timerProcessorUpdateAckInterval":                     "30s",
	"history.outboundProcessorUpdateAckInterval":                  "30s",
	"history.archivalProcessorUpdateAckInterval":                  "30s",
	"system.enableReadFromHistoryArchival":                        false,
	"system.enableReadFromVisibilityArchival":                     false,
}

// testProfileDefaults undo the test profile's values (for the in-process
// NewCluster figure of the stock column, which starts from the test profile
// as testutil does).
var testProfileDefaults = map[string]any{
	"matching.getUserDataLongPollTimeout":        "4m50s",
	"matching.listNexusEndpointsLongPollTimeout": "4m50s",
	"history.longPollExpirationInterval":         "20s",
}

// stockValues returns the complete dynamic-config map of the stock column.
func stockValues(forTestProfile bool) map[string]any {
	out := map[string]any{}
	// 1. devcluster's own defaults and features, back to the server's defaults.
	for k := range profiles.Default().DynamicConfig.Values {
		if v, ok := serverDefaults[k]; ok {
			out[k] = v
		}
	}
	for _, g := range profiles.FeatureGroups {
		for k, v := range g.Off {
			out[k] = v
		}
	}
	for k, v := range serverDefaults {
		out[k] = v
	}
	if forTestProfile {
		for k, v := range testProfileDefaults {
			out[k] = v
		}
	}
	// 2. What the CLI sets wins (it includes the standalone-activity and
	// search-attribute/Nexus refresh keys that devcluster also sets).
	for k, v := range cliValues {
		out[k] = v
	}
	// 3. Task-queue partitions at the server default, explicitly.
	out["matching.numTaskqueueReadPartitions"] = 4
	out["matching.numTaskqueueWritePartitions"] = 4
	return out
}

// writeStockConfig writes the stock --config file into dir and returns its
// path.
func writeStockConfig(dir string, forTestProfile bool) (string, error) {
	doc := map[string]any{
		"persistence": map[string]any{
			"shards": 1,
			"pragmas": map[string]any{
				"journal_mode": "delete",
				"synchronous":  "full",
			},
		},
		"visibility":     map[string]any{"indexes": "full"},
		"metrics":        map[string]any{"framework": profiles.MetricsTally}, // the CLI's (tally is the server's default)
		"dynamic-config": map[string]any{"values": stockValues(forTestProfile)},
		"server": map[string]any{
			"stop-system-workers-first":   false,
			"correct-sticky-backlog-hint": false,
			"binary-checksum":             "",
			"fresh-reads-after-change":    false,
			"memory-limit-mib":            0,
		},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	name := "stock.yaml"
	if forTestProfile {
		name = "stock-test.yaml"
	}
	path := filepath.Join(dir, name)
	header := "# bench: `temporal server start-dev` settings on devcluster's server\n"
	return path, os.WriteFile(path, append([]byte(header), b...), 0o644)
}

// describeStock is a one-paragraph summary printed under the table.
func describeStock() string {
	keys := make([]string, 0, len(cliValues))
	for k := range cliValues {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("stock = 1 shard, SQLite journal_mode=delete synchronous=full, all 58 visibility indexes, 4 task-queue partitions,\n"+
		"        the server's system SDK workers left running while the frontend drains, the server's sticky backlog\n"+
		"        hints, the SDK's MD5 binary checksum,\n"+
		"        dynamic config of `temporal server start-dev` only (%s),\n"+
		"        every other devcluster default/feature value back to the server default", strings.Join(keys, ", "))
}
