package profiles

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/suggest"
)

// The schema is the Config struct itself: its koanf tags are the keys. The
// functions here walk it by reflection, so a field added to Config is at once
// a key of files, a DEVCLUSTER_* variable and a line of `config show`.

var durationType = reflect.TypeOf(time.Duration(0))

// openMaps are keys whose children are free-form (not part of the schema).
func isOpen(t reflect.Type) bool { return t.Kind() == reflect.Map }

// isSection reports whether a field type is a nested section of keys.
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != durationType }

// tagFields maps the koanf tags of struct type t to their field index.
func tagFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := f.Tag.Get("koanf"); tag != "" && tag != "-" {
			out[tag] = f
		}
	}
	return out
}

// ToMap renders c as the nested map a config file would hold: keys are the
// koanf tags, durations are strings such as "24h0m0s".
func ToMap(c Config) map[string]any {
	return structToMap(reflect.ValueOf(c))
}

func structToMap(v reflect.Value) map[string]any {
	t := v.Type()
	out := make(map[string]any, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		out[tag] = valueToAny(v.Field(i))
	}
	return out
}

func valueToAny(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case isSection(v.Type()):
		return structToMap(v)
	case v.Kind() == reflect.Slice:
		if v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = valueToAny(v.Index(i))
		}
		return out
	case v.Kind() == reflect.Map:
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out[iter.Key().String()] = deepCopyValue(iter.Value().Interface())
		}
		return out
	}
	return v.Interface()
}

// Keys returns every scalar key of the schema in dotted form, sorted (lists
// and free-form maps appear as their own key, e.g. "namespaces").
func Keys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for tag, f := range tagFields(t) {
			key := prefix + tag
			if isSection(f.Type) {
				walk(f.Type, key+".")
				continue
			}
			out = append(out, key)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(out)
	return out
}

// envPrefix starts every devcluster environment variable.
const envPrefix = "DEVCLUSTER_"

// EnvName returns the environment variable for a scalar key:
// services.frontend.grpc-port is DEVCLUSTER_SERVICES_FRONTEND_GRPC_PORT.
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// envKeys maps each DEVCLUSTER_* variable to the key path it sets. Only
// scalar keys have one; lists and maps are set in files or with flags.
func envKeys() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, path []string)
	walk = func(t reflect.Type, path []string) {
		for tag, f := range tagFields(t) {
			p := append(append([]string(nil), path...), tag)
			switch {
			case isSection(f.Type):
				walk(f.Type, p)
			case f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Map:
			default:
				out[EnvName(strings.Join(p, "."))] = p
			}
		}
	}
	walk(reflect.TypeOf(Config{}), nil)
	return out
}

// checkKeys reports every key of raw (one layer's nested map) that the
// schema does not know, with a suggestion, and every section given a plain
// value. origin says where raw came from.
func checkKeys(raw map[string]any, origin string) []*FieldError {
	var errs []*FieldError
	all := Keys()
	var walk func(m map[string]any, t reflect.Type, prefix string)
	walk = func(m map[string]any, t reflect.Type, prefix string) {
		fields := tagFields(t)
		for k, v := range m {
			key := prefix + k
			f, ok := fields[k]
			if !ok {
				errs = append(errs, &FieldError{Key: key, Origin: origin,
					Msg: "is not a devcluster setting" + unknownHint(key, k, prefix, sortedTags(t), all)})
				continue
			}
			switch {
			case isSection(f.Type):
				sub, ok := v.(map[string]any)
				if !ok {
					if v != nil {
						errs = append(errs, &FieldError{Key: key, Value: describeValue(v), Origin: origin,
							Msg: fmt.Sprintf("is a section, not a value; set its keys (%s)", strings.Join(sortedTags(f.Type), ", "))})
					}
					continue
				}
				walk(sub, f.Type, key+".")
			case f.Type.Kind() == reflect.Slice && isSection(f.Type.Elem()):
				list, ok := v.([]any)
				if !ok {
					continue // the decoder reports the type
				}
				for i, e := range list {
					if em, ok := e.(map[string]any); ok {
						walk(em, f.Type.Elem(), fmt.Sprintf("%s[%d].", key, i))
					}
				}
			}
		}
	}
	walk(raw, reflect.TypeOf(Config{}), "")
	return errs
}

// unknownHint suggests the sibling keys closest to the mistyped name
// (services.frontend.grpc-prot -> grpc-port, servics -> services), then
// whole keys.
func unknownHint(key, name, prefix string, siblings, all []string) string {
	if close := suggest.Closest(name, siblings, 3); len(close) > 0 {
		for i := range close {
			close[i] = prefix + close[i]
		}
		if len(close) == 1 {
			return "; did you mean " + close[0] + "?"
		}
		return "; did you mean " + strings.Join(close[:len(close)-1], ", ") + " or " + close[len(close)-1] + "?"
	}
	if h := suggest.Hint(key, all); h != "" {
		return h
	}
	return "; see `devcluster config show` for every key"
}

func sortedTags(t reflect.Type) []string {
	var out []string
	for tag := range tagFields(t) {
		out = append(out, tag)
	}
	sort.Strings(out)
	return out
}

// describeValue renders a decoded value for an error message.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}
