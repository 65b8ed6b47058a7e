package bootstrap_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/testutil"
	"github.com/devcluster/devcluster/webui"
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
	if code, body := httpGet(t, c.UIURL()+"/api/v1/settings"); code != 200 || !strings.Contains(body, `"Auth":{"Enabled":false`) {
		t.Fatalf("UI settings without auth: %d %.300s; want Auth.Enabled false", code, body)
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
	testutil.WaitFor(t, 10*time.Second, "the UI lists the workflow", func() error {
		code, body := httpGet(t, c.UIURL()+"/api/v1/namespaces/default/workflows")
		if code != 200 || !strings.Contains(body, id) {
			return fmt.Errorf("UI workflows API: %d, workflow not listed", code)
		}
		return nil
	})

	renderShows(t, ctx, c.UIURL()+"/namespaces/default/workflows", id, "webui-workflows.png")
}

// renderShows renders page in headless Chromium (with flags besides
// headlessFlags) until it shows text, keeps a screenshot and returns the
// rendered DOM. Each Chromium run has a new, empty profile, so a page that
// needs a cookie must set it in that run (a sign-in URL's redirect does),
// and one run's cookies never reach the next. Without Chromium it skips,
// unless DCTEST_REQUIRE_BROWSER is set (CI installs it).
func renderShows(t *testing.T, ctx context.Context, page, text, shotName string, flags ...string) string {
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
	profiles := t.TempDir()
	browser := func(args ...string) *exec.Cmd {
		profile, err := os.MkdirTemp(profiles, "profile")
		if err != nil {
			t.Fatal(err)
		}
		args = append(append([]string{"--user-data-dir=" + profile}, flags...), args...)
		return exec.CommandContext(ctx, chromium, headlessFlags(args...)...)
	}
	var dom string
	testutil.WaitFor(t, 60*time.Second, "the rendered page shows "+text, func() error {
		out, err := browser("--dump-dom", page).Output()
		if err != nil {
			return fmt.Errorf("chromium: %v", err)
		}
		if dom = string(out); !strings.Contains(dom, text) {
			return fmt.Errorf("%s not in the rendered page (%d bytes)", text, len(dom))
		}
		return nil
	})
	if out, err := browser("--screenshot="+shot, "--window-size=1400,900", page).CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
	return dom
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
	testutil.WaitFor(t, 10*time.Second, "the UI lists the workflow over mTLS", func() error {
		code, body := httpGet(t, c.UIURL()+"/api/v1/namespaces/default/workflows")
		if code != 200 || !strings.Contains(body, run.GetID()) {
			return fmt.Errorf("UI workflows API: %d, workflow not listed", code)
		}
		return nil
	})
	renderShows(t, ctx, c.UIURL()+"/namespaces/default/workflows", run.GetID(), "webui-workflows-mtls.png")
}

// headlessFlags keep Chromium offline and quiet; the virtual time budget
// lets the single-page app fetch and render before the DOM is read. The
// other flags do not stop Chromium's own calls home (accounts.google.com,
// android.clients.google.com, content-autofill.googleapis.com); the
// resolver rule does: no host resolves but the loopback the UI's URLs name
// (the rule applies to IP addresses too).
func headlessFlags(extra ...string) []string {
	return append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--virtual-time-budget=15000",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
	}, extra...)
}

