// Package bootstrap assembles a devcluster: it builds the fx application
// from a profiles.Config (logger, metrics, dynamic config, the embedded
// server, the Web UI; sequence.go) and returns a Cluster handle, or
// several clusters that replicate to each other (Clusters). The CLI and
// testutil are its front doors: what they need of the packages below it
// (services, persistence) it names (frontdoor.go, dcreport.go, Ports).
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/memlimit"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/metrics"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
	"github.com/devcluster/devcluster/webui"
)

// ServerVersion is the version of the embedded Temporal server.
const ServerVersion = services.ServerVersion

// Version is devcluster's version, set at build time with
// -ldflags "-X github.com/devcluster/devcluster/bootstrap.Version=...".
var Version = "dev"

// Sentinels for dynamic-config problems, so front ends can tell a config
// error (exit 2) from a runtime one.
var (
	ErrUnknownDynamicConfigKey = dynamicconfig.ErrUnknownKey
	ErrBadDynamicConfigValue   = dynamicconfig.ErrBadValue
	ErrBadDynamicConfigFile    = dynamicconfig.ErrBadFile
)

// ErrNotReady reports a cluster that did not become ready before its start
// deadline.
var ErrNotReady = services.ErrNotReady

// Option changes how Start assembles a cluster (not what it runs: that is
// the profiles.Config).
type Option func(*settings)

type settings struct {
	logger      *slog.Logger
	claimMapper authorization.ClaimMapper
	authorizer  authorization.Authorizer
	token       string                // set by Start when auth is on
	key         *auth.Key             // set by Start when auth is on
	replication *services.Replication // set by StartClusters
	holdReady   bool                  // StartClusters says ready once all are connected
	prepared    *preparedTLS          // StartClusters resolves every cluster's TLS first
}

// WithClaimMapper makes the server map callers to claims with cm instead of
// the default JWT mapper (works with or without auth.enabled).
func WithClaimMapper(cm authorization.ClaimMapper) Option {
	return func(s *settings) { s.claimMapper = cm }
}

// WithAuthorizer makes the server authorize every call with a instead of
// the default authorizer (works with or without auth.enabled).
func WithAuthorizer(a authorization.Authorizer) Option {
	return func(s *settings) { s.authorizer = a }
}

// WithLogger sends every log line of the cluster to l. The default is a
// logger on stderr built from cfg.Log.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

// NewLogger returns the slog logger a config asks for, writing to w.
func NewLogger(w io.Writer, cfg profiles.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// Options returns the fx options of a cluster for cfg; Start uses them, and
// tests validate the graph with fx.ValidateApp.
func Options(cfg profiles.Config, opts ...Option) []fx.Option {
	st := applyOptions(opts)
	if st.logger == nil {
		st.logger = NewLogger(os.Stderr, cfg.Log)
	}
	return fxOptions(cfg, st)
}

// applyOptions returns the settings opts make.
func applyOptions(opts []Option) *settings {
	st := &settings{}
	for _, o := range opts {
		o(st)
	}
	return st
}

// fxOptions is Options for settings already made, with a logger.
func fxOptions(cfg profiles.Config, st *settings) []fx.Option {
	return []fx.Option{
		fx.Supply(cfg, st.logger, st),
		fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
			fl := &fxevent.SlogLogger{Logger: l.With("component", "fx")}
			fl.UseLogLevel(slog.LevelDebug)
			// Start returns every error fx sees; logging it too would say it twice.
			fl.UseErrorLevel(slog.LevelDebug)
			return fl
		}),
		fx.Provide(newObserver, newDynamicConfig, newFileWatch, newFaultRules, newFatalSink, newServer, newWebUI, newSequence),
	}
}

// newDynamicConfig validates the effective static values (see
// services.EffectiveDynamicConfig) against the server's settings and serves
// them; the server fills in the HTTP address once ports are resolved.
func newDynamicConfig(cfg profiles.Config) (*dynamicconfig.Client, error) {
	values, err := services.EffectiveDynamicConfig(cfg).Parse()
	if err != nil {
		return nil, err
	}
	return dynamicconfig.NewClient(values), nil
}

// observer is the cluster's metrics endpoint; m is nil when
// metrics.address is empty.
type observer struct {
	m         *metrics.Metrics
	began     time.Time
	framework string // metrics.framework
	address   string // metrics.address
}

