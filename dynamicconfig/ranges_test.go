package dynamicconfig

import (
	"errors"
	"strings"
	"testing"
)

// TestParseRefusesNegative: a value of the right type but below zero is
// refused for a setting whose default is zero or more, naming the key, the
// value and the default; zero and positive values pass.
func TestParseRefusesNegative(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		key   string
		value any
		want  []string // empty: accepted
	}{
		{"negative int", intKey, -1, []string{intKey + " = -1 is negative", "use 0 or more", "default 1000"}},
		{"negative int in another case", "LIMIT.MAXIDLENGTH", -1, []string{intKey + " = -1 is negative"}},
		{"negative duration string", durationKey, "-1s", []string{durationKey + ` = "-1s" is negative`, "default 5 * time.Minute"}},
		{"negative duration in days", durationKey, "-2d", []string{`"-2d" is negative`}},
		{"negative duration in seconds", durationKey, -5, []string{durationKey + " = -5 is negative"}},
		{"negative float", floatKey, -0.5, []string{floatKey + " = -0.5 is negative", "default 2"}},
		{"zero int", intKey, 0, nil},
		{"positive int", intKey, 255, nil},
		{"zero duration", durationKey, "0s", nil},
		{"minus zero duration", durationKey, "-0s", nil},
		{"positive duration", durationKey, "90s", nil},
		{"zero float", floatKey, 0.0, nil},
		{"a string may start with a minus", stringKey, "-1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseValue(tc.key, tc.value)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ParseValue(%s, %#v): %v; want it accepted", tc.key, tc.value, err)
				}
				return
			}
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("ParseValue(%s, %#v) = %v; want ErrBadValue", tc.key, tc.value, err)
			}
			if k := keyOf(err); k != tc.key {
				t.Errorf("error Key() = %q, want %q", k, tc.key)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestParseFileRefusesNegative: the file gets the same range check, each
// problem on the line of its entry.
func TestParseFileRefusesNegative(t *testing.T) {
	t.Parallel()
	content := "limit.maxIDLength:\n  - value: -1\n" +
		durationKey + ":\n  - value: 10s\n    constraints: {}\n  - value: -1m\n"
	_, err := ParseFile("dc.yaml", []byte(content))
	if !errors.Is(err, ErrBadValue) || !errors.Is(err, ErrBadFile) {
		t.Fatalf("ParseFile = %v; want ErrBadFile and ErrBadValue", err)
	}
	for _, w := range []string{
		"dc.yaml:2: limit.maxIDLength: -1 is negative; use 0 or more (default 1000)",
		"dc.yaml:6: " + durationKey + `: "-1m" is negative`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "10s") {
		t.Errorf("the good entry is reported too: %v", err)
	}
}

// TestNonNegativeFollowsTheRegistry: the rule refuses negatives only where
// the server's default and description imply no negative meaning.
func TestNonNegativeFollowsTheRegistry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Setting
		want bool
	}{
		{"positive int", Setting{Type: "int", Default: "10 * 1024"}, true},
		{"zero int", Setting{Type: "int", Default: "0"}, true},
		{"negative default", Setting{Type: "int", Default: "-1"}, false},
		{"duration difference", Setting{Type: "duration", Default: "5*time.Minute - 10*time.Second"}, true},
		{"negative duration default", Setting{Type: "duration", Default: "-time.Second"}, false},
		{"conversion", Setting{Type: "duration", Default: "time.Duration(math.MaxInt64)"}, true},
		{"named constant", Setting{Type: "int", Default: "primitives.DefaultTransactionSizeLimit"}, true},
		{"-1 documented", Setting{Type: "int", Default: "100", Description: "Max things. -1 means unlimited."}, false},
		{"negative documented", Setting{Type: "int", Default: "100", Description: "A negative value turns it off."}, false},
		{"jitter is not a meaning", Setting{Type: "duration", Default: "5 * time.Minute", Description: "A random jitter of +/-10% is added."}, true},
		{"bool", Setting{Type: "bool", Default: "true"}, false},
		{"string", Setting{Type: "string", Default: `""`}, false},
	} {
		if got := tc.s.nonNegative(); got != tc.want {
			t.Errorf("%s: nonNegative(%+v) = %v, want %v", tc.name, tc.s, got, tc.want)
		}
	}
	// The server's own defaults must pass their own check, or start would
	// refuse a value the server ships with.
	for _, s := range Settings() {
		if v, ok := evalDefault(s.Default); ok && s.nonNegative() && v < 0 {
			t.Errorf("%s: default %s is negative but negatives are refused", s.Key, s.Default)
		}
	}
}

// TestJSONHintFollowsType: the hint for a value that is not JSON says what
// the setting's type takes; a bool is never told about durations.
func TestJSONHintFollowsType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want []string
	}{
		{boolKey, []string{boolKey + " is a bool", "true or false", boolKey + "=true"}},
		{intKey, []string{intKey + " is an int", "whole number", intKey + "=255"}},
		{floatKey, []string{floatKey + " is a float", "a number", floatKey + "=0.5"}},
		{durationKey, []string{durationKey + " is a duration", `"10s"`, durationKey + `='"10s"'`}},
		{stringKey, []string{stringKey + " is a string", "quoted string", stringKey + `='"text"'`}},
	} {
		s, ok := Lookup(tc.key)
		if !ok {
			t.Fatalf("%s is not a setting", tc.key)
		}
		hint := s.JSONHint()
		for _, w := range tc.want {
			if !strings.Contains(hint, w) {
				t.Errorf("JSONHint(%s) = %q lacks %q", tc.key, hint, w)
			}
		}
	}
	for _, s := range Settings() {
		hint := s.JSONHint()
		if !strings.Contains(hint, s.Key) {
			t.Errorf("JSONHint(%s) = %q does not name the key", s.Key, hint)
		}
		if s.Type != "duration" && (strings.Contains(hint, "duration") || strings.Contains(hint, "10s")) {
			t.Errorf("JSONHint(%s), a %s, suggests a duration: %q", s.Key, s.Type, hint)
		}
	}
}
