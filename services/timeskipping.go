package services

import (
	"context"
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"

	"github.com/devcluster/devcluster/profiles"
)

// Server 1.32 can skip a workflow's time: while the workflow only waits on
// timers (a sleep, a retry backoff, a child's or a continued run's start
// delay) its virtual clock jumps to the next timer. A start request asks for
// it with a TimeSkippingConfig, a field no SDK release sets yet.
//
// timeSkipping is a frontend interceptor that sets {enabled: true} on every
// start of a workflow in a namespace configured to skip time, unless the
// request carries a config of its own: StartWorkflowExecution,
// SignalWithStartWorkflowExecution and the start of an update-with-start
// (ExecuteMultiOperation). A schedule's workflows are started through the
// frontend too, so they skip time as well; children and continued runs
// inherit the setting from their parent as the server defines.
// The server bounds each session (frontend.WorkflowTimeSkippingMaxSkipPerSession
// skips, 200 by default) so that a workflow retrying an activity forever
// does not skip forever.
type timeSkipping struct {
	all bool // every namespace but the system's

	mu         sync.RWMutex
	namespaces map[string]bool
}

func newTimeSkipping(cfg profiles.Config) *timeSkipping {
	ts := &timeSkipping{all: cfg.TimeSkipping, namespaces: map[string]bool{}}
	for _, ns := range cfg.TimeSkippingNamespaces() {
		ts.namespaces[ns] = true
	}
	return ts
}

// set turns skipping on or off for workflows started in namespace from now
// on.
func (ts *timeSkipping) set(namespace string, on bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.namespaces[namespace] = on
}

func (ts *timeSkipping) enabled(namespace string) bool {
	if namespace == systemNamespace {
		return false
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	on, named := ts.namespaces[namespace]
	if named {
		return on
	}
	return ts.all
}

func (ts *timeSkipping) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch r := req.(type) {
	case *workflowservice.StartWorkflowExecutionRequest:
		if r.TimeSkippingConfig == nil && ts.enabled(r.GetNamespace()) {
			r.TimeSkippingConfig = &commonpb.TimeSkippingConfig{Enabled: true}
		}
	case *workflowservice.SignalWithStartWorkflowExecutionRequest:
		if r.TimeSkippingConfig == nil && ts.enabled(r.GetNamespace()) {
			r.TimeSkippingConfig = &commonpb.TimeSkippingConfig{Enabled: true}
		}
	case *workflowservice.ExecuteMultiOperationRequest:
		if ts.enabled(r.GetNamespace()) {
			for _, op := range r.GetOperations() {
				if s := op.GetStartWorkflow(); s != nil && s.TimeSkippingConfig == nil {
					s.TimeSkippingConfig = &commonpb.TimeSkippingConfig{Enabled: true}
				}
			}
		}
	}
	return handler(ctx, req)
}

// SetTimeSkipping turns time skipping on or off for the workflows started
// in namespace from now on (for a namespace registered while the cluster
// runs; configured ones follow time-skipping and namespaces[].time-skipping).
// The server's switch frontend.WorkflowTimeSkippingEnabled must be on for
// the namespace (devcluster turns it on when the config skips time
// anywhere). Safe for concurrent use.
func (s *Server) SetTimeSkipping(namespace string, on bool) {
	s.skips.set(namespace, on)
}

// TimeSkipping reports whether workflows started in namespace skip time.
func (s *Server) TimeSkipping(namespace string) bool {
	return s.skips.enabled(namespace)
}
