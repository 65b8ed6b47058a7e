// Package services turns a devcluster config into a running Temporal server
// and owns its lifecycle: the server's static config (config.go, export.go)
// and effective dynamic config (dynamicconfig.go); the order in which the
// database it runs on is readied, a SQLite file, memory or PostgreSQL
// (prepare.go; the database work itself is package persistence's); the
// roles this process runs (all four, or some of them joined to the other
// processes by ringpop: membership.go, ports.go); replication between
// clusters (replication.go); its bounded start and readiness (start.go,
// ready.go, sysworkflows.go); and the interceptors and server options
// devcluster adds (time skipping, sticky hints, fresh reads, long polls,
// system workers, TLS). persistence, dynamicconfig, metrics and auth know the
// server's types too, each for its own part (see internal/archtest).
package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	otelsdktrace "go.opentelemetry.io/otel/sdk/trace"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/config"
	dc "go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/temporal"
	"go.uber.org/fx"
	"google.golang.org/grpc"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/faults"
)

// ServerVersion is the embedded Temporal server's version.
const ServerVersion = headers.ServerVersion

// ErrNotReady reports a cluster that did not become ready in time.
var ErrNotReady = clientconn.ErrNotReady

// Options are what a Server needs besides its config.
type Options struct {
	// Logger receives devcluster's and the server's logs. Required.
	Logger *slog.Logger
	// DynamicConfig is the server's dynamic-config client. Required.
	DynamicConfig dc.Client
	// OnFatal is called once, from any goroutine, when the running server
	// reports a fatal error; the caller should stop the cluster. Optional.
	OnFatal func(error)
	// Metrics, when set, makes the handler the server records its metrics
	// into (called for each start attempt). Without it the server records
	// none.
	Metrics MetricsHandlerFunc
	// ClaimMapper and Authorizer replace the ones auth.enabled configures
	// (the server's default JWT mapper and authorizer); either works
	// without auth.enabled too, for testing one's own plugins.
	ClaimMapper authorization.ClaimMapper
	Authorizer  authorization.Authorizer
	// Token is the bearer token devcluster's own calls (readiness) carry
	// when auth is on.
	Token string
	// Replication, when set, makes the server one cluster of a replicating
	// group: its namespaces are the group's global ones (see Replication).
	Replication *Replication
	// Faults, when set, are the fault rules the frontend and the default
	// store's data stores obey (see faults.go).
	Faults *faults.Set
}

// MetricsHandlerFunc makes the handler the server records its metrics
// into, given the server's logger.
type MetricsHandlerFunc = func(log.Logger) (metrics.Handler, error)

// Server is one embedded Temporal server. Start and Stop are each called
// once; the zero value is not usable (use New).
type Server struct {
	cfg    profiles.Config // resolved at Start: every port chosen
	opts   Options
	logger *slog.Logger

	mu       sync.Mutex
	fatalErr error
	started  bool

	sqlCfg *config.SQL
	static *config.Config
	srv    temporal.Server
	db     persistence.FileState
	slog   *serverLogger
	polls  *longPolls // nil without server.stop-system-workers-first
	skips  *timeSkipping
	// memberDB reads the ringpop membership (see Members).
	memberDB sqlplugin.DB
	// files holds the database files, locked and marked running, until
	// the server has stopped; nil in memory and on PostgreSQL. Under mu.
	files *persistence.Files
	// abort, closed by endStart, ends the worker service's wait for its
	// SDK client (see systemClientGate); one per start attempt.
	abort     chan struct{}
	abortOnce *sync.Once
	sys       *systemCalls // the system worker's calls, seen by the frontend
	// impl is the server's ServerImpl; implStarted is set once its Start
	// hook succeeded (see topLevelModule and stopServices).
	impl        *temporal.ServerImpl
	implStarted atomic.Bool
	// dbUnlock releases the PostgreSQL preparation lock while it is held
	// past preparation (holdDBLock); nil otherwise. Under mu.
	dbUnlock func()
}

// New returns an unstarted server for cfg, a normalized and validated
// config (bootstrap.Start, the entrance, makes it so). It does no I/O.
func New(cfg profiles.Config, opts Options) (*Server, error) {
	if opts.Logger == nil || opts.DynamicConfig == nil {
		return nil, errors.New("services.New: Logger and DynamicConfig are required")
	}
	return &Server{cfg: cfg.Clone(), opts: opts, logger: opts.Logger, skips: newTimeSkipping(cfg)}, nil
}

// Config returns the config the server runs with; after Start every port in
// it is resolved.
func (s *Server) Config() profiles.Config { return s.cfg.Clone() }

