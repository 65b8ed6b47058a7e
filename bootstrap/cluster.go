package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// Cluster is a running devcluster: a ready Temporal server in this process.
// Its methods are safe for concurrent use.
type Cluster struct {
	seq        *sequence
	server     *services.Server
	dynamic    *dynamicconfig.Client
	files      *fileWatch
	faults     *faultRules
	obs        *observer
	ui         *webUI
	certs      *certs.Set
	cleanup    func()
	key        *auth.Key
	adminToken string
	clientTLS  *tls.Config // nil when TLS is off
	sink       *fatalSink
	logger     *slog.Logger

	stopOnce sync.Once
	stopErr  error
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

// watch stops the cluster when the server reports a fatal error.
func (c *Cluster) watch() {
	select {
	case <-c.done:
	case <-c.sink.fired:
		err := c.sink.err
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.logger.Error("cluster stopping after a fatal error", "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), c.server.Config().Shutdown.Timeout)
		defer cancel()
		_ = c.Stop(ctx)
	}
}

// Stop stops the cluster, bounded by ctx and by the config's shutdown
// timeout. The server stops its services in reverse start order: (1) the
// worker service, (2) the frontend (open long polls are cut), (3) history,
// (4) matching. A file database is left consistent; an in-memory one is
// released. Stop is idempotent:
// later calls return the first call's result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.obs.ready(false) // /readyz says 503 from the first stop step on
		ctx, cancel := context.WithTimeout(ctx, c.server.Config().Shutdown.Timeout)
		defer cancel()
		c.stopErr = c.seq.stop(ctx)
		c.cleanup() // a temporary certificate directory
		close(c.done)
	})
	return c.stopErr
}

// Done is closed when the cluster has stopped, by Stop or after a fatal
// error (then Err is not nil).
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err returns the fatal error that stopped the cluster, or nil.
func (c *Cluster) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// FrontendAddr returns the frontend's gRPC address, e.g. "127.0.0.1:7233".
func (c *Cluster) FrontendAddr() string { return c.server.FrontendAddr() }

// ServiceAddr returns the gRPC address of a service ("history", ...).
func (c *Cluster) ServiceAddr(name string) string { return c.server.ServiceAddr(name) }

// HTTPAddr returns the frontend's HTTP API address, or "" when it is off.
func (c *Cluster) HTTPAddr() string { return c.server.HTTPAddr() }

// Config returns the config the cluster runs with, every port resolved.
func (c *Cluster) Config() profiles.Config { return c.server.Config() }

// Namespaces returns the names of the namespaces registered at start.
func (c *Cluster) Namespaces() []string {
	cfg := c.server.Config()
	out := make([]string, len(cfg.Namespaces))
	for i, ns := range cfg.Namespaces {
		out[i] = ns.Name
	}
	return out
}

// ListNamespaces asks the running cluster for every namespace it has (the
// configured ones first, then those a database file holds from earlier
// runs), each with its custom search attributes. It honours ctx.
func (c *Cluster) ListNamespaces(ctx context.Context) ([]services.NamespaceInfo, error) {
	return c.server.ListNamespaces(ctx)
}

// SetTimeSkipping makes the workflows started in namespace from now on skip
// time (on) or not, for a namespace registered while the cluster runs;
// configured namespaces follow time-skipping and namespaces[].time-skipping.
// The server's frontend.WorkflowTimeSkippingEnabled must be on for it.
func (c *Cluster) SetTimeSkipping(namespace string, on bool) { c.server.SetTimeSkipping(namespace, on) }

// TimeSkipping reports whether workflows started in namespace skip time.
func (c *Cluster) TimeSkipping(namespace string) bool { return c.server.TimeSkipping(namespace) }

// DynamicConfig returns the client the server reads dynamic config from;
// its Override changes a value while the cluster runs.
func (c *Cluster) DynamicConfig() *dynamicconfig.Client { return c.dynamic }

// UIURL returns the URL to open the Web UI with, or "" when it is off:
// http://HOST:PORT, or, with auth on, https://HOST:PORT/?token=TOKEN, which
// signs a browser in with an admin token (a secret, like AdminToken).
func (c *Cluster) UIURL() string { return c.ui.URL() }

// UIAddr returns the Web UI's host:port, or "" when it is off. With auth on
// it serves HTTPS with the frontend's certificate and wants a token.
func (c *Cluster) UIAddr() string { return c.ui.Addr() }

