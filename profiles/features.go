package profiles

import (
	"fmt"
	"sort"
	"strings"
)

// FeatureGroup is a set of dynamic-config values of the features profile
// that together turn on one SDK-facing feature.
type FeatureGroup struct {
	Name string
	What string
	// Off maps each key of the group to the value that turns it off (the
	// server's default).
	Off map[string]any
}

// FeatureGroups are the groups `devcluster features` reports, in order.
var FeatureGroups = []FeatureGroup{
	{"versioning", "worker-versioning rule and build-id APIs; deployment drainage checked every 5s", map[string]any{
		"frontend.workerVersioningRuleAPIs": false, "frontend.workerVersioningDataAPIs": false,
		"system.enableSuggestCaNOnNewTargetVersion":              false,
		"matching.wv.VersionDrainageStatusVisibilityGracePeriod": "3m", "matching.wv.VersionDrainageStatusRefreshInterval": "3m"}},
	{"callbacks", "completion callbacks to any address (http too), on updates and standalone activities", map[string]any{
		"callback.allowedAddresses": []any{}, "history.enableUpdateCallbacks": false, "activity.enableCallbacks": false}},
	{"nexus", "Nexus callbacks to this cluster's HTTP address; standalone Nexus operations", map[string]any{
		"component.nexusoperations.callback.endpoint.template": "unset", "nexusoperation.callback.endpoint.template": "unset",
		"nexusoperation.enableStandalone": false}},
	{"shutdown", "worker polls cancelled on shutdown; worker commands", map[string]any{
		"frontend.enableCancelWorkerPollsOnShutdown": false, "frontend.WorkerCommandsEnabled": false,
		"system.enableCancelActivityWorkerCommand": false}},
	{"visibility", "new search attributes and Nexus endpoints usable at once", map[string]any{
		"system.forceSearchAttributesCacheRefreshOnRead": false, "system.forceNexusEndpointRefreshOnRead": false}},
	{"timers", "timers, retries and continue-as-new at ~100ms granularity (not ~1s)", map[string]any{
		"history.timerProcessorMaxTimeShift": "1s", "history.workflowIdReuseMinimalInterval": "1s"}},
	{"activities", "operator and batch commands for standalone activities", map[string]any{
		"history.enableStandaloneActivityOperatorCommands": false, "frontend.enableBatchOperationsForStandaloneActivities": false}},
	{"workflow-apis", "workflow pause, workflow rules, time skipping, paginated task completion, signal-with-start from workflows", map[string]any{
		"frontend.WorkflowPauseEnabled": false, "frontend.workflowRulesAPIsEnabled": false, "frontend.WorkflowTimeSkippingEnabled": false,
		"history.enableWorkflowTaskCompletionPagination": false, "history.enableSignalWithStartFromWorkflow": false}},
	{"fairness", "fairness keys take effect on task queues", map[string]any{"matching.autoEnableV2": false}},
}

// TimeShiftKey is the server's guard for clock skew: a new timer task is
// never due before now plus this shift, so a timer that is due at once
// (the one a time skip makes due) waits for it. The timers feature sets
// 100ms; a cluster of one process that skips time gets 1ms (see
// FeatureDefault), which made a skipped step 98 ms faster.
const TimeShiftKey = "history.timerProcessorMaxTimeShift"

// FeatureDefault reports whether v is the built-in profiles' value of the
// dynamic-config key, i.e. one the user did not change.
func FeatureDefault(key string, v any) bool {
	want, ok := featureValues()[strings.ToLower(key)]
	return ok && fmt.Sprint(want) == fmt.Sprint(v)
}

// FeatureState is a group's state in a config.
type FeatureState struct {
	Group FeatureGroup
	On    bool
	// Why lists the keys that differ from the features profile, with the
	// value in force.
	Why []string
}

// Features reports which groups are on in cfg: a group is on when every
// one of its keys has the features profile's value. The Nexus group also
// needs the frontend's HTTP API, which serves the callbacks.
func Features(cfg Config) []FeatureState {
	base := featureValues()
	var out []FeatureState
	for _, g := range FeatureGroups {
		st := FeatureState{Group: g, On: true}
		keys := make([]string, 0, len(g.Off))
		for k := range g.Off {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			want := base[strings.ToLower(k)]
			got, ok := lookupFold(cfg.DynamicConfig.Values, k)
			if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
				st.On = false
				v := "the server's default"
				if ok {
					v = fmt.Sprint(got)
				}
				st.Why = append(st.Why, k+" = "+v)
			}
		}
		if g.Name == "nexus" && cfg.Services.Frontend.HTTPPort == -1 {
			st.On = false
			st.Why = append(st.Why, "services.frontend.http-port = -1 (the HTTP API serves Nexus callbacks)")
		}
		out = append(out, st)
	}
	return out
}

func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// featureValues returns the built-in defaults' and the features profile's
// dynamic-config values, keys lower-cased.
func featureValues() map[string]any {
	src, _ := BuiltinSource(BaseProfile)
	m, err := parseYAML(src)
	if err != nil {
		panic("profiles: built-in features profile is corrupt: " + err.Error())
	}
	out := map[string]any{}
	for k, v := range Default().DynamicConfig.Values {
		out[strings.ToLower(k)] = v
	}
	dcm, _ := m["dynamic-config"].(map[string]any)
	vals, _ := dcm["values"].(map[string]any)
	for k, v := range vals {
		out[strings.ToLower(k)] = v
	}
	return out
}
