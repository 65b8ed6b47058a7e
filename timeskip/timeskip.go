// Package timeskip drives the Temporal server's time skipping (server 1.32)
// for one workflow execution, over the raw workflowservice API, so that it
// works from any client: turn skipping on or off, fast-forward by a
// duration and wait until the workflow's virtual clock got there, and read
// that clock. No SDK release has fields for these yet.
//
// The namespace must allow time skipping (the server's dynamic-config key
// frontend.WorkflowTimeSkippingEnabled; devcluster turns it on when a
// namespace is configured to skip time). With a Go SDK client, pass
// client.WorkflowService().
package timeskip

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Identity is the identity the calls of this package carry.
const Identity = "devcluster-timeskip"

// Execution names a workflow execution; an empty RunID means the latest run.
type Execution struct {
	Namespace, WorkflowID, RunID string
}

func (e Execution) proto() *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: e.WorkflowID, RunId: e.RunID}
}

// Set turns time skipping on or off for a running workflow: on, it skips
// whenever it only waits on timers; off, its clock runs with the wall
// clock again (time already skipped stays skipped). Either starts a new
// session of the server's skip limit.
func Set(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution, on bool) error {
	return setConfig(ctx, svc, e, &commonpb.TimeSkippingConfig{Enabled: on})
}

func setConfig(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution, c *commonpb.TimeSkippingConfig) error {
	_, err := svc.UpdateWorkflowExecutionOptions(ctx, &workflowservice.UpdateWorkflowExecutionOptionsRequest{
		Namespace:                e.Namespace,
		WorkflowExecution:        e.proto(),
		WorkflowExecutionOptions: &workflowpb.WorkflowExecutionOptions{TimeSkippingConfig: c},
		UpdateMask:               &fieldmaskpb.FieldMask{Paths: []string{"time_skipping_config"}},
		Identity:                 Identity,
	})
	if err != nil {
		return fmt.Errorf("set time skipping of workflow %s: %w", e.WorkflowID, err)
	}
	return nil
}

// FastForward moves the workflow's virtual clock d ahead of where it is
// now, firing the timers it passes on the way, and returns once the clock
// got there (the fast-forward's target time, which it returns). The
// workflow then stops skipping time (Set turns it on again). The server
// cannot move the clock past the workflow's execution timeout: a
// fast-forward beyond it fails when the workflow ends. It honours ctx.
func FastForward(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("fast-forward of workflow %s: duration %s must be positive", e.WorkflowID, d)
	}
	id := fmt.Sprintf("ff-%d", time.Now().UnixNano())
	err := setConfig(ctx, svc, e, &commonpb.TimeSkippingConfig{Enabled: true,
		FastForwardConfig: &commonpb.FastForwardConfig{Id: id, Duration: durationpb.New(d)}})
	if err != nil {
		return time.Time{}, err
	}
	for {
		resp, err := svc.PollWorkflowExecutionTimeSkipping(ctx, &workflowservice.PollWorkflowExecutionTimeSkippingRequest{
			Namespace: e.Namespace, WorkflowExecution: e.proto(), FastForwardId: id,
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("fast-forward of workflow %s by %s: %w", e.WorkflowID, d, err)
		}
		switch resp.GetFastForwardPollingResult() {
		case enumspb.FAST_FORWARD_POLLING_RESULT_FAST_FORWARD_COMPLETED:
			return resp.GetFastForwardInfo().GetTargetTime().AsTime(), nil
		case enumspb.FAST_FORWARD_POLLING_RESULT_FAST_FORWARD_FAILED:
			if ended, when := closed(ctx, svc, e); ended {
				return when, fmt.Errorf("fast-forward of workflow %s by %s: %w (at %s)", e.WorkflowID, d, ErrWorkflowEnded, when.UTC().Format(time.RFC3339))
			}
			return time.Time{}, fmt.Errorf("fast-forward of workflow %s by %s: %w: %s", e.WorkflowID, d, ErrFastForwardFailed, resp.GetFailedReason())
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
	}
}

// ErrWorkflowEnded reports a fast-forward during which the workflow ended
// (its timers fired and it completed, or it failed or timed out): its clock
// stopped at the time FastForward then returns.
var ErrWorkflowEnded = errors.New("the workflow ended before its clock got there")

// closed reports whether the execution has ended, and its virtual close
// time.
func closed(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution) (bool, time.Time) {
	resp, err := svc.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{Namespace: e.Namespace, Execution: e.proto()})
	if err != nil {
		return false, time.Time{}
	}
	info := resp.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return false, time.Time{}
	}
	return true, info.GetCloseTime().AsTime()
}

// ErrFastForwardFailed reports a fast-forward the server says can no longer
// complete (the workflow ended first, or another fast-forward replaced it).
var ErrFastForwardFailed = errors.New("fast-forward failed")

// Info returns the workflow's time-skipping state: its virtual clock
// (CurrentTime), the effective config (Enabled turns false once the
// session's skip limit is reached or a fast-forward completes), the
// fast-forward in progress and the skips of this session. nil when the
// workflow never skipped time.
func Info(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution) (*commonpb.TimeSkippingInfo, error) {
	resp, err := svc.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{Namespace: e.Namespace, Execution: e.proto()})
	if err != nil {
		return nil, fmt.Errorf("describe workflow %s: %w", e.WorkflowID, err)
	}
	return resp.GetWorkflowExtendedInfo().GetTimeSkippingInfo(), nil
}

// Now returns the workflow's virtual clock: the wall clock plus the time
// it skipped (the wall clock for a workflow that never skipped time).
func Now(ctx context.Context, svc workflowservice.WorkflowServiceClient, e Execution) (time.Time, error) {
	info, err := Info(ctx, svc, e)
	if err != nil {
		return time.Time{}, err
	}
	if t := info.GetCurrentTime(); t != nil {
		return t.AsTime(), nil
	}
	return time.Now(), nil
}
