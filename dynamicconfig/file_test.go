package dynamicconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"
)

func TestParseFile(t *testing.T) {
	good := `
limit.maxIDLength:
  - value: 255
frontend.namespaceRPS:
  - value: 50
    constraints: {namespace: orders}
  - value: 2400
history.archivalProcessorArchiveDelay:
  - value: 1s
`
	m, err := ParseFile("dc.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if v := m[dc.MakeKey("limit.maxIDLength")]; len(v) != 1 || v[0].Value != 255 {
		t.Errorf("limit.maxIDLength = %+v", v)
	}
	rps := m[dc.MakeKey("frontend.namespaceRPS")]
	if len(rps) != 2 || rps[0].Constraints.Namespace != "orders" || rps[0].Value != 50 {
		t.Errorf("frontend.namespaceRPS = %+v, want 50 for namespace orders and a default", rps)
	}
	if m, err := ParseFile("empty.yaml", []byte("# nothing yet\n")); err != nil || len(m) != 0 {
		t.Errorf("an empty file: %v, %v; want no values and no error", m, err)
	}

	bad := []struct {
		name, content string
		line          int
		want          string
		sentinel      error
	}{
		{"syntax", "limit.maxIDLength:\n  - value: [1\n", 1, "not valid YAML", nil},
		{"unknown key", "limit.maxIDLenght:\n  - value: 1\n", 1, "did you mean limit.maxIDLength", ErrUnknownKey},
		{"wrong type", "limit.maxIDLength:\n  - value: lots\n", 2, "want an int", ErrBadValue},
		{"not a list", "limit.maxIDLength: 10\n", 1, "must be a list of {value, constraints}", ErrBadValue},
		{"bad constraint", "frontend.namespaceRPS:\n  - value: 1\n    constraints: {namespce: x}\n", 3, `"namespce" is not a constraint`, ErrBadValue},
		{"bad entry field", "limit.maxIDLength:\n  - valeu: 1\n", 2, `"valeu" is not a field`, ErrBadValue},
		{"no value", "limit.maxIDLength:\n  - constraints: {namespace: a}\n", 2, "entry has no value", ErrBadValue},
		{"twice", "limit.maxIDLength:\n  - value: 1\nLIMIT.maxidlength:\n  - value: 2\n", 3, "set twice (also on line 1)", nil},
		{"not a map", "- a\n- b\n", 1, "must be a map", nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("dc.yaml", []byte(tc.content))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrBadFile) {
				t.Errorf("%v is not ErrBadFile", err)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("%v is not %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if prefix := "dc.yaml:" + itoa(tc.line) + ":"; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := ParseFile("dc.yaml", []byte("limit.maxIDLenght:\n  - value: 1\nfrontend.rps:\n  - value: x\n"))
		if n := strings.Count(err.Error(), "\n") + 1; n != 2 {
			t.Errorf("want 2 problems, got %d:\n%v", n, err)
		}
	})
}

// BenchmarkReloadLatency measures the time from a saved file to the new
// value being served (the budget is 250 ms).
func BenchmarkReloadLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "dc.yaml")
	c := NewClient(nil)
	w, err := WatchFile(path, c, quietLogger(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	n := 1000
	for b.Loop() {
		n++
		if err := os.WriteFile(path, []byte(limitFile(n)), 0o644); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for servedLimit(c) != n {
			if time.Now().After(deadline) {
				b.Fatalf("value %d not applied within 5s", n)
			}
			<-time.After(time.Millisecond)
		}
	}
}
