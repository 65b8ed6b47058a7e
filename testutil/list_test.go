package testutil_test

import "go.temporal.io/api/workflowservice/v1"

func listRequest(namespace, query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query}
}