// newObserver prepares the metrics endpoint (see start and stop).
func newObserver(cfg profiles.Config) *observer {
	o := &observer{began: time.Now(), framework: cfg.Metrics.Framework, address: cfg.Metrics.Address}
	if cfg.Metrics.Address != "" {
		o.m = metrics.New(Version, ServerVersion)
	}
	return o
}

// start binds metrics.address and serves it.
func (o *observer) start(context.Context) error {
	if o.m == nil {
		return nil
	}
	if err := o.m.Listen(o.address); err != nil {
		return &profiles.FieldError{Key: "metrics.address", Value: o.address,
			Msg: fmt.Sprintf("cannot be bound: %v; choose another port, or port 0 for a free one", err)}
	}
	o.m.Serve()
	return nil
}

func (o *observer) stop(ctx context.Context) error {
	if o.m == nil {
		return nil
	}
	return o.m.Stop(ctx)
}

func (o *observer) serverHandler() services.MetricsHandlerFunc {
	if o.m == nil {
		return nil
	}
	return o.m.ServerHandler(o.framework)
}

func (o *observer) ready(ok bool) {
	if o.m != nil {
		o.m.SetReady(ok, time.Since(o.began))
	}
}

func (o *observer) faultInjected(rule string) {
	if o.m != nil {
		o.m.FaultInjected(rule)
	}
}

func (o *observer) dynamicConfigLoaded(ok bool) {
	if o.m != nil {
		o.m.DynamicConfigLoaded(ok)
	}
}

// webUI is the Web UI, started once the server is ready (its hook comes
// after the server's) and stopped before it.
type webUI struct {
	cfg    profiles.Config
	st     *settings
	server *services.Server
	logger *slog.Logger

	mu  sync.Mutex
	srv *webui.Server
}

// URL returns the URL a browser opens (with auth on, one that signs in
// with an admin token), or "" when the UI is off.
func (u *webUI) URL() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv == nil {
		return ""
	}
	return u.srv.URL()
}

// Addr returns the UI's host:port, or "" when it is off.
func (u *webUI) Addr() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv == nil {
		return ""
	}
	return u.srv.Addr()
}

// uiAddr is the Web UI's IP and port: ui.ip (else the cluster's), and
// ui.port, else the frontend's port + 1000 when that is fixed; 0 is a free
// port picked at start.
func uiAddr(cfg profiles.Config, clusterIP string) (string, int) {
	ip := cfg.UI.IP
	if ip == "" {
		ip = clusterIP
	}
	ip = netaddr.BindIP(ip)
	port := cfg.UI.Port
	if port == 0 && cfg.Services.Frontend.GRPCPort > 0 {
		port = cfg.Services.Frontend.GRPCPort + profiles.UIPortOffset
	}
	return ip, port
}

// checkPorts refuses, before anything starts, the fixed ports that are
// taken: the services' (bound for good in the server's start, where they
// are checked again), the Web UI's and metrics.address's. Every problem is
// reported at once.
func checkPorts(cfg profiles.Config) error {
	var errs []error
	if err := services.CheckPorts(cfg); err != nil {
		errs = append(errs, err)
	}
	probe := func(key, addr string, port int) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, &profiles.FieldError{Key: key, Value: port, Err: profiles.ErrPortInUse,
				Msg: fmt.Sprintf("cannot be bound: %v; choose another port, or 0 for a free one", oserr.Cause(err))})
			return
		}
		_ = l.Close()
	}
	if cfg.UI.Enabled {
		if ip, port := uiAddr(cfg, cfg.IP); port > 0 {
			probe("ui.port", net.JoinHostPort(ip, strconv.Itoa(port)), port)
		}
	}
	if a := cfg.Metrics.Address; a != "" {
		if _, p, err := net.SplitHostPort(a); err == nil && p != "0" {
			port, _ := strconv.Atoi(p)
			probe("metrics.address", a, port)
		}
	}
	return errors.Join(errs...)
}

// newWebUI serves the Web UI. With auth on, the UI must not act with more
// rights than the person using it: it serves HTTPS with the frontend's
// certificate, requires a token on every request and calls the frontend
// with that token (see webui.Auth); its client certificate gives no rights
// by itself (auth.SystemWorkerClaimMapper admits only the system worker's).
// The URL the banner prints carries an admin token minted here, valid as
// long as the cluster's other admin token.
func newWebUI(cfg profiles.Config, st *settings, srv *services.Server, logger *slog.Logger) *webUI {
	return &webUI{cfg: cfg, st: st, server: srv, logger: logger}
}

