package dynamicconfig

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	dc "go.temporal.io/server/common/dynamicconfig"

	"github.com/devcluster/devcluster/profiles"
)

// Settings used below; all are registered by the server's
// common/dynamicconfig package, so the server's loader knows them in this
// test binary.
const (
	intKey      = "limit.maxIDLength"                              // int, Global
	nsIntKey    = "limit.blobSize.error"                           // int, Namespace
	boolKey     = "system.forceSearchAttributesCacheRefreshOnRead" // bool, Global
	durationKey = "frontend.keepAliveMaxConnectionAge"             // duration, Global
	floatKey    = "frontend.namespaceBurstRatio"                   // float, Namespace
	stringKey   = "history.TaskDLQErrorPattern"                    // string, Global
)

func TestSettingsSortedAndUnique(t *testing.T) {
	all := Settings()
	if len(all) < 100 {
		t.Fatalf("Settings() has %d entries, want the server's full list", len(all))
	}
	seen := map[string]bool{}
	for i, s := range all {
		lk := strings.ToLower(s.Key)
		if seen[lk] {
			t.Errorf("key %q listed twice", s.Key)
		}
		seen[lk] = true
		if i > 0 && strings.ToLower(all[i-1].Key) > lk {
			t.Errorf("Settings() not sorted: %q before %q", all[i-1].Key, s.Key)
		}
		if s.Type == "" || s.Precedence == "" {
			t.Errorf("setting %q has no type or precedence: %+v", s.Key, s)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in       string
		wantKey  string
		wantType string
		wantOK   bool
	}{
		{"limit.maxIDLength", intKey, "int", true},
		{"limit.maxidlength", intKey, "int", true},
		{"LIMIT.MAXIDLENGTH", intKey, "int", true},
		{"Frontend.KeepAliveMaxConnectionAge", durationKey, "duration", true},
		{"history.taskdlqerrorpattern", stringKey, "string", true},
		{"limit.maxIDLenght", "", "", false},
		{"limit.maxIDLength ", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, ok := Lookup(tt.in)
			if ok != tt.wantOK || s.Key != tt.wantKey || s.Type != tt.wantType {
				t.Errorf("Lookup(%q) = {Key:%q Type:%q}, %v; want {Key:%q Type:%q}, %v",
					tt.in, s.Key, s.Type, ok, tt.wantKey, tt.wantType, tt.wantOK)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		in   string
		want string // must be among the suggestions; "" means no suggestions
		best bool   // want must be the first suggestion
	}{
		{"limit.maxIDLenght", intKey, true},
		{"LIMIT.MAXIDLENGHT", intKey, true},
		{"limit.maxIDLengt", intKey, true},
		{"maxIDLength", intKey, false}, // contained in the key
		{"frontend.keepAliveMaxConectionAge", durationKey, true},
		{"zzzzqqqq.xxxxwwwwvvvv", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Suggest(tt.in)
			if len(got) > 3 {
				t.Errorf("Suggest(%q) = %v, want at most 3", tt.in, got)
			}
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("Suggest(%q) = %v, want none", tt.in, got)
				}
				return
			}
			if !slices.Contains(got, tt.want) {
				t.Fatalf("Suggest(%q) = %v, want it to include %q", tt.in, got, tt.want)
			}
			if tt.best && got[0] != tt.want {
				t.Errorf("Suggest(%q) = %v, want %q first", tt.in, got, tt.want)
			}
		})
	}
}

// keyOf returns the key a Parse error names through its Key method.
func keyOf(err error) string {
	var ke interface{ Key() string }
	if errors.As(err, &ke) {
		return ke.Key()
	}
	return ""
}

func TestParseUnknownKey(t *testing.T) {
	_, err := Parse(map[string]any{"limit.maxIDLenght": 5})
	if err == nil {
		t.Fatal("Parse with an unknown key succeeded")
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("errors.Is(err, ErrUnknownKey) = false for %v", err)
	}
	if errors.Is(err, ErrBadValue) {
		t.Errorf("unknown key also reported as ErrBadValue: %v", err)
	}
	msg := err.Error()
	for _, part := range []string{`"limit.maxIDLenght"`, "did you mean", intKey} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not contain %q", msg, part)
		}
	}
	if k := keyOf(err); k != "limit.maxIDLenght" {
		t.Errorf("error Key() = %q, want the key as given", k)
	}

	// Without a close key, the error points at the key list instead.
	_, err = Parse(map[string]any{"zzzzqqqq.xxxxwwwwvvvv": 1})
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "devcluster dynamicconfig keys") {
		t.Errorf("Parse(far-off key) error = %v, want ErrUnknownKey pointing at the key list", err)
	}
}

