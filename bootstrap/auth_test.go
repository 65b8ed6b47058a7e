package bootstrap_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/testutil"
)

func authConfig() profiles.Config {
	cfg := testConfig()
	cfg.TLS.Enabled = true
	cfg.Auth.Enabled = true
	cfg.Auth.Audience = "devcluster-test"
	cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{Name: "team-a"}, profiles.Namespace{Name: "team-b"})
	return cfg
}

// dialToken dials namespace with token as the API key ("" for none).
func dialToken(t *testing.T, c *bootstrap.Cluster, namespace, token string) client.Client {
	t.Helper()
	opts := c.ClientOptions(namespace)
	opts.Credentials, opts.HeadersProvider = nil, nil
	if token != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(token)
	}
	cl, err := client.NewLazyClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func mint(t *testing.T, c *bootstrap.Cluster, g auth.Grant) string {
	t.Helper()
	tok, err := c.MintToken(g)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func denied(err error) bool {
	var pd *serviceerror.PermissionDenied
	return errors.As(err, &pd) || status.Code(err) == codes.Unauthenticated
}

func describe(cl client.Client, ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	return err
}

func start(cl client.Client, tq string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tq}, WaitForSignal)
	if err == nil {
		_ = run // left running; the cluster goes at cleanup
	}
	return err
}

func TestAuth(t *testing.T) {
	t.Parallel()
	c := startCluster(t, authConfig())
	if c.AdminToken() == "" {
		t.Fatal("no admin token")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("no token is refused", func(t *testing.T) {
		if err := describe(dialToken(t, c, "team-a", ""), "team-a"); !denied(err) {
			t.Fatalf("DescribeNamespace without a token: %v; want PermissionDenied", err)
		}
	})
	t.Run("read can describe and list but not start", func(t *testing.T) {
		cl := dialToken(t, c, "team-a", mint(t, c, auth.Grant{Namespace: "team-a", Role: "read"}))
		if err := describe(cl, "team-a"); err != nil {
			t.Fatalf("describe: %v", err)
		}
		if _, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "team-a"}); err != nil {
			t.Fatalf("list: %v", err)
		}
		if err := start(cl, "a"); !denied(err) {
			t.Fatalf("start with a read token: %v; want PermissionDenied", err)
		}
	})
	t.Run("write on A cannot touch B", func(t *testing.T) {
		tok := mint(t, c, auth.Grant{Namespace: "team-a", Role: "write"})
		if err := start(dialToken(t, c, "team-a", tok), "a"); err != nil {
			t.Fatalf("start in team-a: %v", err)
		}
		if err := start(dialToken(t, c, "team-b", tok), "b"); !denied(err) {
			t.Fatalf("start in team-b with a team-a token: %v; want PermissionDenied", err)
		}
	})
	t.Run("worker can poll", func(t *testing.T) {
		// A worker holding only a worker token runs a workflow a writer
		// started; the worker token itself cannot start one.
		workerCl := dialToken(t, c, "team-a", mint(t, c, auth.Grant{Namespace: "team-a", Role: "worker"}))
		runWorker(t, workerCl, "work")
		writer := dialToken(t, c, "team-a", mint(t, c, auth.Grant{Namespace: "team-a", Role: "write"}))
		run, err := writer.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "work"}, WaitForSignal)
		if err != nil {
			t.Fatal(err)
		}
		if err := writer.SignalWorkflow(ctx, run.GetID(), "", signalGo, "polled"); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := run.Get(ctx, &got); err != nil || !strings.Contains(got, "polled") {
			t.Fatalf("workflow run by the worker-token worker: %q, %v", got, err)
		}
		if err := start(workerCl, "work"); !denied(err) {
			t.Fatalf("start with a worker token: %v; want PermissionDenied", err)
		}
	})
	t.Run("system admin can register a namespace", func(t *testing.T) {
		cl := dialToken(t, c, "team-a", mint(t, c, auth.Grant{SystemAdmin: true}))
		_, err := cl.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: "made-by-admin", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
		if err != nil {
			t.Fatalf("register with an admin token: %v", err)
		}
		reader := dialToken(t, c, "team-a", mint(t, c, auth.Grant{Namespace: "team-a", Role: "admin"}))
		_, err = reader.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: "made-by-ns-admin", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
		if !denied(err) {
			t.Fatalf("register with a namespace admin token: %v; want PermissionDenied (a cluster API)", err)
		}
	})
	t.Run("bad tokens are refused", func(t *testing.T) {
		other, err := auth.EnsureKey(filepath.Join(t.TempDir(), "other"))
		if err != nil {
			t.Fatal(err)
		}
		g := auth.Grant{Namespace: "team-a", Role: "admin", Audience: "devcluster-test"}
		wrongKey, _ := other.Mint(g, time.Now())
		// Minted with a clock two hours back: expired an hour ago.
		expired := mintAt(t, c, g, time.Now().Add(-2*time.Hour))
		noAud := mint(t, c, auth.Grant{Namespace: "team-a", Role: "admin", Audience: "someone-else"})
		for name, tok := range map[string]string{
			"malformed": "not.a.jwt", "wrong key": wrongKey, "expired": expired, "wrong audience": noAud,
		} {
			if err := describe(dialToken(t, c, "team-a", tok), "team-a"); !denied(err) {
				t.Errorf("%s token: %v; want PermissionDenied or Unauthenticated", name, err)
			}
		}
	})
	t.Run("system workers still work", func(t *testing.T) {
		// Schedules run in the server's system worker, which calls the
		// frontend with its own certificate.
		admin := dialToken(t, c, "default", c.AdminToken())
		runWorker(t, admin, "sched")
		h, err := admin.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:                 "every-second",
			Spec:               client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Second}}},
			Action:             &client.ScheduleWorkflowAction{Workflow: WaitForSignal, TaskQueue: "sched"},
			TriggerImmediately: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 20*time.Second, "the schedule starts a workflow", func() error {
			d, err := h.Describe(ctx)
			if err != nil {
				return err
			}
			if d.Info.NumActions < 1 {
				return fmt.Errorf("no action yet")
			}
			return nil
		})
	})
}

