package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the bench's testutil child (the
// bench re-executes its own binary for a fresh process per run).
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// TestShort runs the whole bench in -short mode (N=20, C=5, one run) and
// checks that every figure is produced for both configurations; it asserts
// no timing. It starts ten devcluster processes and four in-process
// clusters: about 20 s on 2 cores.
func TestShort(t *testing.T) {
	jsonFile := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-short", "-json", jsonFile}, &stdout, &stderr); code != 0 {
		t.Fatalf("bench -short exited %d\nstderr:\n%s", code, stderr.String())
	}
	t.Logf("%s", stdout.String())

	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("bench JSON: %v\n%s", err, b)
	}
	if rep.Params.N != 20 || rep.Params.C != 5 || rep.Params.Runs != 1 {
		t.Errorf("short params = N %d, C %d, runs %d; want 20, 5, 1", rep.Params.N, rep.Params.C, rep.Params.Runs)
	}
	got := map[string]row{}
	for _, r := range rep.Figures {
		got[r.Key] = r
	}
	for _, f := range figures {
		r, ok := got[f.Key]
		if !ok {
			t.Errorf("figure %s missing from the JSON", f.Key)
			continue
		}
		columns := map[string]*stats{"devcluster": r.Devcluster, "stock": r.Stock}
		if f.devclusterOnly() {
			if r.Stock != nil {
				t.Errorf("%s: a stock value for a devcluster-only figure", f.Key)
			}
			delete(columns, "stock")
		}
		for name, s := range columns {
			switch {
			case s == nil:
				t.Errorf("%s: no %s value", f.Key, name)
			case len(s.Values) != 1 || s.Median <= 0 || s.Min <= 0 || s.Max <= 0:
				t.Errorf("%s: %s = %+v; want one positive value", f.Key, name, *s)
			}
		}
		if r.Ratio <= 0 && !f.devclusterOnly() {
			t.Errorf("%s: ratio %v; want > 0", f.Key, r.Ratio)
		}
		if !strings.Contains(stdout.String(), f.Label) {
			t.Errorf("table lacks the row %q", f.Label)
		}
	}
	if _, ok := got["pg_throughput_wps"]; ok && !strings.Contains(stdout.String(), "devcluster on PostgreSQL against devcluster on a db file: throughput ") {
		t.Error("the table lacks the PostgreSQL/file line")
	}
}
