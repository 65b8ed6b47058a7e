// Package testutil runs a real Temporal cluster inside `go test`.
//
// NewCluster gives a test its own in-process cluster (in-memory SQLite, free
// ports, profile "test"), stopped by t.Cleanup. NewNamespace gives a test a
// fresh namespace on one cluster shared by the whole test binary: a package
// of a hundred tests pays for one cluster start. Both are safe with
// t.Parallel. NewClusters starts clusters that replicate to each other;
// NewNodes one cluster as several devcluster processes (package nodes).
//
//	func TestGreeting(t *testing.T) {
//		c := testutil.NewCluster(t)
//		c.NewWorker("greetings", func(r worker.Registry) { r.RegisterWorkflow(Greet) })
//		run, err := c.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "greetings"}, Greet, "you")
//		...
//	}
package testutil

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"go.temporal.io/server/common/authorization"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/faults"
	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/profiles"
)

// TestProfile is the built-in profile clusters start from.
const TestProfile = "test"

// Option changes how NewCluster builds its cluster.
type Option func(*options)

type options struct {
	profiles  []string
	namespace string
	sas       map[string]string
	dynamic   map[string]any
	configure []func(*profiles.Config)
	start     []bootstrap.Option
	skipTime  bool
	postgres  string // WithPostgres
	freshDB   string // persistence.url of the database applyPostgres chose
	binary    string // WithBinary
	faults    []faults.Rule
	faultsOn  bool // WithFaults was given
}

// WithTimeSkipping makes the workflows started in the namespace skip time
// whenever they only wait on timers (a plain SDK client needs no change):
// a 30-day sleep ends at once. For NewCluster and NewNamespace. See
// Namespace.FastForward and VirtualNow for finer control.
func WithTimeSkipping() Option {
	return func(o *options) { o.skipTime = true }
}

// WithNamespace makes name the cluster's namespace: registered before the
// cluster is ready, and the one Client and NewWorker use.
func WithNamespace(name string) Option {
	return func(o *options) { o.namespace = name }
}

// WithSearchAttributes registers custom search attributes (name to type:
// Keyword, Text, Int, Double, Bool, Datetime, KeywordList) in the namespace.
func WithSearchAttributes(sas map[string]string) Option {
	return func(o *options) {
		if o.sas == nil {
			o.sas = map[string]string{}
		}
		for k, v := range sas {
			o.sas[k] = v
		}
	}
}

// WithDynamicConfig sets a dynamic-config value (a Temporal key) from the
// start. Cluster.SetDynamicConfig changes one while the cluster runs.
func WithDynamicConfig(key string, value any) Option {
	return func(o *options) {
		if o.dynamic == nil {
			o.dynamic = map[string]any{}
		}
		o.dynamic[key] = value
	}
}

// WithMTLS turns on mTLS with generated certificates; Client and
// ClientOptions are configured with the client certificate.
func WithMTLS() Option {
	return WithConfig(func(c *profiles.Config) { c.TLS.Enabled = true })
}

// WithAuth turns on JWT auth (and the mTLS it needs): Client and
// ClientOptions carry a system-admin token; Cluster.Token mints others.
func WithAuth() Option {
	return WithConfig(func(c *profiles.Config) {
		c.TLS.Enabled = true
		c.Auth.Enabled = true
	})
}

// WithClaimMapper and WithAuthorizer install one's own plugins, to test
// them against a real server (with or without WithAuth).
func WithClaimMapper(cm authorization.ClaimMapper) Option {
	return func(o *options) { o.start = append(o.start, bootstrap.WithClaimMapper(cm)) }
}

// WithAuthorizer: see WithClaimMapper.
func WithAuthorizer(a authorization.Authorizer) Option {
	return func(o *options) { o.start = append(o.start, bootstrap.WithAuthorizer(a)) }
}

// WithProfile composes built-in profiles on top of "test", in order.
func WithProfile(names ...string) Option {
	return func(o *options) { o.profiles = append(o.profiles, names...) }
}

// WithConfig changes anything else in the config before the cluster starts.
// CheckFaults checks rules as WithFaults and InjectFaults do: every store,
// method, error kind and status the server would take.
func CheckFaults(rules ...faults.Rule) error {
	return bootstrap.CheckFaults("testutil", rules)
}