// uiClient is a browser-like HTTPS client of a UI with auth: it trusts the
// frontend's CA, keeps cookies and does not follow redirects.
func uiClient(t *testing.T, c *bootstrap.Cluster) (*http.Client, http.CookieJar) {
	t.Helper()
	tc := c.TLSConfig()
	if tc == nil {
		t.Fatal("no TLS config")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.RootCAs, ServerName: tc.ServerName, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, jar
}

// uiCall sends method to url with the bearer token (if any) and, for a
// POST, the CSRF token the jar holds (if csrf), and returns the response
// (its body read) and the body.
func uiCall(t *testing.T, cl *http.Client, jar http.CookieJar, method, url, bearer string, csrf bool) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"reason":"from the UI test"}`)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if csrf {
		for _, ck := range jar.Cookies(req.URL) {
			if ck.Name == "_csrf" {
				req.Header.Set("X-CSRF-Token", ck.Value)
			}
		}
		if req.Header.Get("X-CSRF-Token") == "" {
			t.Fatal("no _csrf cookie in the jar: GET / first")
		}
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(b)
}

// TestWebUIAuth: with auth on, the UI serves HTTPS with the frontend's
// certificate, answers nothing without a token, and acts with the token's
// rights only: a read token lists but cannot terminate, the banner's URL
// (an admin token) signs a browser in with a cookie and can terminate. The
// UI used to be plain HTTP and call the frontend with the cluster's admin
// token for anyone: every 401 and 403 below was a 200 then.
func TestWebUIAuth(t *testing.T) {
	t.Parallel()
	cfg := authConfig()
	cfg.UI.Enabled = true
	c := startCluster(t, cfg)
	base := "https://" + c.UIAddr()
	if !strings.HasPrefix(c.UIURL(), base+"/?token=") {
		t.Fatalf("UIURL %q; want %s/?token=...", c.UIURL(), base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := dial(t, c, "default")
	// startWF starts a workflow that waits for a signal (no worker needed:
	// it stays running) and terminates it at cleanup.
	startWF := func(t *testing.T) string {
		t.Helper()
		run, err := admin.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("ui-auth-%d", time.Now().UnixNano()), TaskQueue: "ui-auth"}, WaitForSignal)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") })
		return run.GetID()
	}
	status := func(t *testing.T, id string) enumspb.WorkflowExecutionStatus {
		t.Helper()
		d, err := admin.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		return d.WorkflowExecutionInfo.Status
	}
	list := base + "/api/v1/namespaces/default/workflows"
	terminate := func(id string) string { return base + "/api/v1/namespaces/default/workflows/" + id + "/terminate" }
	// listed polls the UI's list (visibility may lag the start) until it
	// shows id.
	listed := func(t *testing.T, cl *http.Client, jar http.CookieJar, bearer, id string) {
		t.Helper()
		testutil.WaitFor(t, 10*time.Second, "the UI lists "+id, func() error {
			resp, body := uiCall(t, cl, jar, http.MethodGet, list, bearer, false)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, id) {
				return fmt.Errorf("list: %d, %s not in it: %.200s", resp.StatusCode, id, body)
			}
			return nil
		})
	}
	// refusedByFrontend: the frontend's authorizer said no (PermissionDenied
	// is 403 with the gateway's JSON error), not the UI's CSRF check.
	refusedByFrontend := func(t *testing.T, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(strings.ToLower(body), "unauthorized") || strings.Contains(strings.ToLower(body), "csrf") {
			t.Fatalf("terminate with a read token: %d %s; want 403 from the frontend's authorizer", resp.StatusCode, body)
		}
	}
	readToken := mint(t, c, auth.Grant{Namespace: "default", Role: "read"})

	t.Run("no token", func(t *testing.T) {
		id := startWF(t)
		cl, jar := uiClient(t, c)
		for _, r := range []struct{ method, url string }{
			{http.MethodGet, base + "/"},
			{http.MethodGet, list},
			{http.MethodGet, base + "/namespaces/default/workflows"},
			{http.MethodPost, terminate(id)},
		} {
			resp, body := uiCall(t, cl, jar, r.method, r.url, "", false)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "?token=") {
				t.Errorf("%s %s without a token: %d %.200s; want 401 saying how to sign in", r.method, r.url, resp.StatusCode, body)
			}
		}
		if s := status(t, id); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("workflow %s after a terminate without a token; want running", s)
		}
		if resp, _ := uiCall(t, cl, jar, http.MethodGet, base+"/healthz", "", false); resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz: %d; want 200 without a token", resp.StatusCode)
		}
	})

	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + c.UIAddr() + "/api/v1/namespaces/default/workflows")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			// net/http answers a plain request on a TLS port with a 400.
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain HTTP to the UI: %d %.200s; want a TLS-only port", resp.StatusCode, b)
			}
		}
	})

	t.Run("token of another key", func(t *testing.T) {
		other, err := auth.EnsureKey(filepath.Join(t.TempDir(), "other"))
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.Mint(auth.Grant{SystemAdmin: true, Audience: cfg.Auth.Audience}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cl, jar := uiClient(t, c)
		if resp, body := uiCall(t, cl, jar, http.MethodGet, list, forged, false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("list with a token of another key: %d %.200s; want 401", resp.StatusCode, body)
		}
		resp, body := uiCall(t, cl, jar, http.MethodGet, base+"/?token="+forged, "", false)
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("sign in with a token of another key: %d, cookies %v, %.200s; want 401 and no cookie", resp.StatusCode, resp.Cookies(), body)
		}
	})

	t.Run("the UI's client certificate alone has no rights", func(t *testing.T) {
		// The ui-server behind the front calls the frontend with this
		// certificate; without a token it must get nothing.
		_, err := dialToken(t, c, "default", "").ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default"})
		if !denied(err) {
			t.Fatalf("list with the client certificate and no token: %v; want PermissionDenied", err)
		}
	})

	t.Run("read token in a header", func(t *testing.T) {
		id := startWF(t)
		cl, jar := uiClient(t, c)
		listed(t, cl, jar, readToken, id)
		resp, body := uiCall(t, cl, jar, http.MethodPost, terminate(id), readToken, false)
		refusedByFrontend(t, resp, body)
		if s := status(t, id); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("workflow %s after a read token's terminate; want running", s)
		}
	})

	t.Run("read token signs in", func(t *testing.T) {
		id := startWF(t)
		cl, jar := uiClient(t, c)
		if resp, _ := uiCall(t, cl, jar, http.MethodGet, base+"/?token="+readToken, "", false); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in with a read token: %d; want 303", resp.StatusCode)
		}
		if resp, body := uiCall(t, cl, jar, http.MethodGet, base+"/", "", false); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
			t.Fatalf("GET / signed in: %d; want the UI's page", resp.StatusCode)
		}
		listed(t, cl, jar, "", id)
		resp, body := uiCall(t, cl, jar, http.MethodPost, terminate(id), "", true)
		refusedByFrontend(t, resp, body)
		if s := status(t, id); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("workflow %s after a read token's terminate; want running", s)
		}
	})

	t.Run("the banner's URL signs in as admin", func(t *testing.T) {
		id := startWF(t)
		cl, jar := uiClient(t, c)
		resp, _ := uiCall(t, cl, jar, http.MethodGet, c.UIURL(), "", false)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("banner URL: %d to %q; want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		var ck *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == webui.CookieName {
				ck = k
			}
		}
		if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
			t.Fatalf("sign-in cookie %v; want %s, HttpOnly, Secure, SameSite=Strict, Path=/", ck, webui.CookieName)
		}
		if resp, body := uiCall(t, cl, jar, http.MethodGet, base+resp.Header.Get("Location"), "", false); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
			t.Fatalf("GET / signed in: %d; want the UI's page", resp.StatusCode)
		}
		listed(t, cl, jar, "", id)
		// The cookie goes with every request by itself, so a state change
		// needs the CSRF token as well.
		if resp, body := uiCall(t, cl, jar, http.MethodPost, terminate(id), "", false); resp.StatusCode < 400 {
			t.Fatalf("terminate with the cookie and no CSRF token: %d %.200s; want refused", resp.StatusCode, body)
		}
		if resp, body := uiCall(t, cl, jar, http.MethodPost, terminate(id), "", true); resp.StatusCode != http.StatusOK {
			t.Fatalf("terminate signed in as admin: %d %.200s; want 200", resp.StatusCode, body)
		}
		if s := status(t, id); s != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
			t.Fatalf("workflow %s after the admin's terminate; want terminated", s)
		}
	})

	// The UI's settings say auth is on, and its script, which then wants a
	// user with an access token, gets one that only points at the cookie:
	// the real token stays HttpOnly.
	t.Run("settings and the script's session", func(t *testing.T) {
		id := startWF(t)
		cl, jar := uiClient(t, c)
		if resp, _ := uiCall(t, cl, jar, http.MethodGet, c.UIURL(), "", false); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("banner URL: %d; want 303", resp.StatusCode)
		}
		resp, _ := uiCall(t, cl, jar, http.MethodGet, base+"/", "", false)
		var user *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "user0" {
				user = k
			}
		}
		if user == nil || user.HttpOnly || !user.Secure {
			t.Fatalf("GET / signed in set the UI's user cookie %v; want user0, readable by the script, Secure", user)
		}
		raw, err := base64.StdEncoding.DecodeString(user.Value)
		var u struct{ AccessToken string }
		if err != nil || json.Unmarshal(raw, &u) != nil || u.AccessToken == "" || strings.Contains(string(raw), ".") {
			t.Fatalf("user0 holds %q (%v); want JSON with an AccessToken that is not the real token", raw, err)
		}
		for _, who := range []struct{ name, bearer string }{{"cookie", ""}, {"header", readToken}} {
			resp, body := uiCall(t, cl, jar, http.MethodGet, base+"/api/v1/settings", who.bearer, false)
			var st struct{ Auth struct{ Enabled bool } }
			if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || !st.Auth.Enabled {
				t.Errorf("settings signed in by %s: %d %.300s; want Auth.Enabled true", who.name, resp.StatusCode, body)
			}
		}
		// What the script sends: the session token with the cookie.
		listed(t, cl, jar, u.AccessToken, id)
		other, otherJar := uiClient(t, c)
		if resp, body := uiCall(t, other, otherJar, http.MethodGet, list, u.AccessToken, false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the session token without the cookie: %d %.200s; want 401", resp.StatusCode, body)
		}
		// The UI's "log out" ends the sign-in.
		if resp, _ := uiCall(t, cl, jar, http.MethodGet, base+"/auth/logout", "", false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/auth/logout: %d; want 401 saying how to sign in again", resp.StatusCode)
		}
		if resp, _ := uiCall(t, cl, jar, http.MethodGet, list, "", false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("list after /auth/logout: %d; want 401", resp.StatusCode)
		}
	})

	// A browser: the banner's URL signs it in, and the cookie the redirect
	// sets carries the UI's own API calls (the page lists the workflow only
	// if they pass the front); without the token it gets the front's 401,
	// not the UI. The CA is throwaway, so Chromium ignores certificate errors.
	t.Run("in a browser", func(t *testing.T) {
		id := startWF(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		insecure := "--ignore-certificate-errors"
		dom := renderShows(t, ctx, base+"/namespaces/default/workflows", "401 Unauthorized", "webui-auth-no-token.png", insecure)
		if !strings.Contains(dom, "?token=") || strings.Contains(dom, id) || strings.Contains(dom, "<script") {
			t.Fatalf("the UI without a token rendered %.300s; want the front's sign-in text only", dom)
		}
		// Visibility lists it first, so a failure below is the browser's.
		cl, jar := uiClient(t, c)
		listed(t, cl, jar, readToken, id)
		renderShows(t, ctx, c.UIURL(), id, "webui-auth-workflows.png", insecure)
	})
}
