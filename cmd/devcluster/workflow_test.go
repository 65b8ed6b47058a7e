package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// SleepTwoDays sleeps 48h and returns its clock's reading.
func SleepTwoDays(ctx workflow.Context) (time.Time, error) {
	err := workflow.Sleep(ctx, 48*time.Hour)
	return workflow.Now(ctx), err
}

// TestWorkflowFastForward drives time skipping from the command line, as a
// user of another SDK would: `devcluster workflow fast-forward` moves a
// workflow waiting on a 48h timer past it, `workflow time` shows its clock;
// `start --time-skipping` makes every namespace skip time and the banner
// says so.
func TestWorkflowFastForward(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	p := startProc(t, "start", "--profile", "test")
	addr := p.waitBanner(t, 30*time.Second)
	c := dialWorker(t, addr, "default", "ff", SleepTwoDays)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sleeper", TaskQueue: "ff"}, SleepTwoDays)
	if err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runBinary(t, "workflow", "fast-forward", "--address", addr, "--workflow-id", "sleeper", "--by", "48h")
	if code != 0 {
		t.Fatalf("workflow fast-forward: exit %d\n%s%s", code, out, stderr)
	}
	// The timer fires at the fast-forward's target: whether the server
	// records the fast-forward done or the workflow ended first is a race.
	if !strings.Contains(out, "ended during the fast-forward by 48h0m0s") && !strings.Contains(out, "fast-forwarded by 48h0m0s") {
		t.Errorf("workflow fast-forward said:\n%s", out)
	}
	var ended time.Time
	if err := run.Get(ctx, &ended); err != nil {
		t.Fatalf("the 48h workflow after a fast-forward of 48h: %v", err)
	}
	if d := time.Until(ended); d < 47*time.Hour {
		t.Errorf("the workflow's clock ended %s ahead of the wall clock, want ~48h", d)
	}
	code, out, stderr = runBinary(t, "workflow", "time", "--address", addr, "--workflow-id", "sleeper")
	if code != 0 || !strings.Contains(out, "virtual time") {
		t.Errorf("workflow time: exit %d\n%s%s", code, out, stderr)
	}

	// Bad input: a duration that is not positive, a workflow that is not there.
	code, _, stderr = runBinary(t, "workflow", "fast-forward", "--address", addr, "--workflow-id", "sleeper", "--by", "-1h")
	if code != exitUsage || !strings.Contains(stderr, "flag --by") {
		t.Errorf("--by -1h: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runBinary(t, "workflow", "fast-forward", "--address", addr, "--workflow-id", "nobody", "--by", "1h")
	if code != exitRuntime || !strings.Contains(stderr, "nobody") {
		t.Errorf("unknown workflow: exit %d, stderr:\n%s", code, stderr)
	}

	// The whole cluster skipping time.
	q := startProc(t, "start", "--profile", "test", "--time-skipping")
	q.waitBanner(t, 30*time.Second)
	if banner := q.stdout.String(); !strings.Contains(banner, "default (skips time)") {
		t.Errorf("banner of --time-skipping does not say the namespace skips time:\n%s", banner)
	}
}
