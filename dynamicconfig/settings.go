package dynamicconfig

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	dc "go.temporal.io/server/common/dynamicconfig"

	"github.com/devcluster/devcluster/internal/suggest"
)

// Setting describes one dynamic-config setting the pinned server registers.
type Setting struct {
	// Key as the server spells it (lookups are case-insensitive).
	Key string `json:"key"`
	// Precedence is the constraint scope: Global, Namespace, TaskQueue, ...
	Precedence string `json:"precedence"`
	// Type is bool, int, float, string, duration, map or typed.
	Type string `json:"type"`
	// Default is the Go source text of the default value.
	Default string `json:"default"`
	// Description is the server's own description.
	Description string `json:"description"`
	// Restart is true when the description says the server reads the key
	// only at start.
	Restart bool `json:"restart"`
}

// settingsJSON is generated from the server's source by
// `go run ./internal/gen/dckeys`; rerun it when the server version changes.
//
//go:embed settings.json
var settingsJSON []byte

var (
	settingsOnce sync.Once
	settingsList []Setting
	settingsByID map[string]*Setting
	settingKeys  []string
)

func loadSettings() {
	settingsOnce.Do(func() {
		if err := json.Unmarshal(settingsJSON, &settingsList); err != nil {
			panic(fmt.Sprintf("dynamicconfig: embedded settings.json is corrupt: %v", err))
		}
		settingsByID = make(map[string]*Setting, len(settingsList))
		for i := range settingsList {
			settingsByID[strings.ToLower(settingsList[i].Key)] = &settingsList[i]
			settingKeys = append(settingKeys, settingsList[i].Key)
		}
	})
}

// Settings returns every setting of the pinned server, sorted by key.
func Settings() []Setting {
	loadSettings()
	return settingsList
}

// Lookup returns the setting for key (case-insensitive), if the server has one.
func Lookup(key string) (Setting, bool) {
	loadSettings()
	s, ok := settingsByID[strings.ToLower(key)]
	if !ok {
		return Setting{}, false
	}
	return *s, true
}

// ErrUnknownKey reports a key the server does not register.
var ErrUnknownKey = errors.New("unknown dynamic config key")

// ErrBadValue reports a value the server's setting rejects.
var ErrBadValue = errors.New("invalid dynamic config value")

// Suggest returns up to three known keys close to key, best first.
func Suggest(key string) []string {
	loadSettings()
	return suggest.Closest(key, settingKeys, 3)
}

// Parse checks values (key to an unconstrained value, as given by flags or a
// profile) against the server's registered settings and returns them in the
// server's form. Values are normalised the way the server expects: whole
// numbers become int, durations may be strings ("1s") or numbers. Every
// problem is reported, joined, each naming the key.
func Parse(values map[string]any) (dc.ConfigValueMap, error) {
	out := make(dc.ConfigValueMap, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		v, err := ParseValue(k, values[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[dc.MakeKey(k)] = []dc.ConstrainedValue{{Value: v}}
	}
	return out, errors.Join(errs...)
}

// ParseValue checks one unconstrained value for key and returns it
// normalised. Errors wrap ErrUnknownKey or ErrBadValue and name the key.
func ParseValue(key string, value any) (any, error) {
	s, ok := Lookup(key)
	if !ok {
		msg := fmt.Sprintf("%s: %q is not a setting of this server", ErrUnknownKey, key)
		if l, ok := LookupLegacy(key); ok {
			fix := "drop it"
			if l.NewKey != "" {
				fix = "use " + l.NewKey
			}
			msg = fmt.Sprintf("%s: %s: %s (devcluster server start-dev, the Temporal CLI's drop-in, accepts the old key with a warning)", ErrUnknownKey, l, fix)
			return nil, &keyError{key: key, msg: msg, err: ErrUnknownKey}
		}
		if sug := Suggest(key); len(sug) > 0 {
			msg += "; did you mean " + strings.Join(sug, ", ") + "?"
		} else {
			msg += "; list them with `devcluster dynamicconfig keys`"
		}
		return nil, &keyError{key: key, msg: msg, err: ErrUnknownKey}
	}
	v := normalise(value)
	// Validate with the server's own loader: it knows each setting's Go
	// type and converter. It only warns; devcluster treats that as an error.
	doc, err := yaml.Marshal([]map[string]any{{"value": v}})
	if err != nil {
		return nil, &keyError{key: key, msg: fmt.Sprintf("%s: %s: %v", ErrBadValue, key, err), err: ErrBadValue}
	}
	var lr dc.YamlLoader
	lr.LoadValue(dc.MakeKey(s.Key), doc)
	if errs := append(lr.Errors, lr.Warnings...); len(errs) > 0 {
		msg := fmt.Sprintf("%s: %s = %v: want %s (default %s)", ErrBadValue, s.Key, describe(value), article(s.Type), s.Default)
		if s.Type == "typed" || s.Type == "map" {
			msg += ": " + errs[0].Error() // the shape is the setting's own
		}
		return nil, &keyError{key: key, msg: msg, err: ErrBadValue}
	}
	out := lr.Map[dc.MakeKey(s.Key)][0].Value
	if msg := checkRange(s, out); msg != "" {
		return nil, &keyError{key: key, msg: fmt.Sprintf("%s: %s = %v %s", ErrBadValue, s.Key, describeValue(out), msg), err: ErrBadValue}
	}
	return out, nil
}

// describeValue renders a value as a user writes it: -1, "-1s".
func describeValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

type keyError struct {
	key string
	msg string
	err error
}

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return e.err }

// Key returns the key the error is about.
func (e *keyError) Key() string { return e.key }

// JSONHint says how to write a value of s as JSON, the form
// --dynamic-config-value takes, with an example in shell quoting:
// "limit.maxIDLength is an int: write a whole number, e.g.
// limit.maxIDLength=255". The words follow the setting's type, so a bool is
// never told to write a duration.
func (s Setting) JSONHint() string {
	var how, example string
	switch s.Type {
	case "bool":
		how, example = "write true or false", "true"
	case "int":
		how, example = "write a whole number", "255"
	case "float":
		how, example = "write a number", "0.5"
	case "duration":
		how, example = `write a quoted duration such as "10s" or "5m"`, `'"10s"'`
	case "string":
		how, example = "write a quoted string", `'"text"'`
	case "map":
		how, example = "write a JSON object", `'{"Key":"value"}'`
	default: // typed: the shape is the setting's own
		return fmt.Sprintf("%s is %s: write it as a JSON object; `devcluster dynamicconfig keys -l %s` describes it", s.Key, article(s.Type), s.Key)
	}
	return fmt.Sprintf("%s is %s: %s, e.g. %s=%s", s.Key, article(s.Type), how, s.Key, example)
}

func article(typ string) string {
	switch typ {
	case "int":
		return "an int"
	case "typed":
		return "a value of the setting's structure"
	}
	return "a " + typ
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q (a string)", v)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v (%T)", v, v)
	}
}

// Normalise is normalise for callers that decode values themselves (the
// --dynamic-config-value flag), so that what they show is what is used.
func Normalise(v any) any { return normalise(v) }

// normalise turns JSON and koanf numbers into the Go types the server wants:
// whole numbers into int, others into float64, recursively in maps and lists.
func normalise(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int64(x)) && x < 1<<53 && x > -(1<<53) {
			return int(x)
		}
		return x
	case float32:
		return normalise(float64(x))
	case int64:
		return int(x)
	case int32:
		return int(x)
	case uint64:
		return int(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalise(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalise(e)
		}
		return out
	}
	return v
}
