package services

import (
	"reflect"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

// TestEffectiveDynamicConfig pins what devcluster adds to the configured
// values and how ${http-address} is filled in for each kind of HTTP port.
func TestEffectiveDynamicConfig(t *testing.T) {
	t.Parallel()
	const tmpl = "component.nexusoperations.callback.endpoint.template"
	for _, tc := range []struct {
		name     string
		values   map[string]any
		httpPort int
		want     map[string]any
		added    map[string]string
	}{
		{"nothing set: the time-skipping switch is added", nil, 7243,
			map[string]any{profiles.TimeSkippingKey: true},
			map[string]string{profiles.TimeSkippingKey: "time skipping needs it"}},
		{"the user's value wins, in any case", map[string]any{"frontend.workflowtimeskippingenabled": false}, 7243,
			map[string]any{"frontend.workflowtimeskippingenabled": false}, map[string]string{}},
		{"a fixed HTTP port fills in the address", map[string]any{tmpl: "http://${http-address}/cb", profiles.TimeSkippingKey: true}, 7243,
			map[string]any{tmpl: "http://127.0.0.1:7243/cb", profiles.TimeSkippingKey: true}, map[string]string{}},
		{"port 0 leaves the placeholder for start", map[string]any{tmpl: "http://${http-address}/cb", profiles.TimeSkippingKey: true}, 0,
			map[string]any{tmpl: "http://${http-address}/cb", profiles.TimeSkippingKey: true}, map[string]string{}},
		{"HTTP off makes the template unset", map[string]any{tmpl: "http://${http-address}/cb", profiles.TimeSkippingKey: true}, -1,
			map[string]any{tmpl: "unset", profiles.TimeSkippingKey: true}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := profiles.Default().Clone()
			cfg.IP = "127.0.0.1"
			cfg.DynamicConfig.Values = tc.values
			cfg.Services.Frontend.HTTPPort = tc.httpPort
			got := EffectiveDynamicConfig(cfg)
			for _, k := range PollRPSKeys { // TestEffectiveDynamicConfigPollRPS
				delete(got.Values, k)
				delete(got.Added, k)
			}
			if !reflect.DeepEqual(got.Values, tc.want) || !reflect.DeepEqual(got.Added, tc.added) {
				t.Errorf("got %v added %v, want %v added %v", got.Values, got.Added, tc.want, tc.added)
			}
			if _, err := got.Parse(); err != nil {
				t.Errorf("Parse: %v", err)
			}
			if v, ok := tc.values[tmpl]; ok && v != "http://${http-address}/cb" {
				t.Errorf("the config's own map was changed: %v", tc.values)
			}
		})
	}
}

// TestEffectiveDynamicConfigTimeShift: a one-process cluster that skips
// time gets a 1ms timer time shift instead of the timers feature's 100ms;
// a user's own value, a cluster that skips no time, and a node of several
// processes keep theirs.
func TestEffectiveDynamicConfigTimeShift(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(c *profiles.Config)
		want   any
	}{
		{"skips time", func(c *profiles.Config) { c.TimeSkipping = true }, "1ms"},
		{"one namespace skips time", func(c *profiles.Config) { c.Namespaces[0].TimeSkipping = true }, "1ms"},
		{"no time skipping", func(*profiles.Config) {}, "100ms"},
		{"the user's value", func(c *profiles.Config) { c.TimeSkipping, c.DynamicConfig.Values[profiles.TimeShiftKey] = true, "50ms" }, "50ms"},
		{"a node of several processes", func(c *profiles.Config) {
			c.TimeSkipping, c.Membership.Mode, c.Persistence.URL = true, profiles.MembershipRingpop, "postgres://u@127.0.0.1/db"
		}, "100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := profiles.Default().Clone()
			cfg.DynamicConfig.Values[profiles.TimeShiftKey] = "100ms" // the features profile's
			tc.mutate(&cfg)
			got := EffectiveDynamicConfig(cfg)
			if v := got.Values[profiles.TimeShiftKey]; v != tc.want {
				t.Errorf("%s = %v, want %v (added: %v)", profiles.TimeShiftKey, v, tc.want, got.Added)
			}
		})
	}
}

// TestEffectiveDynamicConfigPollRPS: one process reads its history queues
// without the server's 20-a-second limit; a node of several processes, and
// a user's own value, keep theirs.
func TestEffectiveDynamicConfigPollRPS(t *testing.T) {
	t.Parallel()
	one := profiles.Default().Clone()
	node := profiles.Default().Clone()
	node.Membership.Mode, node.Persistence.URL = profiles.MembershipRingpop, "postgres://u@127.0.0.1/db"
	mine := profiles.Default().Clone()
	mine.DynamicConfig.Values[PollRPSKeys[0]] = 50
	for _, k := range PollRPSKeys {
		if v := EffectiveDynamicConfig(one).Values[k]; v != 1000 {
			t.Errorf("one process: %s = %v, want 1000", k, v)
		}
		if v, ok := EffectiveDynamicConfig(node).Values[k]; ok {
			t.Errorf("a node of several processes: %s = %v, want the server's default", k, v)
		}
	}
	if v := EffectiveDynamicConfig(mine).Values[PollRPSKeys[0]]; v != 50 {
		t.Errorf("the user's %s = 50 became %v", PollRPSKeys[0], v)
	}
}
