package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/devcluster/devcluster/testutil"
	"github.com/devcluster/devcluster/timeskip"
)

// Stamp is an activity that does nothing: a workflow that runs it cannot be
// skipped through while it runs.
func Stamp(context.Context) error { return nil }

// AlwaysFails is an activity that fails every attempt.
func AlwaysFails(context.Context) error { return errors.New("always fails") }

// Span is what a time-skipping test workflow saw of its own clock.
type Span struct{ Began, Ended time.Time }

func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
}

// Month runs an activity, sleeps 720h and runs the activity again.
func Month(ctx workflow.Context) (Span, error) {
	began := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(activityCtx(ctx), Stamp).Get(ctx, nil); err != nil {
		return Span{}, err
	}
	if err := workflow.Sleep(ctx, 720*time.Hour); err != nil {
		return Span{}, err
	}
	if err := workflow.ExecuteActivity(activityCtx(ctx), Stamp).Get(ctx, nil); err != nil {
		return Span{}, err
	}
	return Span{Began: began, Ended: workflow.Now(ctx)}, nil
}

// TwoDays sleeps 48h.
func TwoDays(ctx workflow.Context) error { return workflow.Sleep(ctx, 48*time.Hour) }

// DayChild sleeps 24h.
func DayChild(ctx workflow.Context) error { return workflow.Sleep(ctx, 24*time.Hour) }

// DaysChain sleeps 24h, runs DayChild, and continues as new until runs is
// 0; the last run returns its virtual now.
func DaysChain(ctx workflow.Context, runs int) (time.Time, error) {
	if err := workflow.Sleep(ctx, 24*time.Hour); err != nil {
		return time.Time{}, err
	}
	if err := workflow.ExecuteChildWorkflow(ctx, DayChild).Get(ctx, nil); err != nil {
		return time.Time{}, err
	}
	if runs > 0 {
		return time.Time{}, workflow.NewContinueAsNewError(ctx, DaysChain, runs-1)
	}
	return workflow.Now(ctx), nil
}

// Daily runs an activity, then days times sleeps 24h and runs it again (a
// subscription billed daily); it returns how far its clock moved.
func Daily(ctx workflow.Context, days int) (time.Duration, error) {
	began := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(activityCtx(ctx), Stamp).Get(ctx, nil); err != nil {
		return 0, err
	}
	for range days {
		if err := workflow.Sleep(ctx, 24*time.Hour); err != nil {
			return 0, err
		}
		if err := workflow.ExecuteActivity(activityCtx(ctx), Stamp).Get(ctx, nil); err != nil {
			return 0, err
		}
	}
	return workflow.Now(ctx).Sub(began), nil
}

// RetryForever retries a failing activity every hour, forever.
func RetryForever(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Hour, BackoffCoefficient: 1}})
	return workflow.ExecuteActivity(ctx, AlwaysFails).Get(ctx, nil)
}

// PingThenTwoDays answers the update "ping" and sleeps 48h.
func PingThenTwoDays(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandler(ctx, "ping", func(workflow.Context) (string, error) { return "pong", nil }); err != nil {
		return err
	}
	return workflow.Sleep(ctx, 48*time.Hour)
}

func registerTimeSkipping(r worker.Registry) {
	r.RegisterWorkflow(Month)
	r.RegisterWorkflow(PingThenTwoDays)
	r.RegisterWorkflow(TwoDays)
	r.RegisterWorkflow(DayChild)
	r.RegisterWorkflow(DaysChain)
	r.RegisterWorkflow(RetryForever)
	r.RegisterWorkflow(Daily)
	r.RegisterActivity(Stamp)
	r.RegisterActivity(AlwaysFails)
}

