package bootstrap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devcluster/devcluster/testutil"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// TestDynamicConfigFileReload changes the maximum ID length in the watched
// file of a running cluster and observes it through the SDK; a bad edit
// keeps the last good value.
func TestDynamicConfigFileReload(t *testing.T) {
	t.Parallel()
	began := time.Now().Add(-time.Second) // the gauge has second resolution at worst
	path := filepath.Join(t.TempDir(), "dynamicconfig.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("limit.maxIDLength:\n  - value: 1000\n")
	cfg := testConfig()
	cfg.DynamicConfig.File = path
	cfg.Metrics.Address = "127.0.0.1:0"
	c := startCluster(t, cfg)
	cl := dial(t, c, "default")
	runWorker(t, cl, "dc")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := strings.Repeat("w", 60)
	start := func(suffix string) error {
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id + suffix, TaskQueue: "dc"}, WaitForSignal)
		if err == nil {
			_ = cl.CancelWorkflow(ctx, run.GetID(), "")
		}
		return err
	}
	refused := func(err error) bool {
		var invalid *serviceerror.InvalidArgument
		return errors.As(err, &invalid)
	}
	if err := start("-a"); err != nil {
		t.Fatalf("a 62-character ID under a limit of 1000: %v", err)
	}

	write("limit.maxIDLength:\n  - value: 50\n")
	testutil.WaitFor(t, 5*time.Second, "a 62-character ID is refused after the limit drops to 50", func() error {
		if err := start("-b"); !refused(err) {
			return errors.New("not refused")
		}
		return nil
	})

	// A bad edit is rejected whole: the limit of 50 stays.
	write("limit.maxIDLength:\n  - value: 1000\nlimit.maxIDLenght:\n  - value: 1\n")
	testutil.WaitFor(t, 5*time.Second, "the bad edit is reported", func() error {
		st, ok := c.DynamicConfigFile()
		if !ok || st.LastErr == nil {
			return errors.New("no error reported")
		}
		if !strings.Contains(st.LastErr.Error(), "did you mean limit.maxIDLength") {
			t.Errorf("error %v lacks a suggestion", st.LastErr)
		}
		return nil
	})
	if err := start("-c"); !refused(err) {
		t.Fatalf("after a rejected edit the old limit must stay; start gave %v", err)
	}

	// Fixing the file applies it.
	write("limit.maxIDLength:\n  - value: 1000\n")
	testutil.WaitFor(t, 5*time.Second, "the fixed file raises the limit again", func() error { return start("-d") })

	// Every reload is counted: the first load and two good saves, one bad.
	fams := scrape(t, c)
	ok := counter(fams["devcluster_dynamicconfig_reloads_total"], map[string]string{"result": "ok"})
	bad := counter(fams["devcluster_dynamicconfig_reloads_total"], map[string]string{"result": "error"})
	if ok < 3 || bad < 1 {
		t.Errorf("devcluster_dynamicconfig_reloads_total ok=%v error=%v; want at least 3 and 1", ok, bad)
	}
	// The time of the last good reload: after the test began, not after now.
	var last float64
	if f := fams["devcluster_dynamicconfig_last_good_reload_timestamp_seconds"]; f != nil && len(f.Metric) == 1 {
		last = f.Metric[0].GetGauge().GetValue()
	}
	if at := time.Unix(0, int64(last*1e9)); at.Before(began) || at.After(time.Now()) {
		t.Errorf("devcluster_dynamicconfig_last_good_reload_timestamp_seconds = %v (%s); want between %s and now", last, at, began)
	}
}