// MetricsAddr returns the address serving /metrics, /healthz and /readyz,
// or "" when metrics are off.
func (c *Cluster) MetricsAddr() string {
	if c.obs.m == nil {
		return ""
	}
	return c.obs.m.Addr()
}

// DynamicConfigFile returns the state of the watched dynamic-config file;
// false when the cluster has none.
func (c *Cluster) DynamicConfigFile() (dynamicconfig.Status, bool) { return c.files.Status() }

// TLSConfig returns a client TLS config for the frontend (client
// certificate, the frontend's CA, the expected server name), or nil when
// the frontend is plaintext. It was loaded at Start, which fails when the
// client files cannot be read; each call returns a copy of its own.
func (c *Cluster) TLSConfig() *tls.Config {
	if c.clientTLS == nil {
		return nil
	}
	return c.clientTLS.Clone()
}

// AdminToken returns a system-admin token (the one ClientOptions carries),
// or "" when auth is off.
func (c *Cluster) AdminToken() string { return c.adminToken }

// MintToken signs a token the cluster accepts, e.g. for a namespace role:
// Grant{Namespace: "default", Role: "read"}. It fails when auth is off.
func (c *Cluster) MintToken(g auth.Grant) (string, error) {
	if c.key == nil {
		return "", errors.New("auth is off: start the cluster with auth.enabled")
	}
	cfg := c.server.Config().Auth
	if g.ClaimName == "" {
		g.ClaimName = cfg.PermissionsClaim
	}
	if g.Audience == "" {
		g.Audience = cfg.Audience
	}
	return c.key.Mint(g, time.Now())
}

// TLS returns the resolved certificate files (every section named), and
// whether TLS is on.
func (c *Cluster) TLS() (profiles.TLS, bool) {
	t := c.server.Config().TLS
	return t, t.Enabled
}

// ClientOptions returns SDK client options that reach this cluster's
// frontend in namespace (the first configured namespace when empty).
func (c *Cluster) ClientOptions(namespace string) client.Options {
	if namespace == "" {
		namespace = c.Namespaces()[0]
	}
	opts := client.Options{HostPort: c.FrontendAddr(), Namespace: namespace}
	if t := c.TLSConfig(); t != nil {
		opts.ConnectionOptions.TLS = t
	}
	if c.adminToken != "" {
		if h := clientconn.Header(c.server.Config().Auth.HeaderName); h == "authorization" {
			opts.Credentials = client.NewAPIKeyStaticCredentials(c.adminToken)
		} else {
			// The SDK's API-key credentials always use "authorization".
			opts.HeadersProvider = staticHeaders{h: "Bearer " + c.adminToken}
		}
	}
	return opts
}

// staticHeaders is an SDK HeadersProvider that sends the same headers on
// every call.
type staticHeaders map[string]string

// GetHeaders implements client.HeadersProvider.
func (h staticHeaders) GetHeaders(context.Context) (map[string]string, error) { return h, nil }

// MembershipAddr returns the ringpop address of the named role of this
// process ("" when it does not run it, or with static membership).
func (c *Cluster) MembershipAddr(name string) string { return c.server.MembershipAddr(name) }

// Members lists the live members of the cluster by role when its roles
// find each other through ringpop (several processes, see
// profiles.Config.Ringpop); nil with static membership.
func (c *Cluster) Members(ctx context.Context) (map[string][]services.Member, error) {
	return c.server.Members(ctx)
}

// membershipCheck is /readyz's check on a ringpop node: what this process
// runs, the members of each role, and not ready while a serving role has
// none.
func (c *Cluster) membershipCheck(ctx context.Context) (bool, string) {
	cfg := c.Config()
	var b strings.Builder
	fmt.Fprintf(&b, "runs: %s\n", strings.Join(cfg.Roles(), ","))
	members, err := c.Members(ctx)
	if err != nil {
		fmt.Fprintf(&b, "members: %v\n", err)
		return false, b.String()
	}
	for _, role := range profiles.RoleNames {
		addrs := make([]string, len(members[role]))
		for i, m := range members[role] {
			addrs[i] = m.Address
		}
		fmt.Fprintf(&b, "%s: %d member(s) %s\n", role, len(addrs), strings.Join(addrs, " "))
	}
	missing := services.MissingRoles(members)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "waiting for: %s\n", strings.Join(missing, ", "))
	}
	return len(missing) == 0, b.String()
}
