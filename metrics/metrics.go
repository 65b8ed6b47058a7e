// Package metrics serves a cluster's Prometheus metrics, health and
// readiness on a listener devcluster owns: the server's own metrics through
// a registry per cluster (two clusters in one process never collide, and
// stopping a cluster frees its port), plus devcluster's: start-up duration,
// readiness, dynamic-config reloads and build info.
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/server/common/log"
	servermetrics "go.temporal.io/server/common/metrics"
)

// Metrics is one cluster's registry and HTTP endpoints.
type Metrics struct {
	reg   *prometheus.Registry
	ready atomic.Bool

	startSeconds prometheus.Gauge
	readyGauge   prometheus.Gauge
	reloads      *prometheus.CounterVec
	lastReload   prometheus.Gauge
	certExpiry   *prometheus.GaugeVec
	faults       *prometheus.CounterVec

	mu     sync.Mutex
	check  func(context.Context) (bool, string) // see SetReadyCheck
	report func() any                           // see SetFaults
	ln     net.Listener
	srv    *http.Server
	server *prometheus.Registry // the server's metrics; replaced on a retried start
}

// New returns a registry with devcluster's own metrics and the Go runtime's.
func New(version, serverVersion string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.startSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "devcluster_start_duration_seconds",
		Help: "Time from the start of bootstrap to the cluster being ready."})
	m.readyGauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "devcluster_ready",
		Help: "1 when the cluster is ready (the same definition as the banner and /readyz), else 0."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "devcluster_dynamicconfig_reloads_total",
		Help: "Reloads of the dynamic-config file, by result (ok or error)."}, []string{"result"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{Name: "devcluster_dynamicconfig_last_good_reload_timestamp_seconds",
		Help: "Unix time of the last good load of the dynamic-config file."})
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "devcluster_certificate_expiry_timestamp_seconds",
		Help: "Unix time at which a certificate devcluster serves expires."}, []string{"certificate"})
	m.faults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "devcluster_faults_injected_total",
		Help: "Faults injected on purpose (fault rules), by rule."}, []string{"rule"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "devcluster_build_info",
		Help: "Build information; always 1."}, []string{"version", "server_version", "go_version"})
	build.WithLabelValues(version, serverVersion, runtime.Version()).Set(1)
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.reg.MustRegister(m.startSeconds, m.readyGauge, m.reloads, m.lastReload, m.certExpiry, m.faults, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry holds devcluster's own metrics (the server's are gathered
// alongside, see Handler).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetReady records readiness for /readyz and devcluster_ready.
func (m *Metrics) SetReady(ready bool, took time.Duration) {
	m.ready.Store(ready)
	if ready {
		m.readyGauge.Set(1)
		m.startSeconds.Set(took.Seconds())
	} else {
		m.readyGauge.Set(0)
	}
}

// SetReadyCheck makes /readyz, once the cluster is ready, also ask check:
// 503 when it says no, and its detail lines in the body either way (a node
// of a cluster spread over processes reports what it runs and which roles
// the cluster has).
func (m *Metrics) SetReadyCheck(check func(context.Context) (ok bool, detail string)) {
	m.mu.Lock()
	m.check = check
	m.mu.Unlock()
}

// SetFaults makes /faults serve report's value as JSON: the fault rules in
// force and what each did (`devcluster faults show` reads it).
func (m *Metrics) SetFaults(report func() any) {
	m.mu.Lock()
	m.report = report
	m.mu.Unlock()
}

// DynamicConfigLoaded counts a load of the dynamic-config file.
func (m *Metrics) DynamicConfigLoaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.lastReload.Set(float64(time.Now().UnixNano()) / 1e9)
		return
	}
	m.reloads.WithLabelValues("error").Inc()
}

// FaultInjected counts a fault injected by rule.
func (m *Metrics) FaultInjected(rule string) { m.faults.WithLabelValues(rule).Inc() }

// CertificateExpires records when a served certificate expires.
func (m *Metrics) CertificateExpires(name string, at time.Time) {
	m.certExpiry.WithLabelValues(name).Set(float64(at.Unix()))
}

// ServerHandler returns a constructor of the metrics handler the server
// records into, with the given framework (the server's framework names, as
// metrics.framework takes them), exported to a registry of its own that is
// served with devcluster's. A retried start makes a new one that replaces
// it.
func (m *Metrics) ServerHandler(framework string) func(log.Logger) (servermetrics.Handler, error) {
	return func(logger log.Logger) (servermetrics.Handler, error) {
		reg := prometheus.NewRegistry()
		var h servermetrics.Handler
		var err error
		if framework == servermetrics.FrameworkOpentelemetry {
			h, err = otelHandler(logger, reg)
		} else {
			h = tallyHandler(logger, reg)
		}
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.server = reg
		m.mu.Unlock()
		return h, nil
	}
}

