package testutil

import (
	"context"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/devcluster/devcluster/timeskip"
)

// Time skipping helpers, on Namespace and Cluster alike: thin calls of
// package timeskip (which any client can use) with the handle's client and
// namespace. An empty runID means the workflow's latest run.

// FastForward moves the workflow's virtual clock d ahead, firing the timers
// it passes, and returns the virtual time reached once it got there. The
// workflow then stops skipping time (SetTimeSkipping turns it on again). A
// workflow that ends on the way returns timeskip.ErrWorkflowEnded.
func (n *Namespace) FastForward(ctx context.Context, workflowID, runID string, d time.Duration) (time.Time, error) {
	return timeskip.FastForward(ctx, n.svc(), n.exec(workflowID, runID), d)
}

// SetTimeSkipping turns time skipping on or off for one running workflow.
func (n *Namespace) SetTimeSkipping(ctx context.Context, workflowID, runID string, on bool) error {
	return timeskip.Set(ctx, n.svc(), n.exec(workflowID, runID), on)
}

// VirtualNow returns the workflow's virtual clock (the wall clock plus the
// time it skipped).
func (n *Namespace) VirtualNow(ctx context.Context, workflowID, runID string) (time.Time, error) {
	return timeskip.Now(ctx, n.svc(), n.exec(workflowID, runID))
}

// TimeSkippingInfo returns the workflow's time-skipping state (nil when it
// never skipped time): see timeskip.Info.
func (n *Namespace) TimeSkippingInfo(ctx context.Context, workflowID, runID string) (*commonpb.TimeSkippingInfo, error) {
	return timeskip.Info(ctx, n.svc(), n.exec(workflowID, runID))
}

func (n *Namespace) svc() workflowservice.WorkflowServiceClient { return n.Client().WorkflowService() }

func (n *Namespace) exec(workflowID, runID string) timeskip.Execution {
	return timeskip.Execution{Namespace: n.name, WorkflowID: workflowID, RunID: runID}
}

// FastForward: see Namespace.FastForward.
func (c *Cluster) FastForward(ctx context.Context, workflowID, runID string, d time.Duration) (time.Time, error) {
	return timeskip.FastForward(ctx, c.svc(), c.exec(workflowID, runID), d)
}

// SetTimeSkipping: see Namespace.SetTimeSkipping.
func (c *Cluster) SetTimeSkipping(ctx context.Context, workflowID, runID string, on bool) error {
	return timeskip.Set(ctx, c.svc(), c.exec(workflowID, runID), on)
}

// VirtualNow: see Namespace.VirtualNow.
func (c *Cluster) VirtualNow(ctx context.Context, workflowID, runID string) (time.Time, error) {
	return timeskip.Now(ctx, c.svc(), c.exec(workflowID, runID))
}

// TimeSkippingInfo: see Namespace.TimeSkippingInfo.
func (c *Cluster) TimeSkippingInfo(ctx context.Context, workflowID, runID string) (*commonpb.TimeSkippingInfo, error) {
	return timeskip.Info(ctx, c.svc(), c.exec(workflowID, runID))
}

func (c *Cluster) svc() workflowservice.WorkflowServiceClient { return c.Client().WorkflowService() }

func (c *Cluster) exec(workflowID, runID string) timeskip.Execution {
	return timeskip.Execution{Namespace: c.namespace, WorkflowID: workflowID, RunID: runID}
}