func TestParseBadValue(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value any
		parts []string
	}{
		{"string for int", intKey, "abc", []string{intKey, `"abc" (a string)`, "want an int", "default 1000"}},
		{"numeric string for int", intKey, "5", []string{intKey, "want an int"}},
		{"fraction for int", intKey, 1.5, []string{intKey, "want an int"}},
		{"bool for int", intKey, true, []string{intKey, "want an int"}},
		{"number for bool", boolKey, 5, []string{boolKey, "want a bool"}},
		{"bad duration", durationKey, "soon", []string{durationKey, "want a duration"}},
		{"bool for duration", durationKey, true, []string{durationKey, "want a duration"}},
		{"string for float", floatKey, "fast", []string{floatKey, "want a float"}},
		{"number for string", stringKey, 12, []string{stringKey, "want a string"}},
		{"null for int", intKey, nil, []string{intKey, "= null"}},
		{"list for int", intKey, []any{1, 2}, []string{intKey, "want an int"}},
		{"case-insensitive key named canonically", "LIMIT.MAXIDLENGTH", "x", []string{intKey, "want an int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Parse(map[string]any{tt.key: tt.value})
			if err == nil {
				t.Fatalf("Parse(%s=%#v) = %v, want an error", tt.key, tt.value, out)
			}
			if !errors.Is(err, ErrBadValue) {
				t.Errorf("errors.Is(err, ErrBadValue) = false for %v", err)
			}
			if errors.Is(err, ErrUnknownKey) {
				t.Errorf("bad value also reported as ErrUnknownKey: %v", err)
			}
			for _, p := range tt.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			if k := keyOf(err); k != tt.key {
				t.Errorf("error Key() = %q, want %q", k, tt.key)
			}
			if len(out) != 0 {
				t.Errorf("Parse returned values for a rejected key: %v", out)
			}
		})
	}
}

func TestParseNormalises(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value any
		want  any
	}{
		{"int", intKey, 42, 42},
		{"int64", intKey, int64(42), 42},
		{"int32", intKey, int32(42), 42},
		{"uint64", intKey, uint64(42), 42},
		{"json.Number int", intKey, json.Number("42"), 42},
		{"json.Number with fraction zero", intKey, json.Number("5.0"), 5},
		{"json.Number exponent", intKey, json.Number("1e3"), 1000},
		{"integral float64", intKey, float64(42), 42},
		{"integral float32", intKey, float32(8), 8},
		{"namespace int setting", nsIntKey, float64(1 << 20), 1 << 20},
		{"bool", boolKey, true, true},
		{"duration string", durationKey, "1s", "1s"},
		{"duration string minutes", durationKey, "5m", "5m"},
		{"duration string compound", durationKey, "1h30m", "1h30m"},
		{"duration number is seconds", durationKey, float64(10), 10},
		{"float", floatKey, 1.5, 1.5},
		{"json.Number float", floatKey, json.Number("2.5"), 2.5},
		{"int for float", floatKey, 3, 3},
		{"string", stringKey, "timeout.*", "timeout.*"},
		{"string that looks like a bool", stringKey, "true", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Parse(map[string]any{tt.key: tt.value})
			if err != nil {
				t.Fatalf("Parse(%s=%#v): %v", tt.key, tt.value, err)
			}
			cvs := out[dc.MakeKey(tt.key)]
			if len(cvs) != 1 {
				t.Fatalf("Parse gave %d values for %s, want 1: %v", len(cvs), tt.key, out)
			}
			if cvs[0].Value != tt.want {
				t.Errorf("value = %#v (%T), want %#v (%T)", cvs[0].Value, cvs[0].Value, tt.want, tt.want)
			}
			// Parse takes unconstrained values only: even a namespace
			// setting gets no constraint.
			if cvs[0].Constraints != (dc.Constraints{}) {
				t.Errorf("constraints = %+v, want none", cvs[0].Constraints)
			}
		})
	}
}

// A negative number normalises to an int like any other (Parse then
// refuses it for limit.maxIDLength: see TestParseRefusesNegative).
func TestNormaliseNegative(t *testing.T) {
	if v := Normalise(json.Number("-7")); v != -7 {
		t.Errorf("Normalise(-7) = %#v (%T), want int -7", v, v)
	}
}

func TestParseValueMatchesParse(t *testing.T) {
	v, err := ParseValue("Limit.MaxIDLength", json.Number("9"))
	if err != nil || v != 9 {
		t.Errorf("ParseValue = %#v, %v; want 9, nil", v, err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	out, err := Parse(map[string]any{
		intKey:              float64(64),
		"LIMIT.maxIDLenght": 1,
		boolKey:             "maybe",
		durationKey:         "2s",
	})
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrBadValue) {
		t.Errorf("error %v should wrap both ErrUnknownKey and ErrBadValue", err)
	}
	for _, k := range []string{"LIMIT.maxIDLenght", boolKey} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %q", err, k)
		}
	}
	// The good values are still returned.
	if len(out) != 2 {
		t.Fatalf("Parse returned %d values, want the 2 valid ones: %v", len(out), out)
	}
	if got := out[dc.MakeKey(intKey)]; len(got) != 1 || got[0].Value != 64 {
		t.Errorf("%s = %v, want 64", intKey, got)
	}
	if got := out[dc.MakeKey(durationKey)]; len(got) != 1 || got[0].Value != "2s" {
		t.Errorf("%s = %v, want \"2s\"", durationKey, got)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []map[string]any{nil, {}} {
		out, err := Parse(in)
		if err != nil || len(out) != 0 {
			t.Errorf("Parse(%v) = %v, %v; want empty, nil", in, out, err)
		}
	}
}

// The defaults devcluster ships must be accepted by the server's settings.
func TestParseProfileDefaults(t *testing.T) {
	values := profiles.Default().DynamicConfig.Values
	out, err := Parse(values)
	if err != nil {
		t.Fatalf("Parse(profiles.Default() values): %v", err)
	}
	if len(out) != len(values) {
		t.Errorf("Parse returned %d values, want %d", len(out), len(values))
	}
	for k, v := range values {
		cvs := out[dc.MakeKey(k)]
		if len(cvs) != 1 || cvs[0].Value != v {
			t.Errorf("%s = %v, want %v", k, cvs, v)
		}
	}
}