// Static returns the server's static config (nil before Start).
func (s *Server) Static() *config.Config { return s.static }

// NewDatabase reports whether Start created the database (in memory, a
// new file, or a new or empty PostgreSQL database).
func (s *Server) NewDatabase() bool { return s.db != persistence.ExistingFile }

// Err returns the first fatal error the server reported, if any.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatalErr
}

func (s *Server) recordFatal(err error) {
	s.mu.Lock()
	first := s.fatalErr == nil
	if first {
		s.fatalErr = err
	}
	started := s.started
	s.mu.Unlock()
	if first && started && s.opts.OnFatal != nil {
		s.opts.OnFatal(err)
	}
}

// startAttempts bounds retries when a free port we chose was taken by
// someone else before the server bound it.
const startAttempts = 3

// Start prepares the database and starts every service. It returns when the
// services run; readiness is checked separately (WaitReady). On failure
// everything already started is stopped. It honours ctx.
func (s *Server) Start(ctx context.Context) error {
	requested := s.cfg
	var err error
	defer s.releaseDBLock()
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if s.cfg, err = ResolvePorts(requested); err != nil {
			return err
		}
		s.static = nil // built for these ports, by prepareDatabase or startServer
		if attempt == 1 {
			if err = s.prepareDatabase(ctx); err != nil {
				s.checkpointFiles() // the server never ran: release the files
				return err
			}
		}
		err = s.startServer(ctx)
		if err == nil {
			// Values such as the Nexus callback template name the HTTP
			// address, known only now that ports are resolved (the server
			// reads them at use); with the HTTP API off they become "unset".
			s.setStaticDynamicConfig()
			return nil
		}
		if !isBindFailure(err) || ctx.Err() != nil {
			return err
		}
		s.logger.Warn("port taken between check and bind; retrying with new ports", "attempt", attempt, "err", err)
		s.mu.Lock()
		s.fatalErr = nil
		s.mu.Unlock()
	}
	return err
}

// setStaticDynamicConfig serves EffectiveDynamicConfig of the resolved
// config as the client's static layer, if the client has one.
func (s *Server) setStaticDynamicConfig() {
	set, ok := s.opts.DynamicConfig.(interface {
		Set(dc.ConfigValueMap) []dc.Key
	})
	if !ok {
		return
	}
	values, err := EffectiveDynamicConfig(s.cfg).Parse()
	if err != nil {
		// Checked before start; only an address was filled in since.
		s.logger.Error("dynamic config: the HTTP address is not filled in", "err", err)
		return
	}
	set.Set(values)
}

// isBindFailure reports a server that could not bind a port: a port we
// checked free was taken before the server bound it.
func isBindFailure(err error) bool {
	return errors.Is(err, ErrServerFatal) && errors.Is(err, syscall.EADDRINUSE)
}

// buildStatic builds the server's static config for the resolved ports,
// once per start attempt: before any file or database is touched (a
// temporal: section the server rejects stops the start there, and one
// that tunes the SQL store does so before the schema is set up), and used
// as it is by startServer.
func (s *Server) buildStatic() error {
	static, err := StaticConfig(s.cfg, s.sqlCfg)
	if err != nil {
		return err
	}
	if s.opts.Faults != nil && s.cfg.Faults.PersistenceFaults() {
		p := &static.Persistence
		ds := p.DataStores[p.DefaultStore]
		ds.FaultInjection = faultInjection(s.opts.Faults)
		p.DataStores[p.DefaultStore] = ds
	}
	s.static = static
	return nil
}