func otelHandler(logger log.Logger, reg *prometheus.Registry) (servermetrics.Handler, error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	p := &provider{mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))}
	return servermetrics.NewOtelMetricsHandler(logger, p, servermetrics.ClientConfig{}, false)
}

// tallyHandler is what the server builds for a Prometheus config with the
// default (tally) framework, on reg instead of a listener of its own: the
// server's histogram boundaries per unit, timers as histograms in seconds,
// a report into the registry every second. Reporter errors (a metric
// recorded with two sets of tag names) are logged at debug level, as the
// server's own reporter would log them.
func tallyHandler(logger log.Logger, reg *prometheus.Registry) servermetrics.Handler {
	// MetricsHandlerFromConfig fills in the server's default boundaries per
	// unit; with no reporter configured it returns a no-op handler.
	cfg := &servermetrics.Config{}
	_, _ = servermetrics.MetricsHandlerFromConfig(logger, cfg)
	var timerBuckets []float64
	for _, ms := range cfg.ClientConfig.PerUnitHistogramBoundaries[servermetrics.Milliseconds] {
		timerBuckets = append(timerBuckets, ms/1000)
	}
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: timerBuckets,
		OnRegisterError:         func(err error) { logger.Debug("metrics: " + err.Error()) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &tallyprom.DefaultSanitizerOpts,
	}, time.Second)
	return &closingHandler{Handler: servermetrics.NewTallyMetricsHandler(cfg.ClientConfig, scope), closer: closer}
}

// closingHandler stops the tally scope's reporting goroutine when the
// server stops its metrics handler (the server's tally handler does not).
type closingHandler struct {
	servermetrics.Handler
	closer io.Closer
	once   sync.Once
}

func (h *closingHandler) Stop(logger log.Logger) {
	h.Handler.Stop(logger)
	h.once.Do(func() { _ = h.closer.Close() })
}

// provider is the server's OpenTelemetryProvider over our meter provider.
type provider struct {
	mp   *sdkmetric.MeterProvider
	once sync.Once
}

func (p *provider) GetMeter() metric.Meter { return p.mp.Meter("temporal") }

func (p *provider) Stop(logger log.Logger) {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.mp.Shutdown(ctx); err != nil {
			logger.Debug("metrics provider shutdown: " + err.Error())
		}
	})
}

// Listen binds addr (host:port; port 0 picks a free one). It is separate
// from Serve so that a taken port is an error of start.
func (m *Metrics) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return oserr.Cause(err)
	}
	m.mu.Lock()
	m.ln = ln
	m.mu.Unlock()
	return nil
}

// Addr returns the bound address, or "" before Listen.
func (m *Metrics) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Handler serves /metrics, /healthz (the process answers) and /readyz (200
// once the cluster is ready, 503 before and while stopping).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherers{m}, promhttp.HandlerOpts{}))
	mux.HandleFunc("/faults", func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		report := m.report
		m.mu.Unlock()
		if report == nil {
			http.Error(w, "no fault rules here", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(report())
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !m.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		m.mu.Lock()
		check := m.check
		m.mu.Unlock()
		if check == nil {
			_, _ = w.Write([]byte("ready\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		ok, detail := check(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n" + detail))
			return
		}
		_, _ = w.Write([]byte("ready\n" + detail))
	})
	return mux
}

// gatherers gathers devcluster's registry and the server's current one.
type gatherers struct{ m *Metrics }

func (g gatherers) Gather() ([]*dto.MetricFamily, error) {
	g.m.mu.Lock()
	list := prometheus.Gatherers{g.m.reg}
	if g.m.server != nil {
		list = append(list, g.m.server)
	}
	g.m.mu.Unlock()
	return list.Gather()
}

// Serve serves Handler on the bound listener until Stop.
func (m *Metrics) Serve() {
	m.mu.Lock()
	ln := m.ln
	m.srv = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv := m.srv
	m.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and open connections.
func (m *Metrics) Stop(ctx context.Context) error {
	m.mu.Lock()
	srv, ln := m.srv, m.ln
	m.mu.Unlock()
	if srv != nil {
		return srv.Shutdown(ctx)
	}
	if ln != nil {
		return ln.Close()
	}
	return nil
}
