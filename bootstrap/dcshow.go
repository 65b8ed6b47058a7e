package bootstrap

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/profiles"
)

// DynamicConfigRow is one value a cluster would serve (`dynamicconfig
// show`): a key (marked when the server reads it only at start), the value
// as JSON, its constraints ("-" for none) and where it comes from.
type DynamicConfigRow struct{ Key, Value, Constraints, Source string }

// ServedDynamicConfig returns the dynamic-config values a cluster started
// with loaded's config would serve now: EffectiveDynamicConfig, the same
// values the server gets, with the dynamic-config file over them in the
// same client, sorted by key, each with its source. missing reports a file
// that does not exist yet; fileErr a file with problems, whose values are
// left out (a running cluster keeps its last good ones).
func ServedDynamicConfig(loaded *profiles.Loaded) (rows []DynamicConfigRow, missing bool, fileErr, err error) {
	cfg := loaded.Config
	eff := EffectiveDynamicConfig(cfg)
	static, err := eff.Parse()
	if err != nil {
		return nil, false, nil, err
	}
	served := dynamicconfig.NewClient(static)
	if path := cfg.DynamicConfig.File; path != "" {
		fileValues, exists, err := dynamicconfig.ReadFile(path)
		switch {
		case err != nil:
			fileErr = err
		case !exists:
			missing = true
		default:
			served.SetLayer(dynamicconfig.LayerFile, fileValues)
		}
	}
	byKey := map[string][]DynamicConfigRow{}
	for k, cvs := range served.Values() {
		s, _ := dynamicconfig.Lookup(k.String())
		layer, _ := served.Source(k)
		source := servedSource(loaded, eff, layer, k.String(), s.Key)
		if s.Key == FreshReadsKey && cfg.Server.FreshReadsAfterChange {
			source += "; served only around namespace and search-attribute changes, false otherwise (server.fresh-reads-after-change)"
		}
		byKey[s.Key] = DynamicConfigRows(s, cvs, source)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rows = append(rows, byKey[k]...)
	}
	return rows, missing, fileErr, nil
}

// servedSource says where the served value of key (registered as regKey,
// from layer) comes from: the file, a switch devcluster adds, or the
// config layer that set it. A value whose ${http-address} is filled in
// only at start says so.
func servedSource(loaded *profiles.Loaded, eff StaticDynamicConfig, layer dynamicconfig.Layer, key, regKey string) string {
	if layer == dynamicconfig.LayerFile {
		return "file " + loaded.Config.DynamicConfig.File
	}
	if why, ok := eff.Added[regKey]; ok {
		return "devcluster (" + why + ")"
	}
	src := loaded.Origin("dynamic-config.values." + regKey)
	if src == "" {
		// A key spelt in another case than the registry's.
		for k, o := range loaded.Sources {
			if rest, ok := strings.CutPrefix(k, "dynamic-config.values."); ok && strings.EqualFold(rest, key) {
				src = o
				break
			}
		}
	}
	for k, v := range eff.Values {
		if s, ok := v.(string); ok && strings.EqualFold(k, key) && strings.Contains(s, HTTPAddressPlaceholder) {
			src += "; " + HTTPAddressPlaceholder + " is filled in at start (http-port 0 picks a free port)"
		}
	}
	return src
}

// DynamicConfigRows are the rows of setting s's values cvs, each with
// source.
func DynamicConfigRows(s dynamicconfig.Setting, cvs []dynamicconfig.ConstrainedValue, source string) []DynamicConfigRow {
	out := make([]DynamicConfigRow, len(cvs))
	for i, cv := range cvs {
		v, _ := json.Marshal(cv.Value)
		key := s.Key
		if s.Restart {
			key += " (read at start)"
		}
		cons := dynamicconfig.DescribeConstraints(cv.Constraints)
		if cons == "" {
			cons = "-"
		}
		out[i] = DynamicConfigRow{Key: key, Value: string(v), Constraints: cons, Source: source}
	}
	return out
}
