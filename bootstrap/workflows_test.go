package bootstrap_test

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Workflows and activities the tests run on a real cluster.

const (
	signalGo   = "go"
	queryState = "state"
)

// Greet is a trivial activity.
func Greet(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

// ChildWorkflow doubles its input.
func ChildWorkflow(_ workflow.Context, n int) (int, error) {
	return n * 2, nil
}

// ParentWorkflow exercises an activity, a query, a signal, a durable timer
// and a child workflow, and returns a summary of what each gave.
func ParentWorkflow(ctx workflow.Context, name string) (string, error) {
	state := "started"
	if err := workflow.SetQueryHandler(ctx, queryState, func() (string, error) { return state, nil }); err != nil {
		return "", err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var greeting string
	if err := workflow.ExecuteActivity(actx, Greet, name).Get(ctx, &greeting); err != nil {
		return "", err
	}
	state = "waiting for signal"
	var sig string
	workflow.GetSignalChannel(ctx, signalGo).Receive(ctx, &sig)
	state = "sleeping"
	if err := workflow.Sleep(ctx, 100*time.Millisecond); err != nil {
		return "", err
	}
	var doubled int
	if err := workflow.ExecuteChildWorkflow(ctx, ChildWorkflow, 21).Get(ctx, &doubled); err != nil {
		return "", err
	}
	state = "done"
	return fmt.Sprintf("%s/%s/%d", greeting, sig, doubled), nil
}

// WaitForSignal returns the first signal it receives.
func WaitForSignal(ctx workflow.Context) (string, error) {
	var sig string
	workflow.GetSignalChannel(ctx, signalGo).Receive(ctx, &sig)
	return "got " + sig, nil
}