func (s *Server) startServer(ctx context.Context) error {
	if s.static == nil { // a retry with new ports
		if err := s.buildStatic(); err != nil {
			return err
		}
	}
	s.slog = s.newServerLog()
	s.mu.Lock()
	s.abort, s.abortOnce = make(chan struct{}), new(sync.Once)
	s.mu.Unlock()
	opts, err := s.serverOptions(s.slog)
	if err != nil {
		return err
	}
	if s.cfg.Server.BinaryChecksum != "" {
		// The SDK hashes the whole executable when its first worker starts
		// unless a checksum is set; the setting is process-wide.
		sdkworker.SetBinaryChecksum(s.cfg.Server.BinaryChecksum)
	}
	var srv temporal.Server
	err = guard(s, func() error {
		var err error
		srv, err = temporal.NewServerFx(s.topLevelModule(), opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	// The server's construction wrote this cluster's metadata row: the
	// other nodes may now prepare and start.
	s.releaseDBLock()
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return s.runStart(ctx, srv)
}

// newServerLog is the logger the server writes to: devcluster's, from
// warn up unless log.level is debug, with a hint when the disk under a
// database file fills up.
func (s *Server) newServerLog() *serverLogger {
	minLevel := slog.LevelWarn
	if s.cfg.Log.Level == "debug" {
		minLevel = slog.LevelDebug
	}
	serverLog := newServerLogger(s.logger.With("component", "temporal"), minLevel, s.recordFatal)
	if f := s.cfg.Persistence.File; f != "" {
		files := []any{"file", f}
		if v := s.cfg.Visibility.File; v != "" {
			files = append(files, "visibility_file", v)
		}
		serverLog.onDiskFull = func() {
			s.logger.Error("the disk under the database is full: the server retries every write until space is freed, and calls time out meanwhile; acknowledged workflows are kept",
				files...)
		}
	}
	return serverLog
}

// serverOptions are the server options for this process: its config and
// roles, membership, logging, dynamic config, auth, devcluster's frontend
// interceptors and the metrics handler.
func (s *Server) serverOptions(serverLog *serverLogger) ([]temporal.ServerOption, error) {
	// The worker role is built by workerServiceProvider (topLevelModule).
	var roles []string
	for _, r := range s.cfg.Roles() {
		if r != profiles.Worker {
			roles = append(roles, r)
		}
	}
	opts := []temporal.ServerOption{
		temporal.WithConfig(s.static), // first: later options read it
		temporal.ForServices(roles),
		temporal.WithLogger(serverLog),
		temporal.WithNamespaceLogger(serverLog),
		temporal.WithDynamicConfigClient(s.opts.DynamicConfig),
	}
	if !s.cfg.Ringpop() {
		// Without static hosts the server runs ringpop.
		opts = append(opts, temporal.WithStaticHosts(staticHosts(s.cfg)))
	}
	opts = append(opts, s.authOptions(serverLog)...)
	// Chained frontend interceptors go in one option: a second call would
	// replace the first (the option assigns).
	opts = append(opts, temporal.WithChainedFrontendGrpcInterceptors(s.interceptors()...))
	if s.opts.Metrics != nil {
		h, err := s.opts.Metrics(serverLog)
		if err != nil {
			return nil, err
		}
		// The server stops a custom handler at its Stop; with none it would
		// start its own listener that nothing stops.
		opts = append(opts, temporal.WithCustomMetricsHandler(h))
	}
	return opts, nil
}

// interceptors are devcluster's frontend interceptors, outermost first.
func (s *Server) interceptors() []grpc.UnaryServerInterceptor {
	var out []grpc.UnaryServerInterceptor
	if s.cfg.Server.CorrectStickyBacklogHint {
		out = append(out, stickyBacklogHint)
	}
	s.polls = nil
	if s.cfg.Server.StopSystemWorkersFirst {
		s.polls = newLongPolls()
		out = append(out, s.polls.intercept)
	}
	// Inside longPolls: see shutdownPolls.
	out = append(out, newShutdownPolls().intercept)
	if dyn, ok := s.opts.DynamicConfig.(*dynamicconfig.Client); ok && s.cfg.Server.FreshReadsAfterChange {
		out = append(out, newFreshReads(dyn, freshReadsWindow(s.cfg.DynamicConfig.Values)).intercept)
	}
	// Sees the system worker's answers; readiness waits on it.
	s.sys = newSystemCalls()
	out = append(out, s.sys.intercept)
	// Innermost but time skipping: a refused or slowed call is one the
	// server saw, as a real overload would be.
	if s.opts.Faults != nil {
		out = append(out, s.opts.Faults.Interceptor())
	}
	// Always there: testutil turns skipping on for namespaces registered
	// while the cluster runs.
	return append(out, s.skips.intercept)
}

// topLevelModule is the server's fx module with devcluster's changes:
// trace exporters are the server's own only when OTEL_TRACES_EXPORTER asks
// for them (as with the Temporal CLI: OTEL_TRACES_EXPORTER=otlp and the
// standard OTEL_EXPORTER_OTLP_* variables export the server's spans), and
// none otherwise, so a start builds no exporter; and the worker role, when
// this process runs it, is devcluster's (see workerServiceProvider).
func (s *Server) topLevelModule() fx.Option {
	s.implStarted.Store(false)
	top := fx.Options(temporal.TopLevelModule,
		// After ServerLifetimeHooks (TopLevelModule's last Invoke): this
		// start hook runs only once ServerImpl.Start succeeded.
		fx.Invoke(func(lc fx.Lifecycle, impl *temporal.ServerImpl) {
			s.mu.Lock()
			s.impl = impl
			s.mu.Unlock()
			lc.Append(fx.StartHook(func() { s.implStarted.Store(true) }))
		}))
	if !TracesExported() {
		top = fx.Options(top, fx.Decorate(func([]otelsdktrace.SpanExporter) []otelsdktrace.SpanExporter { return nil }))
	}
	if s.cfg.Runs(profiles.Worker) {
		top = fx.Options(top, fx.Provide(workerServiceProvider(s.cfg.Server.StopSystemWorkersFirst, s.abort)))
	}
	return top
}

// TracesExported reports whether the environment asks for the server's
// spans to be exported (OTEL_TRACES_EXPORTER set to anything but none).
func TracesExported() bool {
	v, ok := os.LookupEnv("OTEL_TRACES_EXPORTER")
	return ok && v != "" && v != "none"
}

// Stop stops every service, bounded by ctx. It is safe to call when Start
// failed or was never called.
func (s *Server) Stop(ctx context.Context) error {
	return s.stopServer(ctx)
}

func (s *Server) stopServer(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	// The server's leaked goroutines keep this Server reachable; the
	// ServerImpl would keep the whole stopped server with it (matching's
	// task queues, say: about 5 MiB per cluster).
	s.impl = nil
	s.mu.Unlock()
	s.closeMembershipDB()
	if srv == nil {
		s.checkpointFiles() // a start that failed before the server was made
		return nil
	}
	s.endStart()
	if s.polls != nil {
		s.polls.stop()
	}
	s.slog.stop()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- guard(s, srv.Stop) }()
	select {
	case err := <-done:
		s.logger.Debug("server stopped", "took", time.Since(start))
		s.checkpointFiles()
		return err
	case <-ctx.Done():
		return fmt.Errorf("stop server: %w", ctx.Err())
	}
}

// checkpointFiles closes the database files once the server has stopped
// (or never ran): see persistence.Files.Close. Idempotent.
func (s *Server) checkpointFiles() {
	s.mu.Lock()
	files := s.files
	s.files = nil
	s.mu.Unlock()
	if files == nil {
		return
	}
	files.Close(func(path string, err error) {
		s.logger.Warn("database log not folded into the file at stop; it stays beside the file and is read at the next start", "file", path, "err", err)
	})
}

// authOptions installs the claim mapper and authorizer: the Go API's when
// given, else with auth.enabled the server's defaults from global.authorization,
// the mapper wrapped so that the cluster's own system worker (known by its
// verified client certificate) is a system admin.
func (s *Server) authOptions(logger log.Logger) []temporal.ServerOption {
	var out []temporal.ServerOption
	switch {
	case s.opts.Authorizer != nil:
		out = append(out, temporal.WithAuthorizer(s.opts.Authorizer))
	case s.cfg.Auth.Enabled:
		out = append(out, temporal.WithAuthorizer(auth.WorkerRoleAuthorizer(authorization.NewDefaultAuthorizer(), s.logger.Debug)))
	}
	if s.cfg.Auth.Enabled && s.cfg.Auth.Audience != "" {
		// global.authorization.audience alone checks nothing: the server
		// verifies the aud claim only against an audience getter's answer.
		aud := auth.StaticAudience(s.cfg.Auth.Audience)
		out = append(out, temporal.WithAudienceGetter(func(*config.Config) authorization.JWTAudienceMapper { return aud }))
	}
	switch {
	case s.opts.ClaimMapper != nil:
		cm := s.opts.ClaimMapper
		out = append(out, temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return cm }))
	case s.cfg.Auth.Enabled:
		out = append(out, temporal.WithClaimMapper(func(c *config.Config) authorization.ClaimMapper {
			inner, err := authorization.GetClaimMapperFromConfig(&c.Global.Authorization, logger)
			if err != nil {
				logger.Error("auth: claim mapper: " + err.Error())
				inner = authorization.NewNoopClaimMapper()
			}
			// Only the system worker's own certificate is the admin, not
			// any certificate of that name a trusted CA issued.
			// The other clusters' system workers too: replication calls
			// this frontend with their certificates and no token.
			var pins [][]byte
			for _, f := range append([]string{s.cfg.TLS.SystemWorker.CertFile}, s.cfg.TLS.PeerSystemWorkerCerts...) {
				pin, err := auth.PublicKeyPin(f)
				if err != nil {
					logger.Error("auth: a system worker's certificate: " + err.Error())
					continue
				}
				pins = append(pins, pin)
			}
			return auth.SystemWorkerClaimMapper(inner, certs.SystemWorkerCommonName, pins...)
		}))
	}
	return out
}