// start serves the UI (when ui.enabled) for the started server.
func (u *webUI) start(ctx context.Context) error {
	if !u.cfg.UI.Enabled {
		return nil
	}
	resolved := u.server.Config()
	ip, port := uiAddr(u.cfg, resolved.IP)
	if port == 0 {
		p, err := netaddr.FreePort(ip)
		if err != nil {
			return err
		}
		port = p
	}
	uc := webui.Config{IP: ip, Port: port, FrontendAddr: u.server.FrontendAddr(), DefaultNamespace: resolved.Namespaces[0].Name, Logger: u.logger,
		PublicPath: resolved.UI.PublicPath, CodecEndpoint: resolved.UI.CodecEndpoint, AssetPath: resolved.UI.AssetPath}
	if t := resolved.TLS; t.Enabled { // the UI is a frontend client like any other
		uc.TLS = &webui.TLS{CAFile: t.Client.CAFile, CertFile: t.Client.CertFile, KeyFile: t.Client.KeyFile, ServerName: t.ServerName}
	}
	if resolved.Auth.Enabled {
		a, err := webUIAuth(resolved, u.st.key)
		if err != nil {
			return err
		}
		uc.Auth = a
	}
	s, err := webui.Start(ctx, uc)
	if err != nil {
		return &profiles.FieldError{Key: "ui.port", Value: port,
			Msg: fmt.Sprintf("%v; choose another with --ui-port, or turn the UI off with --headless", err)}
	}
	u.mu.Lock()
	u.srv = s
	u.mu.Unlock()
	return nil
}

func (u *webUI) stop(context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		u.srv.Stop()
	}
	return nil
}

// webUIAuth is the UI's sign-in on a cluster with auth on (which requires
// TLS, so the frontend's certificate exists).
func webUIAuth(cfg profiles.Config, key *auth.Key) (*webui.Auth, error) {
	if key == nil {
		return nil, errors.New("UI: auth is on but the cluster has no signing key")
	}
	a := cfg.Auth
	signIn, err := key.Mint(auth.Grant{Subject: "devcluster-ui-admin", SystemAdmin: true, Audience: a.Audience,
		TTL: a.TokenTTL, ClaimName: a.PermissionsClaim}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("UI sign-in token: %w", err)
	}
	internal, err := netaddr.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &webui.Auth{
		CertFile: cfg.TLS.Frontend.CertFile, KeyFile: cfg.TLS.Frontend.KeyFile,
		Verify:       func(tok string) (time.Time, error) { return key.Verify(tok, a.Audience, time.Now()) },
		Header:       clientconn.Header(a.HeaderName),
		SignInToken:  signIn,
		InternalPort: internal,
	}, nil
}

// fileWatch keeps the dynamic-config file (dynamic-config.file), if any,
// in the client's file layer while the cluster runs.
type fileWatch struct {
	path   string // dynamic-config.file; empty: none
	client *dynamicconfig.Client
	logger *slog.Logger
	obs    *observer

	mu sync.Mutex
	w  *dynamicconfig.Watcher
}

// Status returns the watcher's state; false when no file is configured.
func (f *fileWatch) Status() (dynamicconfig.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w == nil {
		return dynamicconfig.Status{}, false
	}
	return f.w.Status(), true
}

// newFileWatch prepares the watch of dynamic-config.file (see start).
func newFileWatch(cfg profiles.Config, client *dynamicconfig.Client, logger *slog.Logger, obs *observer) *fileWatch {
	return &fileWatch{path: cfg.DynamicConfig.File, client: client, logger: logger, obs: obs}
}

// start loads the file into the client's file layer and watches it.
func (f *fileWatch) start(context.Context) error {
	if f.path == "" {
		return nil
	}
	w, err := dynamicconfig.WatchFile(f.path, f.client, f.logger.With("component", "dynamicconfig"), f.obs.dynamicConfigLoaded)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.w = w
	f.mu.Unlock()
	return nil
}

func (f *fileWatch) stop(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w == nil {
		return nil
	}
	err := f.w.Close()
	f.w = nil
	return err
}

// fatalSink records the first background failure of the running server;
// the Cluster stops itself when it fires (see Cluster.watch).
type fatalSink struct {
	once  sync.Once
	fired chan struct{}
	err   error
}

