package faults

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var testCatalog = Catalog{
	Stores:   map[string][]string{"ExecutionStore": {"UpdateWorkflowExecution", "GetWorkflowExecution"}, "ShardStore": {"UpdateShard"}},
	Frontend: []string{"StartWorkflowExecution", "SignalWorkflowExecution"},
}

// TestParseFileBadInput: each bad rule is one line naming the rule and
// what to write instead; nothing reaches the server.
func TestParseFileBadInput(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown store", "rules: [{name: a, persistence: {store: ExecStore, method: '*'}, error: Timeout}]", `rule "a": persistence.store "ExecStore" is not a data store; use "*" or one of ExecutionStore, ShardStore`},
		{"unknown method", "rules: [{name: a, persistence: {store: ExecutionStore, method: UpdateShard}, error: Timeout}]", `persistence.method "UpdateShard" is not a method of ExecutionStore`},
		{"unknown error", "rules: [{name: a, persistence: {store: '*', method: '*'}, error: Timeot}]", `error "Timeot" is not a persistence error kind; use one of Timeout, DeadlineExceeded, ResourceExhausted, Unavailable, ShardOwnershipLost; did you mean Timeout?`},
		{"execute and timeout", "rules: [{name: a, persistence: {store: '*', method: '*'}, error: ExecuteAndTimeout}]", "not available for rules that reload"},
		{"rate out of range", "rules: [{name: a, frontend: {method: '*'}, status: Unavailable, rate: 1.5}]", "rate 1.5 is outside 0-1"},
		{"rate and count", "rules: [{name: a, frontend: {method: '*'}, status: Unavailable, rate: 0.5, count: 2}]", "not both"},
		{"unknown status", "rules: [{name: a, frontend: {method: StartWorkflowExecution}, status: Exhausted}]", `status "Exhausted" is not a gRPC status code`},
		{"unknown frontend method", "rules: [{name: a, frontend: {method: StartWorkflow}, status: Unavailable}]", `frontend.method "StartWorkflow" is not a WorkflowService method`},
		{"both targets", "rules: [{name: a, frontend: {method: '*'}, persistence: {store: '*', method: '*'}, error: Timeout}]", "exactly one of"},
		{"does nothing", "rules: [{name: a, frontend: {method: '*'}}]", "does nothing"},
		{"same name", "rules: [{name: a, frontend: {method: '*'}, status: Unavailable}, {name: a, frontend: {method: '*'}, latency: 1ms}]", "the name is used twice"},
		{"bad latency", "rules: [{name: a, frontend: {method: '*'}, latency: 300ms-100ms}]", `latency "300ms-100ms"`},
		{"unknown key", "rules: [{name: a, frontend: {method: '*'}, latncy: 1s}]", "is not a faults file: line 1: field latncy not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("faults file f.yaml", []byte(tc.yaml), testCatalog)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "faults file f.yaml: ") {
				t.Errorf("got %v\nwant one naming %q", err, tc.want)
			}
			if err != nil && strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("want one line, got:\n%s", err)
			}
		})
	}
}

// TestDraws: the same seed gives the same faults for the same calls; a
// count rule hits the next N calls; a namespace scope holds.
func TestDraws(t *testing.T) {
	const rules = `
seed: 7
rules:
  - {name: flaky, persistence: {store: ExecutionStore, method: '*'}, error: Timeout, rate: 0.3}
  - {name: twice, frontend: {method: StartWorkflowExecution}, status: ResourceExhausted, count: 2, namespace: blocked}
`
	draw := func() string {
		f, err := ParseFile("f", []byte(rules), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSet(1, nil)
		s.SetFile(f)
		var b strings.Builder
		for range 200 {
			if _, kind, _ := s.Persistence("ExecutionStore", "UpdateWorkflowExecution", "ns-id", false, 1); kind != "" {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b := draw(), draw()
	if a != b {
		t.Errorf("the same seed drew differently:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "x"); n < 30 || n > 90 {
		t.Errorf("rate 0.3 hit %d of 200 calls", n)
	}

	f, _ := ParseFile("f", []byte(rules), testCatalog)
	s := NewSet(1, nil)
	s.SetFile(f)
	if _, err := s.Frontend("StartWorkflowExecution", "other"); err != nil {
		t.Errorf("another namespace's start failed: %v", err)
	}
	for i := range 3 {
		_, err := s.Frontend("StartWorkflowExecution", "blocked")
		if want := i < 2; (status.Code(err) == codes.ResourceExhausted) != want {
			t.Errorf("start %d in blocked: %v, want refused %v", i+1, err, want)
		}
	}
	// The same file again keeps the count's state; the rules' hits show.
	s.SetFile(f)
	if _, err := s.Frontend("StartWorkflowExecution", "blocked"); err != nil {
		t.Errorf("a reload of the same rules gave the count back: %v", err)
	}
	for _, a := range s.Active() {
		if a.Name == "twice" && a.Hits != 2 {
			t.Errorf("rule twice: %d hits, want 2", a.Hits)
		}
	}
}

// TestInterceptor: a frontend rule answers a WorkflowService call with its
// status for its namespace only; code's rules come and go.
func TestInterceptor(t *testing.T) {
	s := NewSet(1, nil)
	remove := s.Add([]Rule{{Name: "shed", Frontend: &FrontendAt{Method: "StartWorkflowExecution"}, Status: "Unavailable", Namespace: "a"}})
	icpt := s.Interceptor()
	call := func(ns string) error {
		info := &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"}
		_, err := icpt(context.Background(), nsReq(ns), info, func(context.Context, any) (any, error) { return "ok", nil })
		return err
	}
	if err := call("a"); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `rule "shed"`) {
		t.Errorf("namespace a: %v, want Unavailable naming the rule", err)
	}
	if err := call("b"); err != nil {
		t.Errorf("namespace b: %v", err)
	}
	// A rule without a namespace spares the server's own.
	all := s.Add([]Rule{{Name: "all", Frontend: &FrontendAt{Method: "*"}, Status: "Unavailable"}})
	if err := call(SystemNamespace); err != nil {
		t.Errorf("the system namespace under a rule without a namespace: %v", err)
	}
	if err := call("c"); status.Code(err) != codes.Unavailable {
		t.Errorf("namespace c under rule all: %v", err)
	}
	all()
	remove()
	if err := call("a"); err != nil {
		t.Errorf("after remove: %v", err)
	}
}

type nsReq string

func (r nsReq) GetNamespace() string { return string(r) }
