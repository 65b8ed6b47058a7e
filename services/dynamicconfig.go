package services

import (
	"maps"
	"strings"

	dc "go.temporal.io/server/common/dynamicconfig"

	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// HTTPAddressPlaceholder in a dynamic-config string value is replaced by the
// frontend's HTTP address (host:port) once ports are chosen.
const HTTPAddressPlaceholder = "${http-address}"

// StaticDynamicConfig is the static layer of a cluster's dynamic config:
// what the server reads below the watched file and overrides.
type StaticDynamicConfig struct {
	// Values are cfg's dynamic-config.values (built-in defaults, profiles,
	// --config, env and flags, already layered by profiles.Load) plus the
	// switches devcluster adds, with HTTPAddressPlaceholder filled in where
	// the address is known.
	Values map[string]any
	// Added says, for each key devcluster added because the config leaves it
	// unset, why. Keys are spelt as the server's registry spells them.
	Added map[string]string
}

// EffectiveDynamicConfig returns the static dynamic-config values a cluster
// for cfg serves. It is the one place that decides them: bootstrap gives
// them to the server (again once ports are resolved), `config export`
// writes them and `dynamicconfig show` prints them.
//
// HTTPAddressPlaceholder becomes the frontend's HTTP address when
// cfg's HTTP port is fixed (as it is after ResolvePorts), "unset" (the
// server's marker for a template it must not use) when the HTTP API is off
// (-1), and stays as it is when the port is 0, to be picked at start.
func EffectiveDynamicConfig(cfg profiles.Config) StaticDynamicConfig {
	out := StaticDynamicConfig{Values: maps.Clone(cfg.DynamicConfig.Values), Added: map[string]string{}}
	if out.Values == nil {
		out.Values = map[string]any{}
	}
	// The server refuses a start request's time-skipping config (and
	// devcluster workflow fast-forward) unless this is on; it only permits
	// requests that ask for skipping. The user's own value wins (Validate
	// refuses false where the config skips time).
	if !hasKeyFold(out.Values, profiles.TimeSkippingKey) {
		out.Values[profiles.TimeSkippingKey] = true
		out.Added[profiles.TimeSkippingKey] = "time skipping needs it"
	}
	// A time skip makes a timer due at once, which then waits for the
	// timer queue's time shift: in one process (one clock, no shard
	// moving between hosts) 1ms instead of the timers feature's 100ms.
	// Clusters of several processes keep it.
	if v, ok := lookupFold(out.Values, profiles.TimeShiftKey); len(cfg.TimeSkippingNamespaces()) > 0 && !cfg.Ringpop() && (!ok || profiles.FeatureDefault(profiles.TimeShiftKey, v)) {
		out.Values[profiles.TimeShiftKey] = "1ms"
		out.Added[profiles.TimeShiftKey] = "time skipping: a timer a skip makes due fires at once"
	}
	// Queue reads without a fleet's rate limit, in one process: the
	// transfer and timer queues load tasks at most 20 times a second per
	// shard, so a workflow stepping faster (a time-skipping one: sleep,
	// activity, sleep ...) waited up to 50 ms at each step. Clusters of
	// several processes keep the server's limit (see PollRPSKeys).
	if !cfg.Ringpop() {
		for _, k := range PollRPSKeys {
			if !hasKeyFold(out.Values, k) {
				out.Values[k] = 1000
				out.Added[k] = "one process: tasks read as soon as they are due"
			}
		}
	}
	// Values such as the Nexus callback template name the HTTP address,
	// which the server reads at use.
	var addr string
	switch port := cfg.Services.Frontend.HTTPPort; {
	case port > 0:
		addr = netaddr.HostPort(netaddr.DialIP(cfg.IP), port)
	case port < 0:
		addr = "unset"
	}
	if addr != "" {
		for k, v := range out.Values {
			s, ok := v.(string)
			if !ok || !strings.Contains(s, HTTPAddressPlaceholder) {
				continue
			}
			if addr == "unset" {
				out.Values[k] = "unset"
			} else {
				out.Values[k] = strings.ReplaceAll(s, HTTPAddressPlaceholder, addr)
			}
		}
	}
	return out
}

// Parse checks the values against the server's settings and returns them as
// the server's client serves them; errors wrap dynamicconfig.ErrUnknownKey
// or dynamicconfig.ErrBadValue.
func (d StaticDynamicConfig) Parse() (dc.ConfigValueMap, error) {
	return dynamicconfig.Parse(d.Values)
}

// PollRPSKeys are the history queues' read rate limits that a cluster of
// one process lifts to 1,000 a second per shard. Clusters of several
// processes keep the server's 20: with 1,000, TestNodesChaos (nodes
// SIGKILLed under persistence faults) lost a workflow's progress twice in
// CI, a cause not found yet.
var PollRPSKeys = []string{"history.transferProcessorMaxPollRPS", "history.timerProcessorMaxPollRPS"}

// lookupFold returns m's value of key, compared without case.
func lookupFold(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// hasKeyFold reports whether m has key, compared as the server compares
// dynamic-config keys (without case).
func hasKeyFold(m map[string]any, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
