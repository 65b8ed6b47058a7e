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
