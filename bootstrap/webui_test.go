package bootstrap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebUI starts a cluster with the UI, starts a workflow through the
// frontend's HTTP API with net/http, sees it with the SDK, finds it through
// the UI's API, and, where Chromium is installed, in the rendered workflow
// list (a screenshot is kept in the test's output directory).
func TestWebUI(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.UI.Enabled = true
	c := startCluster(t, cfg)
	if c.UIURL() == "" {
		t.Fatal("no UI URL")
	}
	if code, body := httpGet(t, c.UIURL()+"/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("UI / = %d, not an HTML page", code)
	}

	// Start a workflow through the HTTP API.
	id := fmt.Sprintf("ui-%d", time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{
		"workflowId":   id,
		"workflowType": map[string]string{"name": "WaitForSignal"},
		"taskQueue":    map[string]string{"name": "ui"},
	})
	resp, err := http.Post("http://"+c.HTTPAddr()+"/api/v1/namespaces/default/workflows/"+id, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(out), "runId") {
		t.Fatalf("HTTP API start: %d %s", resp.StatusCode, out)
	}
	cl := dial(t, c, "default")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || desc.WorkflowExecutionInfo.Type.Name != "WaitForSignal" {
		t.Fatalf("the SDK does not see the workflow started over HTTP: %v", err)
	}
	runWorker(t, cl, "ui")
	t.Cleanup(func() { _ = cl.TerminateWorkflow(context.Background(), id, "", "test over") })

	// The UI's own API lists it.
	waitFor(t, 10*time.Second, "the UI lists the workflow", func() error {
		code, body := httpGet(t, c.UIURL()+"/api/v1/namespaces/default/workflows")
		if code != 200 || !strings.Contains(body, id) {
			return fmt.Errorf("UI workflows API: %d, workflow not listed", code)
		}
		return nil
	})

	renderShows(t, ctx, c.UIURL()+"/namespaces/default/workflows", id, "webui-workflows.png")
}

// renderShows renders page in headless Chromium until it shows text, and
// keeps a screenshot. Without Chromium it skips, unless
// DCTEST_REQUIRE_BROWSER is set (CI installs it).
func renderShows(t *testing.T, ctx context.Context, page, text, shotName string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("DCTEST_REQUIRE_BROWSER") != "" {
			t.Fatal("DCTEST_REQUIRE_BROWSER is set but chromium is not installed (make browser)")
		}
		t.Skip("chromium not installed; the browser check runs in CI (.ci/run installs it)")
	}
	shot := filepath.Join(t.TempDir(), shotName)
	if dir := os.Getenv("DCTEST_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, shotName)
	}
	waitFor(t, 60*time.Second, "the rendered page shows "+text, func() error {
		dom, err := exec.CommandContext(ctx, chromium, headlessFlags("--dump-dom", page)...).Output()
		if err != nil {
			return fmt.Errorf("chromium: %v", err)
		}
		if !strings.Contains(string(dom), text) {
			return fmt.Errorf("%s not in the rendered page (%d bytes)", text, len(dom))
		}
		return nil
	})
	if out, err := exec.CommandContext(ctx, chromium, headlessFlags("--screenshot="+shot, "--window-size=1400,900", page)...).CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// TestWebUIWithMTLS: the UI reaches an mTLS frontend with the client
// certificate and shows a workflow.
func TestWebUIWithMTLS(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.UI.Enabled = true
	cfg.TLS.Enabled = true
	c := startCluster(t, cfg)
	cl := dial(t, c, "default")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("ui-tls-%d", time.Now().UnixNano()), TaskQueue: "ui-tls"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") })
	waitFor(t, 10*time.Second, "the UI lists the workflow over mTLS", func() error {
		code, body := httpGet(t, c.UIURL()+"/api/v1/namespaces/default/workflows")
		if code != 200 || !strings.Contains(body, run.GetID()) {
			return fmt.Errorf("UI workflows API: %d, workflow not listed", code)
		}
		return nil
	})
	renderShows(t, ctx, c.UIURL()+"/namespaces/default/workflows", run.GetID(), "webui-workflows-mtls.png")
}

// headlessFlags keep Chromium offline and quiet; the virtual time budget
// lets the single-page app fetch and render before the DOM is read.
func headlessFlags(extra ...string) []string {
	return append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--virtual-time-budget=15000",
	}, extra...)
}