// TestTimeSkippingMonth: a plain SDK client starts a workflow that sleeps
// 720h between two activities; in a namespace that skips time it completes
// within seconds with its clock 720h on, and the same workflow in a
// namespace that does not is still running then.
func TestTimeSkippingMonth(t *testing.T) {
	t.Parallel()
	skip := testutil.NewNamespace(t, testutil.WithTimeSkipping())
	plain := testutil.NewNamespace(t)
	skip.NewWorker("ts", registerTimeSkipping)
	plain.NewWorker("ts", registerTimeSkipping)
	ctx := ctxFor(t)
	opts := client.StartWorkflowOptions{ID: "month", TaskQueue: "ts"}
	slow, err := plain.Client().ExecuteWorkflow(ctx, opts, Month)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := skip.Client().ExecuteWorkflow(ctx, opts, Month)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var span Span
	if err := fast.Get(ctx, &span); err != nil {
		t.Fatalf("the month-long workflow in %s: %v", skip.Name(), err)
	}
	t.Logf("720h of workflow time in %s of wall time", time.Since(began).Round(time.Millisecond))
	if d := span.Ended.Sub(span.Began); d < 720*time.Hour {
		t.Errorf("workflow.Now advanced %s, want >= 720h", d)
	}
	now, err := skip.VirtualNow(ctx, "month", fast.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if d := now.Sub(time.Now()); d < 719*time.Hour {
		t.Errorf("VirtualNow is %s ahead of the wall clock, want ~720h", d)
	}
	// Signal-with-start skips too.
	sws, err := skip.Client().SignalWithStartWorkflow(ctx, "two-days", "hello", nil, client.StartWorkflowOptions{TaskQueue: "ts"}, TwoDays)
	if err != nil {
		t.Fatal(err)
	}
	if err := sws.Get(ctx, nil); err != nil {
		t.Fatalf("a 48h workflow started by signal-with-start: %v", err)
	}
	desc, err := plain.Client().DescribeWorkflowExecution(ctx, "month", slow.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("the same workflow in %s (no time skipping) is %s, want running", plain.Name(), st)
	}
}

// TestTimeSkippingOtherStarts: update-with-start and a schedule's
// workflows skip time as plain starts do.
func TestTimeSkippingOtherStarts(t *testing.T) {
	t.Parallel()
	ns := testutil.NewNamespace(t, testutil.WithTimeSkipping())
	ns.NewWorker("ts", registerTimeSkipping)
	ctx := ctxFor(t)
	cl := ns.Client()

	start := cl.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: "uws", TaskQueue: "ts",
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, PingThenTwoDays)
	upd, err := cl.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: "ping", WaitForStage: client.WorkflowUpdateStageCompleted}})
	if err != nil {
		t.Fatal(err)
	}
	var pong string
	if err := upd.Get(ctx, &pong); err != nil || pong != "pong" {
		t.Fatalf("update: %q, %v", pong, err)
	}
	run, err := start.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("a 48h workflow started by update-with-start: %v", err)
	}

	sched, err := cl.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: "nightly", Spec: client.ScheduleSpec{},
		Action: &client.ScheduleWorkflowAction{ID: "scheduled", Workflow: TwoDays, TaskQueue: "ts"}, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var scheduled client.WorkflowRun
	testutil.WaitFor(t, 15*time.Second, "the schedule's workflow", func() error {
		desc, err := sched.Describe(ctx)
		if err != nil {
			return err
		}
		if len(desc.Info.RecentActions) == 0 {
			return errors.New("no action yet")
		}
		res := desc.Info.RecentActions[0].StartWorkflowResult
		scheduled = cl.GetWorkflow(ctx, res.WorkflowID, res.FirstExecutionRunID)
		return nil
	})
	if err := scheduled.Get(ctx, nil); err != nil {
		t.Fatalf("a 48h workflow a schedule started: %v", err)
	}
}

// TestFastForward: a workflow waiting on a 48h timer in a namespace that
// does not skip time; a fast-forward of 24h fires nothing, a second one
// fires the timer and the workflow completes.
func TestFastForward(t *testing.T) {
	t.Parallel()
	ns := testutil.NewNamespace(t)
	ns.NewWorker("ts", registerTimeSkipping)
	ctx := ctxFor(t)
	run, err := ns.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "two-days", TaskQueue: "ts"}, TwoDays)
	if err != nil {
		t.Fatal(err)
	}
	// The timer exists once the first workflow task completed.
	testutil.WaitFor(t, 15*time.Second, "the 48h timer", func() error { return hasEvent(ctx, ns.Client(), run, enumspb.EVENT_TYPE_TIMER_STARTED) })
	before := time.Now()
	reached, err := ns.FastForward(ctx, "two-days", run.GetRunID(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := reached.Sub(before); d < 24*time.Hour {
		t.Errorf("the first fast-forward reached %s, %s after its start; want >= 24h", reached, d)
	}
	if err := hasEvent(ctx, ns.Client(), run, enumspb.EVENT_TYPE_TIMER_FIRED); err == nil {
		t.Fatalf("the 48h timer fired after a fast-forward of 24h")
	}
	desc, err := ns.Client().DescribeWorkflowExecution(ctx, "two-days", run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after 24h of 48h the workflow is %s, want running", st)
	}
	// The second fires the timer and the workflow ends with it: the
	// fast-forward reports either that it got there or that the workflow
	// ended (which of the two the server records first is a race).
	if _, err := ns.FastForward(ctx, "two-days", run.GetRunID(), 24*time.Hour); err != nil && !errors.Is(err, timeskip.ErrWorkflowEnded) {
		t.Errorf("second fast-forward: %v, want nil or timeskip.ErrWorkflowEnded", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("after two fast-forwards of 24h the 48h workflow did not complete: %v", err)
	}
}

// TestTimeSkippingChildAndContinueAsNew: children and continued runs skip
// time as their parent does.
func TestTimeSkippingChildAndContinueAsNew(t *testing.T) {
	t.Parallel()
	ns := testutil.NewNamespace(t, testutil.WithTimeSkipping())
	ns.NewWorker("ts", registerTimeSkipping)
	ctx := ctxFor(t)
	start := time.Now()
	run, err := ns.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "chain", TaskQueue: "ts"}, DaysChain, 2)
	if err != nil {
		t.Fatal(err)
	}
	var end time.Time
	if err := run.Get(ctx, &end); err != nil {
		t.Fatalf("three runs of 24h + a 24h child each: %v", err)
	}
	// Each run's own sleeps move its clock (3 x 24h, carried over by
	// continue-as-new); a child's skips move the child's clock, not its
	// parent's: that the three 24h children ended within the test's
	// deadline is what shows that they skipped too.
	if d := end.Sub(start); d < 3*24*time.Hour {
		t.Errorf("the last run's clock is %s ahead of the start, want >= 72h (3 runs of 24h)", d)
	}
}

