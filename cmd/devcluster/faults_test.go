package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/testutil"
)

// TestFaultsFile: `start --faults F` obeys the rules of F while it runs: a
// frontend rule refuses starts in one namespace (counted in /metrics); a
// bad edit keeps the last good rules and says why on stderr; removing the
// rule lets the next start through. A bad file at start exits 2 naming
// the rule.
func TestFaultsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rules := filepath.Join(dir, "faults.yaml")
	write := func(body string) {
		t.Helper()
		tmp := rules + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rules); err != nil {
			t.Fatal(err)
		}
	}
	write("seed: 42\nrules:\n  - {name: shed, frontend: {method: StartWorkflowExecution}, status: ResourceExhausted, namespace: default}\n" +
		"  - {name: elsewhere, persistence: {store: ExecutionStore, method: '*'}, error: Timeout, namespace: nosuch}\n")
	metricsPort := freePort(t)
	p := startProc(t, "start", "--port", "0", "--http-port", "0", "--headless", "--faults", rules, "--metrics-port", fmt.Sprint(metricsPort))
	addr := p.waitBanner(t, 60*time.Second)
	if out := p.stdout.String(); !strings.Contains(out, "Faults") || !strings.Contains(out, "2 rules in force, seed 42 ("+rules) {
		t.Errorf("banner lacks the faults line:\n%s", out)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	n := 0
	start := func() error {
		n++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := wf.StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{Namespace: "default",
			WorkflowId: fmt.Sprintf("wf-%d", n), RequestId: fmt.Sprintf("req-%d", n), WorkflowType: &commonpb.WorkflowType{Name: "W"},
			TaskQueue: &taskqueuepb.TaskQueue{Name: "q"}})
		return err
	}
	if err := start(); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `rule "shed"`) {
		t.Fatalf("start under rule shed: %v", err)
	}
	// A rule for a namespace that does not exist is kept, with a warning.
	testutil.WaitFor(t, 10*time.Second, "the missing namespace named", func() error {
		if !strings.Contains(p.stderr.String(), "fault rules name a namespace that does not exist (yet)") || !strings.Contains(p.stderr.String(), "nosuch") {
			return fmt.Errorf("stderr:\n%s", p.stderr.String())
		}
		return nil
	})
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `devcluster_faults_injected_total{rule="shed"} 1`) {
		t.Errorf("/metrics does not count the fault:\n%s", grepLines(string(body), "devcluster_faults"))
	}

	code, shown, errOut := runBinary(t, "faults", "show", "--metrics", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	if code != 0 || !strings.Contains(shown, "shed: frontend StartWorkflowExecution in default -> ResourceExhausted") || !strings.Contains(shown, "file  1") {
		t.Errorf("faults show: exit %d\n%s%s", code, shown, errOut)
	}

	write("rules:\n  - {name: shed, frontend: {method: StartWorkflowExecution}, status: Exhausted}\n")
	testutil.WaitFor(t, 10*time.Second, "the bad edit reported", func() error {
		if !strings.Contains(p.stderr.String(), "faults file rejected; the last good rules stay in force") {
			return fmt.Errorf("stderr:\n%s", p.stderr.String())
		}
		return nil
	})
	if err := start(); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("after a bad edit the start got %v; want the last good rule still refusing it", err)
	}
	write("rules: []\n")
	testutil.WaitFor(t, 10*time.Second, "a start once the rule is gone", start)

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - {name: flaky, persistence: {store: ExecutionStore, method: '*'}, error: Timeot}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runBinary(t, "faults", "check", bad)
	if code != exitUsage || !strings.Contains(stderr, `rule "flaky": error "Timeot" is not a persistence error kind`) {
		t.Errorf("faults check of a bad file: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runBinary(t, "start", "--port", "0", "--http-port", "0", "--headless", "--faults", bad)
	if code != exitUsage || !strings.Contains(stderr, `rule "flaky": error "Timeot" is not a persistence error kind`) || !strings.Contains(stderr, bad) {
		t.Errorf("a bad faults file at start: exit %d, stderr:\n%s", code, stderr)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