func mintAt(t *testing.T, c *bootstrap.Cluster, g auth.Grant, at time.Time) string {
	t.Helper()
	key, err := auth.LoadKey(c.Config().Auth.KeyDir)
	if err != nil {
		t.Fatal(err)
	}
	g.TTL = time.Hour
	tok, err := key.Mint(g, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// countingAuthorizer allows everything but DescribeNamespace of "forbidden".
type countingAuthorizer struct{ calls atomic.Int64 }

func (a *countingAuthorizer) Authorize(_ context.Context, _ *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	a.calls.Add(1)
	if target.Namespace == "forbidden" && strings.HasSuffix(target.APIName, "DescribeNamespace") {
		return authorization.Result{Decision: authorization.DecisionDeny, Reason: "forbidden by the test"}, nil
	}
	return authorization.Result{Decision: authorization.DecisionAllow}, nil
}

// TestAuthHeaderName: with auth.header-name set, the server reads tokens
// from that header only. The cluster's own callers (the readiness probe
// that gates start, the Web UI) and ClientOptions use it; a client sending
// the token as an API key ("authorization") is refused.
func TestAuthHeaderName(t *testing.T) {
	t.Parallel()
	cfg := authConfig()
	cfg.Auth.HeaderName = "X-Devcluster-Token"
	cfg.UI.Enabled = true
	c := startCluster(t, cfg) // ready means the probe was authorised
	cl, err := client.NewLazyClient(c.ClientOptions("team-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := describe(cl, "team-a"); err != nil {
		t.Fatalf("DescribeNamespace with ClientOptions: %v", err)
	}
	if err := describe(dialToken(t, c, "team-a", c.AdminToken()), "team-a"); !denied(err) {
		t.Fatalf("DescribeNamespace with the token in \"authorization\": %v; want PermissionDenied", err)
	}
	// The Web UI sends the caller's token on in that header, whether it
	// came in an Authorization header or in the sign-in cookie.
	list := "https://" + c.UIAddr() + "/api/v1/namespaces/team-a/workflows"
	cl2, jar := uiClient(t, c)
	if resp, body := uiCall(t, cl2, jar, "GET", list, mint(t, c, auth.Grant{Namespace: "team-a", Role: "read"}), false); resp.StatusCode != 200 {
		t.Fatalf("UI list with a read token in a header: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := uiCall(t, cl2, jar, "GET", c.UIURL(), "", false); resp.StatusCode != 303 {
		t.Fatalf("UI sign-in: %d; want 303", resp.StatusCode)
	}
	if resp, body := uiCall(t, cl2, jar, "GET", list, "", false); resp.StatusCode != 200 {
		t.Fatalf("UI list signed in: %d %.300s", resp.StatusCode, body)
	}
}

func TestCustomAuthorizer(t *testing.T) {
	t.Parallel()
	a := &countingAuthorizer{}
	cfg := testConfig()
	cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{Name: "forbidden"})
	cfg.Startup.Timeout = 3 * time.Second // this start is meant to fail
	c, err := bootstrap.Start(context.Background(), cfg, bootstrap.WithLogger(testLogger(t)), bootstrap.WithAuthorizer(a))
	if err == nil {
		t.Cleanup(func() { stopCluster(t, c) })
		t.Fatal("a cluster whose authorizer denies describing a configured namespace should not become ready")
	}
	if a.calls.Load() == 0 {
		t.Fatal("the custom authorizer was never invoked")
	}
	// Without the denied namespace the cluster starts, and calls go
	// through the authorizer.
	cfg.Namespaces = cfg.Namespaces[:1]
	cfg.Startup.Timeout = time.Minute
	c = startClusterWith(t, cfg, bootstrap.WithAuthorizer(a))
	before := a.calls.Load()
	cl := dial(t, c, "default")
	if err := describe(cl, "default"); err != nil {
		t.Fatal(err)
	}
	if err := describe(cl, "forbidden"); !denied(err) {
		t.Fatalf("describe forbidden: %v; want PermissionDenied from the custom authorizer", err)
	}
	if a.calls.Load() <= before {
		t.Fatal("calls did not reach the custom authorizer")
	}
}

// tokenRoleMapper is a custom ClaimMapper: the bearer token "reader" may
// read the default namespace, any other token gets no role, and calls
// without a token (the cluster's own) are system admin.
type tokenRoleMapper struct{}

func (tokenRoleMapper) GetClaims(info *authorization.AuthInfo) (*authorization.Claims, error) {
	switch strings.TrimPrefix(info.AuthToken, "Bearer ") {
	case "":
		return &authorization.Claims{System: authorization.RoleAdmin}, nil
	case "reader":
		return &authorization.Claims{Subject: "reader", Namespaces: map[string]authorization.Role{"default": authorization.RoleReader}}, nil
	}
	return &authorization.Claims{Subject: "nobody"}, nil
}

// AuthInfoRequired lets calls without a token or certificate reach the mapper.
func (tokenRoleMapper) AuthInfoRequired() bool { return false }

type bearerHeader string

func (b bearerHeader) GetHeaders(context.Context) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// TestCustomClaimMapper installs a ClaimMapper of one's own with the
// server's default authorizer, through the Go API.
func TestCustomClaimMapper(t *testing.T) {
	t.Parallel()
	c := startClusterWith(t, testConfig(), bootstrap.WithClaimMapper(tokenRoleMapper{}),
		bootstrap.WithAuthorizer(authorization.NewDefaultAuthorizer()))
	as := func(token string) client.Client {
		opts := c.ClientOptions("default")
		opts.HeadersProvider = bearerHeader(token)
		cl, err := client.NewLazyClient(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	reader := as("reader")
	if err := describe(reader, "default"); err != nil {
		t.Fatalf("describe as reader: %v", err)
	}
	if err := start(reader, "q"); !denied(err) {
		t.Fatalf("start as reader: %v; want PermissionDenied", err)
	}
	if err := describe(as("stranger"), "default"); !denied(err) {
		t.Fatalf("describe with an unknown token: %v; want PermissionDenied", err)
	}
}
