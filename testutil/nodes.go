package testutil

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/nodes"
	"github.com/devcluster/devcluster/profiles"
)

// BinaryEnv names a devcluster executable for NewNodes to run (see
// WithBinary); without it NewNodes builds one.
const BinaryEnv = "DEVCLUSTER_BIN"

// WithBinary runs the nodes of NewNodes with the devcluster executable at
// path, instead of one built with `go build` (which needs the go command
// and takes a minute the first time).
func WithBinary(path string) Option {
	return func(o *options) { o.binary = path }
}

// Nodes is one cluster of several devcluster processes on PostgreSQL,
// joined by ringpop, owned by one test: what `devcluster start --nodes`
// runs. Its Supervisor's Nodes can be killed, stopped and started again
// (on the same ports) by the test; nothing restarts them by itself.
type Nodes struct {
	*nodes.Supervisor
	t         testing.TB
	namespace string
	logs      *syncbuf.Buffer

	dial dialOnce
	// With TLS (and auth): what every client presents, loaded once the
	// nodes are ready; see ClientOptions.
	cfg       profiles.Config
	clientTLS *tls.Config
	token     string
}

// NewNodes starts a cluster of several processes for t, as spec says ("3"
// full nodes, or role sets such as "frontend+worker,history,matching"),
// and stops it when t ends. It needs PostgreSQL: WithPostgres, or
// PostgresEnv. The nodes' output is printed through t.Log when the test
// fails, or with -v.
func NewNodes(t testing.TB, spec string, opts ...Option) *Nodes {
	t.Helper()
	specs, _, err := nodes.ParseSpec(spec)
	if err != nil {
		t.Fatalf("testutil.NewNodes: spec: %v", err)
	}
	o := apply(opts)
	cfg, err := o.config()
	if err != nil {
		t.Fatalf("testutil: config: %v", err)
	}
	if !cfg.Persistence.Postgres() {
		t.Fatalf("testutil.NewNodes: the nodes share one database, which must be PostgreSQL: pass WithPostgres(URL) or set %s", PostgresEnv)
	}
	cfg.Membership.Mode, cfg.Services.Run = profiles.MembershipRingpop, nil
	dir := t.TempDir()
	nodes.SharedCertDir(&cfg, dir)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testutil: config of the nodes: %v", err)
	}
	bin := o.binary
	if bin == "" {
		bin = os.Getenv(BinaryEnv)
	}
	if bin == "" {
		if bin, err = buildBinary(); err != nil {
			t.Fatalf("testutil.NewNodes: %v; or give one with WithBinary or %s", err, BinaryEnv)
		}
	}
	t.Cleanup(func() {
		// Last: after the nodes have stopped.
		if err := o.dropPostgres(cfg); err != nil {
			t.Errorf("testutil: drop the test's databases: %v", err)
		}
	})
	s, err := nodes.Plan(cfg, specs, nodes.PlanOptions{Exe: bin, Dir: dir})
	if err != nil {
		t.Fatalf("testutil: plan the nodes: %v", err)
	}
	n := &Nodes{Supervisor: s, t: t, namespace: o.namespaceName(), logs: &syncbuf.Buffer{Limit: 4 << 20}}
	s.Stdout, s.Stderr = n.logs, n.logs
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("nodes' output:\n%s", strings.TrimSpace(n.logs.String()))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Startup.Timeout)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("testutil: start the nodes: %v", err)
	}
	n.cfg = cfg
	if err := n.loadClientTLS(); err != nil {
		t.Fatalf("testutil: the nodes' client TLS: %v", err)
	}
	t.Cleanup(func() {
		n.dial.close()
		if failed := s.Stop(); len(failed) > 0 {
			t.Errorf("testutil: stop the nodes: %s", strings.Join(failed, "; "))
		}
	})
	return n
}