// WithFaults puts fault rules in force on NewCluster's cluster for the
// whole test (see package faults and the README's Faults): a frontend that
// refuses or slows calls, a persistence layer that fails or slows store
// methods; with it, Cluster.InjectFaults takes persistence rules too (give
// none to just allow them). On the shared cluster use
// Namespace.InjectFaults, for frontend rules.
func WithFaults(rules ...faults.Rule) Option {
	return func(o *options) { o.faults, o.faultsOn = append(o.faults, rules...), true }
}

func WithConfig(f func(*profiles.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// Config returns the config NewCluster would start for opts: the test
// profile with the options applied.
func Config(opts ...Option) (profiles.Config, error) {
	o := apply(opts)
	cfg, err := o.config()
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// apply collects opts.
func apply(opts []Option) *options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &o
}

// config composes the test profile with the options. The environment is
// not read (a DEVCLUSTER_* variable must not change what a test runs),
// except PostgresEnv, which exists to run a whole suite on PostgreSQL.
func (o *options) config() (profiles.Config, error) {
	loaded, err := profiles.Load(profiles.LoadOptions{
		Profiles:       append([]string{TestProfile}, o.profiles...),
		ProfilesOrigin: "testutil.WithProfile",
	})
	if err != nil {
		return profiles.Config{}, err
	}
	cfg := loaded.Config
	if o.namespace != "" && o.namespace != profiles.DefaultNamespace {
		cfg.Namespaces = append(cfg.Namespaces, profiles.Namespace{Name: o.namespace, Retention: profiles.DefaultRetention})
	}
	for i := range cfg.Namespaces {
		if cfg.Namespaces[i].Name == o.namespaceName() {
			if len(o.sas) > 0 {
				cfg.Namespaces[i].SearchAttributes = o.sas
			}
			cfg.Namespaces[i].TimeSkipping = cfg.Namespaces[i].TimeSkipping || o.skipTime
		}
	}
	for k, v := range o.dynamic {
		if cfg.DynamicConfig.Values == nil {
			cfg.DynamicConfig.Values = map[string]any{}
		}
		cfg.DynamicConfig.Values[k] = v
	}
	for _, f := range o.configure {
		f(&cfg)
	}
	if o.faultsOn {
		cfg.Faults.Persistence = true
	}
	if err := o.applyPostgres(&cfg); err != nil {
		return profiles.Config{}, err
	}
	// Not validated here: bootstrap.Start does it, once.
	return cfg, nil
}

func (o *options) namespaceName() string {
	if o.namespace == "" {
		return profiles.DefaultNamespace
	}
	return o.namespace
}

// Cluster is a running cluster owned by one test.
type Cluster struct {
	t         testing.TB
	c         *bootstrap.Cluster
	namespace string
	logger    *slog.Logger

	dial dialOnce
}

// NewCluster starts a cluster for t and stops it when t ends (after the
// test's workers and clients). A failure to start fails t on the calling
// goroutine.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := apply(opts)
	cfg, err := o.config()
	if err != nil {
		t.Fatalf("testutil: config: %v", err)
	}
	logger := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Startup.Timeout)
	defer cancel()
	t.Cleanup(func() {
		// Last: after the cluster has stopped.
		if err := o.dropPostgres(cfg); err != nil {
			t.Errorf("testutil: drop the test's databases: %v", err)
		}
	})
	if err := bootstrap.CheckFaults("testutil.WithFaults", o.faults); err != nil {
		t.Fatalf("%v", err)
	}
	bc, err := bootstrap.Start(ctx, cfg, append([]bootstrap.Option{bootstrap.WithLogger(logger)}, o.start...)...)
	if err != nil {
		t.Fatalf("testutil: start cluster: %v", err)
	}
	if o.faultsOn && len(o.faults) > 0 {
		if _, err := bc.InjectFaults(ctx, "testutil.WithFaults", o.faults); err != nil {
			t.Errorf("%v", err)
		}
	}
	c := &Cluster{t: t, c: bc, namespace: o.namespaceName(), logger: logger}
	t.Cleanup(func() {
		c.dial.close()
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout)
		defer cancel()
		if err := bc.Stop(stopCtx); err != nil {
			t.Errorf("testutil: stop cluster: %v", err)
		}
	})
	return c
}

// Address returns the frontend's gRPC address (host:port).
func (c *Cluster) Address() string { return c.c.FrontendAddr() }

// Namespace returns the namespace Client and NewWorker use.
func (c *Cluster) Namespace() string { return c.namespace }