func newFatalSink() *fatalSink { return &fatalSink{fired: make(chan struct{})} }

func (f *fatalSink) report(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.fired)
	})
}

func newServer(cfg profiles.Config, logger *slog.Logger, st *settings, dyn *dynamicconfig.Client, obs *observer, sink *fatalSink, fr *faultRules) (*services.Server, error) {
	srv, err := services.New(cfg, services.Options{Logger: logger, DynamicConfig: dyn, OnFatal: sink.report, Metrics: obs.serverHandler(),
		ClaimMapper: st.claimMapper, Authorizer: st.authorizer, Token: st.token, Replication: st.replication, Faults: fr.set})
	fr.srv = srv
	return srv, err
}

// Start assembles the cluster for cfg, starts it and returns once it is
// ready (see Cluster). ctx bounds the start together with
// cfg.Startup.Timeout. On failure everything already started is stopped and
// the error says which step failed; config problems are
// *profiles.FieldError values (see profiles.FieldErrors).
//
// Start is where a config enters: it is normalized (the "default"
// namespace, paths under data-dir; see profiles.Config.Normalized) and
// validated here, once, and trusted below.
func Start(ctx context.Context, cfg profiles.Config, opts ...Option) (*Cluster, error) {
	cfg = cfg.Normalized()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Clusters) > 0 {
		return nil, &profiles.FieldError{Key: "clusters", Value: strings.Join(cfg.Clusters, ","),
			Msg: "names several clusters: Start runs one; use StartClusters"}
	}
	if err := checkPorts(cfg); err != nil {
		return nil, err
	}
	st := applyOptions(opts)
	if st.logger == nil {
		st.logger = NewLogger(os.Stderr, cfg.Log)
	}
	var set *certs.Set
	var cleanup func()
	var err error
	if p := st.prepared; p != nil {
		cfg, set, cleanup = p.cfg, p.set, p.cleanup
	} else if cfg, set, cleanup, err = prepareTLS(cfg, st.logger); err != nil {
		return nil, err
	}
	cfg, key, token, authCleanup, err := prepareAuth(cfg, set)
	if err != nil {
		cleanup()
		return nil, err
	}
	cleanup = chain(authCleanup, cleanup)
	// Process-wide, like the SDK's binary checksum: the test profile
	// leaves it off. Two clusters in one process share one limit.
	memStop, _ := memlimit.Start(int64(cfg.Server.MemoryLimitMiB) << 20)
	cleanup = chain(memStop, cleanup)
	if token != "" {
		st.token, st.key = token, key
	}
	// Loaded once, here: a client of a TLS cluster must never fall back
	// to plaintext because its files could not be read later.
	clientTLS, err := cfg.TLS.ClientConfig()
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := checkSameCA(ctx, cfg); err != nil {
		cleanup()
		return nil, err
	}
	c := &Cluster{done: make(chan struct{}), certs: set, cleanup: cleanup, key: key, adminToken: token, clientTLS: clientTLS}
	// fx wires the parts; the start and stop sequence is c.seq's.
	app := fx.New(append(fxOptions(cfg, st), fx.Populate(&c.server, &c.dynamic, &c.files, &c.faults, &c.obs, &c.ui, &c.sink, &c.logger, &c.seq))...)
	if err := app.Err(); err != nil {
		cleanup()
		return nil, unwrapFx(err)
	}
	if set != nil && c.obs.m != nil {
		c.obs.m.CertificateExpires("devcluster", set.Expiry())
	}
	if c.obs.m != nil {
		rules := c.faults.set
		c.obs.m.SetFaults(func() any { return rules.Active() })
	}

	startCtx, cancel := context.WithTimeout(ctx, cfg.Startup.Timeout)
	defer cancel()
	if err := c.seq.start(startCtx); err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("start interrupted: %w", ctx.Err())
		}
		return nil, err
	}
	// Ready as the banner means it: the server answers and the Web UI (the
	// last hook) serves.
	if c.obs.m != nil && cfg.Ringpop() {
		c.obs.m.SetReadyCheck(c.membershipCheck)
	}
	if !st.holdReady {
		c.obs.ready(true)
	}
	c.logger.Info("cluster ready", "frontend", c.FrontendAddr())
	go c.watch()
	return c, nil
}

// unwrapFx strips fx's and dig's wrapping ("could not build arguments for
// function ...") so that a user sees our error.
func unwrapFx(err error) error {
	return dig.RootCause(err)
}
