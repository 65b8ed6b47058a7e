package services

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	dc "go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/devcluster/devcluster/profiles"
)

// ErrSystemWorkflows reports a cluster whose own system workflows cannot
// run: the frontend refused a call of the server's system worker as
// invalid, which no retry changes (a dynamic-config limit below what the
// server's own IDs and names need, say).
var ErrSystemWorkflows = errors.New("the cluster's own system workflows cannot run")

// The workflow IDs the worker service's scanner starts at every start
// (service/worker/scanner: workflow.go and build_ids/scavenger.go of server
// 1.32.2), with the setting that turns each on; the executions scanner
// never runs on SQL stores, the only ones devcluster uses.
var scannerWorkflows = []struct {
	id      string
	enabled dc.GlobalBoolSetting
}{
	{"temporal-sys-tq-scanner", dc.TaskQueueScannerEnabled},
	{"temporal-sys-history-scanner", dc.HistoryScannerEnabled},
	{"temporal-sys-build-id-scavenger", dc.BuildIdScavengerEnabled},
}

// systemCalls watches, in the frontend, the answers to the server's own
// system worker (the calls carrying the client-name the server's SDK
// client sets): which scanner workflows it started, and the first call
// the frontend refused as invalid. Readiness waits for the first and fails
// on the second (see waitSystemWorkflows). Safe for concurrent use.
type systemCalls struct {
	mu      sync.Mutex
	started map[string]bool // workflow ID -> the start was accepted (or it runs already)
	refused error
}

func newSystemCalls() *systemCalls { return &systemCalls{started: map[string]bool{}} }

// intercept is the frontend interceptor; it changes nothing.
func (w *systemCalls) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if !fromSystemWorker(ctx) {
		return resp, err
	}
	start, isStart := req.(*workflowservice.StartWorkflowExecutionRequest)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	var invalid *serviceerror.InvalidArgument
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case isStart && (err == nil || errors.As(err, &already)):
		w.started[start.GetWorkflowId()] = true
	case errors.As(err, &invalid) && w.refused == nil:
		what := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		if isStart {
			what += " of workflow " + start.GetWorkflowId()
		}
		w.refused = fmt.Errorf("%w: the frontend refused the system worker's %s: %w", ErrSystemWorkflows, what, err)
	}
	return resp, err
}

// fromSystemWorker reports a call of the server's own SDK client.
func fromSystemWorker(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return slices.Contains(md.Get(headers.ClientNameHeaderName), headers.ClientNameServer)
}

// check returns the first refusal, or, when wanted have not all started
// yet, an error naming those still missing; nil once all have.
func (w *systemCalls) check(wanted []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refused != nil {
		return w.refused
	}
	var missing []string
	for _, id := range wanted {
		if !w.started[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("system workflows not started yet: %s", strings.Join(missing, ", "))
	}
	return nil
}

// failure returns the first refusal, if any.
func (w *systemCalls) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// wantedScannerWorkflows are the scanner workflows this process's worker
// service starts, as the server decides it from dynamic config; none
// when this process does not run both the worker and the frontend (whose
// interceptor sees the starts).
func wantedScannerWorkflows(cfg profiles.Config, client dc.Client, logger log.Logger) []string {
	if !cfg.Runs(profiles.Worker) || !cfg.Runs(profiles.Frontend) {
		return nil
	}
	col := dc.NewCollection(client, logger)
	var out []string
	for _, wf := range scannerWorkflows {
		if wf.enabled.Get(col)() {
			out = append(out, wf.id)
		}
	}
	return out
}

// namedSetting turns a refusal into a *profiles.FieldError on the
// dynamic-config value that caused it, when the config sets a value the
// refusal is known to come from: the server's length limits
// (limit.maxIDLength bounds workflow IDs, task queue names and worker
// identities alike). Other refusals are returned as they are.
func namedSetting(err error, values map[string]any) error {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) || !strings.Contains(strings.ToLower(invalid.Error()), "length") {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, dc.MaxIDLengthLimit.Key().String()) {
			return &profiles.FieldError{Key: "dynamic-config.values." + k, Value: values[k], Err: err,
				Msg: fmt.Sprintf("is too small for the server's own system workflows (%v); raise it or remove it (the server's default is %d)",
					err, dc.MaxIDLengthLimit.Get(dc.NewNoopCollection())())}
		}
	}
	return err
}