// Bootstrap returns the underlying cluster handle (config, other
// addresses, dynamic config).
func (c *Cluster) Bootstrap() *bootstrap.Cluster { return c.c }

// ClientOptions returns SDK options for this cluster and namespace, with
// the SDK's logs routed to the test.
func (c *Cluster) ClientOptions() client.Options {
	opts := c.c.ClientOptions(c.namespace)
	opts.Logger = sdklog.NewStructuredLogger(c.logger.With("component", "sdk"))
	return opts
}

// Client returns an SDK client for the cluster's namespace, dialled once
// and closed when the test ends.
func (c *Cluster) Client() client.Client {
	c.t.Helper()
	return c.dial.client(c.t, c.ClientOptions)
}

// NewWorker starts a worker on taskQueue with what register registers; it
// is stopped when the test ends, before the cluster.
func (c *Cluster) NewWorker(taskQueue string, register func(worker.Registry), opts ...worker.Options) worker.Worker {
	c.t.Helper()
	return newWorker(c.t, c.Client(), taskQueue, register, opts)
}

// Token mints a token for role ("read", "write", "worker" or "admin") in
// the cluster's namespace; the cluster needs WithAuth.
func (c *Cluster) Token(role string) string {
	c.t.Helper()
	tok, err := c.c.MintToken(auth.Grant{Subject: c.t.Name(), Namespace: c.namespace, Role: role})
	if err != nil {
		c.t.Fatalf("testutil: %v", err)
	}
	return tok
}

// SetDynamicConfig changes a dynamic-config value while the cluster runs
// (checked against the server's settings); the old value comes back when
// the test ends.
func (c *Cluster) SetDynamicConfig(key string, value any) {
	c.t.Helper()
	v, err := dynamicconfig.ParseValue(key, value)
	if err != nil {
		c.t.Fatalf("testutil: %v", err)
	}
	c.t.Cleanup(c.c.DynamicConfig().Override(key, v))
}

// InjectFaults puts fault rules in force on the cluster until the test
// ends, or earlier by the returned func (see package faults).
func (c *Cluster) InjectFaults(rules ...faults.Rule) (remove func()) {
	c.t.Helper()
	return injectFaults(c.t, c.c, rules)
}

// FaultsInjected is how many faults rule has injected (0 for a rule not
// in force).
func (c *Cluster) FaultsInjected(rule string) int64 { return faultsInjected(c.c, rule) }

func injectFaults(t testing.TB, bc *bootstrap.Cluster, rules []faults.Rule) (remove func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	undo, err := bc.InjectFaults(ctx, "testutil.InjectFaults", rules)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var once sync.Once
	remove = func() { once.Do(undo) }
	t.Cleanup(remove)
	return remove
}

func faultsInjected(bc *bootstrap.Cluster, rule string) int64 {
	var hits int64
	for _, a := range bc.Faults().Active() {
		if a.Name == rule {
			hits += a.Hits
		}
	}
	return hits
}

// dialOnce is a handle's SDK client, dialled on first use.
type dialOnce struct {
	mu sync.Mutex
	c  client.Client
}

func (d *dialOnce) client(t testing.TB, opts func() client.Options) client.Client {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		o := opts()
		cl, err := client.Dial(o)
		if err != nil {
			t.Fatalf("testutil: dial %s: %v", o.HostPort, err)
		}
		d.c = cl
	}
	return d.c
}

func (d *dialOnce) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		d.c.Close()
	}
}

func newWorker(t testing.TB, cl client.Client, taskQueue string, register func(worker.Registry), opts []worker.Options) worker.Worker {
	t.Helper()
	var wo worker.Options
	if len(opts) > 0 {
		wo = opts[0]
	}
	w := worker.New(cl, taskQueue, wo)
	if register != nil {
		register(w)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("testutil: start worker on %s: %v", taskQueue, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// testLogger keeps the cluster's logs and prints them through t.Log when
// the test fails, or always with -v.
func testLogger(t testing.TB) *slog.Logger { return Logger(t, slog.LevelInfo) }

// Logger returns a logger for a cluster started by hand in a test (e.g. with
// bootstrap.Start): lines from level up are kept and printed through t.Log
// when the test fails, or always with -v.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	buf := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			if s := strings.TrimSpace(buf.String()); s != "" {
				t.Logf("cluster logs:\n%s", s)
			}
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
}

// deadline bounds each call testutil makes to a cluster.
const deadline = 30 * time.Second
