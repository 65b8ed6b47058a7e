package services

import (
	"context"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
)

func TestStickyBacklogHint(t *testing.T) {
	t.Parallel()
	poll := func(kind enumspb.TaskQueueKind) *workflowservice.PollWorkflowTaskQueueRequest {
		return &workflowservice.PollWorkflowTaskQueueRequest{TaskQueue: &taskqueuepb.TaskQueue{Name: "q", Kind: kind}}
	}
	task := func(hint int64) *workflowservice.PollWorkflowTaskQueueResponse {
		return &workflowservice.PollWorkflowTaskQueueResponse{TaskToken: []byte("token"), BacklogCountHint: hint}
	}
	tests := []struct {
		name string
		req  any
		resp any
		want int64
	}{
		{"sticky task counted itself", poll(enumspb.TASK_QUEUE_KIND_STICKY), task(1), 0},
		{"sticky task with more behind it", poll(enumspb.TASK_QUEUE_KIND_STICKY), task(5), 4},
		{"sticky task, no backlog", poll(enumspb.TASK_QUEUE_KIND_STICKY), task(0), 0},
		{"normal queue left alone", poll(enumspb.TASK_QUEUE_KIND_NORMAL), task(3), 3},
		{"empty sticky poll left alone", poll(enumspb.TASK_QUEUE_KIND_STICKY), &workflowservice.PollWorkflowTaskQueueResponse{BacklogCountHint: 2}, 2},
		{"activity poll left alone", &workflowservice.PollActivityTaskQueueRequest{TaskQueue: &taskqueuepb.TaskQueue{Kind: enumspb.TASK_QUEUE_KIND_STICKY}}, task(2), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := stickyBacklogHint(context.Background(), tc.req, nil, func(context.Context, any) (any, error) { return tc.resp, nil })
			if err != nil {
				t.Fatal(err)
			}
			if h := got.(*workflowservice.PollWorkflowTaskQueueResponse).GetBacklogCountHint(); h != tc.want {
				t.Fatalf("hint %d, want %d", h, tc.want)
			}
		})
	}
}