// Node returns the node named name ("node1", ...).
func (n *Nodes) Node(name string) *nodes.Node {
	for _, nd := range n.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	n.t.Fatalf("testutil: no node %q", name)
	return nil
}

// Address returns the gRPC address of the first node's frontend, the
// cluster's address.
func (n *Nodes) Address() string { return n.First().Ports().Frontend }

// Namespace returns the namespace Client and NewWorker use.
func (n *Nodes) Namespace() string { return n.namespace }

// ClientOptions returns SDK options for the cluster's address and
// namespace, with the SDK's logs routed to the test, and on a TLS
// cluster the client certificate (and with auth an admin token).
func (n *Nodes) ClientOptions() client.Options {
	return n.ClientOptionsFor(n.Address())
}

// ClientOptionsFor is ClientOptions for another frontend node's address.
func (n *Nodes) ClientOptionsFor(addr string) client.Options {
	o := client.Options{HostPort: addr, Namespace: n.namespace,
		Logger: sdklog.NewStructuredLogger(testLogger(n.t).With("component", "sdk"))}
	if n.clientTLS != nil {
		o.ConnectionOptions.TLS = n.clientTLS.Clone()
	}
	if n.token != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(n.token)
	}
	return o
}

// CertDir is the directory of the nodes' shared CA and signing key ("" without TLS).
func (n *Nodes) CertDir() string { return n.cfg.TLS.CertDir }

// MintToken signs a token the nodes accept, e.g. for a namespace role
// (auth.Grant{Namespace: "default", Role: "read"}).
func (n *Nodes) MintToken(g auth.Grant) string {
	n.t.Helper()
	key, err := auth.LoadKey(n.CertDir()) // the nodes keep the signing key with their CA
	if err != nil {
		n.t.Fatalf("testutil: the nodes' signing key: %v", err)
	}
	if g.ClaimName == "" {
		g.ClaimName = n.cfg.Auth.PermissionsClaim
	}
	if g.Audience == "" {
		g.Audience = n.cfg.Auth.Audience
	}
	tok, err := key.Mint(g, time.Now())
	if err != nil {
		n.t.Fatalf("testutil: mint a token: %v", err)
	}
	return tok
}

// loadClientTLS reads the client files the first node's ports file
// names, and mints an admin token when the cluster takes tokens.
func (n *Nodes) loadClientTLS() error {
	f := n.First().Ports().TLS
	if f == nil {
		return nil
	}
	t := profiles.TLS{Enabled: true, ServerName: f.ServerName, Client: profiles.TLSFiles{CertFile: f.ClientCert, KeyFile: f.ClientKey, CAFile: f.CA}}
	c, err := t.ClientConfig()
	if err != nil {
		return err
	}
	n.clientTLS = c
	if f.Auth {
		n.token = n.MintToken(auth.Grant{Subject: "testutil-admin", SystemAdmin: true})
	}
	return nil
}

// Client returns an SDK client for the cluster's namespace, dialled once
// and closed when the test ends.
func (n *Nodes) Client() client.Client {
	n.t.Helper()
	return n.dial.client(n.t, n.ClientOptions)
}

// NewWorker starts a worker on taskQueue with what register registers; it
// is stopped when the test ends, before the nodes.
func (n *Nodes) NewWorker(taskQueue string, register func(worker.Registry), opts ...worker.Options) worker.Worker {
	n.t.Helper()
	return newWorker(n.t, n.Client(), taskQueue, register, opts)
}

var built struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds cmd/devcluster once per test binary, into a
// directory removed by Main (or left in TMPDIR without it).
func buildBinary() (string, error) {
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "devcluster-testutil-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "devcluster")
		cmd := exec.Command("go", "build", "-o", built.path, "github.com/devcluster/devcluster/cmd/devcluster")
		// With the toolchain this test binary was built with.
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+runtime.Version())
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build github.com/devcluster/devcluster/cmd/devcluster: %v\n%s", err, out)
		}
	})
	return built.path, built.err
}