// TestTimeSkippingYear: a year of daily steps (365 x (sleep 24h,
// activity)) completes with its clock a year on: devcluster's skip limit
// (1,000 per session) lets it, where the server's 200 would stop it at day
// 200 and wait a real day. How fast is BenchmarkTimeSkippingYear's.
func TestTimeSkippingYear(t *testing.T) {
	t.Parallel()
	c := testutil.NewCluster(t, testutil.WithTimeSkipping())
	c.NewWorker("ts", registerTimeSkipping)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "year", TaskQueue: "ts"}, Daily, 365)
	if err != nil {
		t.Fatal(err)
	}
	var moved time.Duration
	if err := run.Get(ctx, &moved); err != nil {
		t.Fatalf("a year of daily steps: %v", err)
	}
	t.Logf("365 days of workflow time in %s of wall time", time.Since(began).Round(time.Millisecond))
	if moved < 365*24*time.Hour {
		t.Errorf("workflow.Now advanced %s, want >= 365 days", moved)
	}
}

// BenchmarkTimeSkippingYear: the wall time of a year of daily steps
// (365 x (sleep 24h, activity)) in a namespace that skips time, and per
// step; make bench runs it.
func BenchmarkTimeSkippingYear(b *testing.B) {
	c := testutil.NewCluster(b, testutil.WithTimeSkipping())
	c.NewWorker("ts", registerTimeSkipping)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("year-%d", i), TaskQueue: "ts"}, Daily, 365)
		if err != nil {
			b.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/365, "ms/day")
}

// TestTimeSkippingSessionLimit: an activity retried every hour forever
// skips its backoffs only up to the session's skip limit, then waits in
// wall-clock time instead of looping.
func TestTimeSkippingSessionLimit(t *testing.T) {
	t.Parallel()
	const limit = 5
	c := testutil.NewCluster(t, testutil.WithTimeSkipping(),
		testutil.WithDynamicConfig("frontend.WorkflowTimeSkippingMaxSkipPerSession", limit))
	c.NewWorker("ts", registerTimeSkipping)
	ctx := ctxFor(t)
	run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "retry", TaskQueue: "ts"}, RetryForever)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "time skipping to stop at the session limit", func() error {
		info, err := c.TimeSkippingInfo(ctx, "retry", run.GetRunID())
		if err != nil {
			return err
		}
		if info.GetEffectiveConfig().GetEnabled() {
			return errors.New("still skipping: " + info.String())
		}
		if n := info.GetEffectiveConfig().GetMaxSessionSkipCount(); n != limit {
			return errors.New("session limit: " + info.String())
		}
		return nil
	})
	desc, err := c.Client().DescribeWorkflowExecution(ctx, "retry", run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	acts := desc.GetPendingActivities()
	if len(acts) != 1 {
		t.Fatalf("pending activities: %v", acts)
	}
	// One attempt, then one per skipped backoff; the next waits an hour of
	// wall time, so the count stays there.
	if a := acts[0].GetAttempt(); a > limit+2 {
		t.Errorf("attempt %d after a session limit of %d skips", a, limit)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("workflow is %s, want running", desc.GetWorkflowExecutionInfo().GetStatus())
	}
}

// hasEvent returns nil when run's history has an event of type et.
func hasEvent(ctx context.Context, cl client.Client, run client.WorkflowRun, et enumspb.EventType) error {
	iter := cl.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return err
		}
		if ev.GetEventType() == et {
			return nil
		}
	}
	return errors.New("no " + et.String() + " event")
}
