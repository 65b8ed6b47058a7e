package bootstrap

import (
	"encoding/json"
	"fmt"
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

// DynamicConfigErrorOrigins renders dynamic-config errors one per line,
// each prefixed with where its key was set ("flag --dynamic-config-value:
// ...").
func DynamicConfigErrorOrigins(err error, loaded *profiles.Loaded) string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*dynamicconfig.FileError); ok {
			line := fe.Error()
			if o := loaded.Origin("dynamic-config.file"); o != "" {
				line += " (from " + o + ")"
			}
			lines = append(lines, line)
			return
		}
		if k, ok := e.(interface{ Key() string }); ok {
			line := e.Error()
			if o := loaded.Origin("dynamic-config.values." + k.Key()); o != "" {
				line = o + ": " + line
			}
			lines = append(lines, line)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		lines = append(lines, e.Error())
	}
	walk(err)
	return strings.Join(lines, "\n")
}

// DynamicConfigSetByUser lists, as KEY=VALUE (ORIGIN), the dynamic config
// the user set (by flag, environment, config file or the dynamic-config
// file; not the profiles), sorted: after a failed start, the suspects. The
// server's loader checks a value's type and devcluster its sign, but a
// value can still stop a service ("goroutine exited without returning").
func DynamicConfigSetByUser(loaded *profiles.Loaded) []string {
	cfg := loaded.Config
	var set []string
	keys := make([]string, 0, len(cfg.DynamicConfig.Values))
	for k := range cfg.DynamicConfig.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		origin := dynamicValueOrigin(loaded, k)
		if origin == "" || origin == "default" || strings.HasPrefix(origin, "profile ") {
			continue
		}
		v, _ := json.Marshal(cfg.DynamicConfig.Values[k])
		set = append(set, fmt.Sprintf("%s=%s (%s)", k, v, origin))
	}
	if path := cfg.DynamicConfig.File; path != "" {
		if values, exists, err := dynamicconfig.ReadFile(path); err == nil && exists {
			var fileSet []string
			for k, cvs := range values {
				s, _ := dynamicconfig.Lookup(k.String())
				for _, cv := range cvs {
					v, _ := json.Marshal(cv.Value)
					fileSet = append(fileSet, fmt.Sprintf("%s=%s (file %s)", s.Key, v, path))
				}
			}
			sort.Strings(fileSet)
			set = append(set, fileSet...)
		}
	}
	return set
}

// dynamicValueOrigin is where the dynamic-config value key was set, also
// when a map value is recorded under its fields
// ("dynamic-config.values.KEY.Enabled").
func dynamicValueOrigin(loaded *profiles.Loaded, key string) string {
	if loaded == nil {
		return ""
	}
	prefix := strings.ToLower("dynamic-config.values." + key)
	for k, o := range loaded.Sources {
		if lk := strings.ToLower(k); lk == prefix || strings.HasPrefix(lk, prefix+".") {
			return o
		}
	}
	return ""
}
