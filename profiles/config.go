// Package profiles owns devcluster's configuration vocabulary: the Config
// struct, its defaults, its layering with provenance and its validation, and
// the node file a multi-process cluster's nodes read. It imports nothing of
// devcluster's but internal/ helpers and nothing of the Temporal server:
// every other package speaks its types.
package profiles

import (
	"time"
)

// Service names, in the order the server starts them.
const (
	Frontend = "frontend"
	History  = "history"
	Matching = "matching"
	Worker   = "worker"
)

// RoleNames lists the four Temporal roles devcluster runs, in a stable
// order used for port allocation and error messages.
var RoleNames = []string{Frontend, History, Matching, Worker}

// The frontend's ports by default: Temporal's conventional ones, as the
// Temporal CLI's dev server uses.
const (
	DefaultFrontendPort = 7233
	DefaultHTTPPort     = 7243
)

// DefaultNamespace is the namespace every cluster has.
const DefaultNamespace = "default"

// Config is the whole devcluster configuration. Keys are dotted kebab-case
// (see the koanf tags); zero values of ports mean "pick a free port".
type Config struct {
	// IP is the address every service binds to and advertises; default
	// 127.0.0.1. "localhost" is accepted and rewritten to 127.0.0.1.
	IP string `koanf:"ip" json:"ip"`
	// Services holds the ports of each Temporal role, and the roles this
	// process runs.
	Services Services `koanf:"services" json:"services"`
	// Membership says how the roles find each other: in this process, or
	// across processes through ringpop.
	Membership Membership `koanf:"membership" json:"membership"`
	// DataDir is where relative paths (database file, archival dirs) are
	// resolved; it is created at start when set. Empty: the working directory.
	DataDir string `koanf:"data-dir" json:"data-dir"`
	// Persistence configures the database: SQLite (the default) or
	// PostgreSQL (persistence.url).
	Persistence Persistence `koanf:"persistence" json:"persistence"`
	// Visibility configures where visibility records (what List and Count
	// queries read) live.
	Visibility Visibility `koanf:"visibility" json:"visibility"`
	// Archival configures filestore archival of closed workflows.
	Archival Archival `koanf:"archival" json:"archival"`
	// Namespaces are registered before the cluster reports ready. The
	// namespace "default" is always present.
	Namespaces []Namespace `koanf:"namespaces" json:"namespaces"`
	// Log configures devcluster's and the server's logging.
	Log Log `koanf:"log" json:"log"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `koanf:"metrics" json:"metrics"`
	// UI configures the Temporal Web UI.
	UI UI `koanf:"ui" json:"ui"`
	// TLS configures mTLS for internode and frontend traffic.
	TLS TLS `koanf:"tls" json:"tls"`
	// Auth configures JWT authentication and authorization.
	Auth Auth `koanf:"auth" json:"auth"`
	// Cluster is the cluster metadata.
	Cluster Cluster `koanf:"cluster" json:"cluster"`
	// DynamicConfig holds dynamic-config values (Temporal keys, case
	// insensitive) applied on top of devcluster's defaults.
	DynamicConfig DynamicConfig `koanf:"dynamic-config" json:"dynamic-config"`
	// Faults are failures injected on purpose (package faults).
	Faults Faults `koanf:"faults" json:"faults"`
	// Startup bounds how long Start may take.
	Startup Timeouts `koanf:"startup" json:"startup"`
	// Shutdown bounds how long Stop may take.
	Shutdown Timeouts `koanf:"shutdown" json:"shutdown"`
	// Server holds how devcluster embeds the Temporal server where it
	// departs from a stock server, each choice measured with make bench.
	Server Server `koanf:"server" json:"server"`
	// PortsFile, when set, receives the cluster's addresses as JSON once it
	// is ready (for CI scripts that start on free ports); removed at stop.
	PortsFile string `koanf:"ports-file" json:"ports-file"`
	// TimeSkipping makes every workflow started in any namespace (but the
	// server's own) skip time whenever it only waits on timers, unless its
	// start request carries a time-skipping config of its own. See
	// Namespace.TimeSkipping for one namespace.
	TimeSkipping bool `koanf:"time-skipping" json:"time-skipping"`
	// Temporal is merged verbatim (the server's own camelCase keys) into the
	// generated server static config, last: for anything the schema does not
	// name.
	Temporal map[string]any `koanf:"temporal" json:"temporal"`
	// Clusters, when set, runs several clusters that replicate to each
	// other instead of one: entries "NAME" or "NAME:PORT" (that cluster's
	// frontend port), at least two. Every namespace is global, replicated
	// to all of them and active on the first. See ClusterConfigs for what
	// each cluster gets.
	Clusters []string `koanf:"clusters" json:"clusters"`

	// dbs holds persistence.url and visibility.url decoded, once, by
	// Normalized (see Databases).
	dbs *decodedDatabases
}

// Visibility configures the visibility store.
type Visibility struct {
	// File is a separate SQLite file for visibility records (relative paths
	// are under data-dir); empty keeps them in the main database. A separate
	// file takes visibility writes off the main database's single
	// connection. It needs persistence.file.
	File string `koanf:"file" json:"file"`
	// URL is the PostgreSQL database for visibility records
	// (postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...]) when
	// persistence.url is set; empty: database DB_visibility next to
	// persistence.url's DB, same server and user. Without a password it
	// uses persistence.url's (or persistence.password-file).
	URL string `koanf:"url" json:"url"`
	// Indexes is "lean" (default) or "full". The server's SQLite visibility
	// table has 58 indexes, one per filterable column and search attribute,
	// and every visibility write (three per workflow) updates them all.
	// Lean keeps the indexes of the queries a dev cluster runs most (the
	// default list order, WorkflowId, WorkflowType, ExecutionStatus,
	// TaskQueue, ExecutionTime, ParentWorkflowId, RootWorkflowId) and drops
	// the rest: every query still works and gives the same rows; one on a
	// dropped column scans the namespace's rows instead. Full keeps the
	// server's schema, and restores indexes a lean start dropped. On
	// PostgreSQL the same, where the user owns the visibility table (else
	// its indexes are left as they are, with a warning).
	Indexes string `koanf:"indexes" json:"indexes"`
}

// VisibilityIndexes are the values of visibility.indexes.
var VisibilityIndexes = []string{"lean", "full"}

// Archival configures the filestore archival of histories and visibility
// records. Namespaces registered at start get it enabled with a URI under
// the configured directory.
type Archival struct {
	History    ArchivalTarget `koanf:"history" json:"history"`
	Visibility ArchivalTarget `koanf:"visibility" json:"visibility"`
}

// ArchivalTarget is one kind of archival.
type ArchivalTarget struct {
	Enabled bool `koanf:"enabled" json:"enabled"`
	// Dir is the archive directory (relative paths are under data-dir).
	Dir string `koanf:"dir" json:"dir"`
}

// Services holds one Service per Temporal role.
type Services struct {
	// Run lists the roles this process runs (frontend, history, matching,
	// worker); empty runs all four. Fewer than four makes this process one
	// node of a cluster whose other roles run elsewhere: membership is
	// then ringpop on the membership ports, seeded from the shared
	// database (persistence.url).
	Run      []string `koanf:"run" json:"run"`
	Frontend Service  `koanf:"frontend" json:"frontend"`
	History  Service  `koanf:"history" json:"history"`
	Matching Service  `koanf:"matching" json:"matching"`
	Worker   Service  `koanf:"worker" json:"worker"`
}

// Get returns a pointer to the named service's ports; nil for an unknown name.
func (s *Services) Get(name string) *Service {
	switch name {
	case Frontend:
		return &s.Frontend
	case History:
		return &s.History
	case Matching:
		return &s.Matching
	case Worker:
		return &s.Worker
	}
	return nil
}

// Service holds the ports of one Temporal role. Zero means "a free port".
type Service struct {
	// GRPCPort is the port the role serves gRPC on.
	GRPCPort int `koanf:"grpc-port" json:"grpc-port"`
	// MembershipPort is the role's ringpop port (rpc.membershipPort). With
	// ringpop membership the role listens on it (zero: a free port); with
	// static membership nothing does, and it is only reserved (checked
	// free and unique) so the exported config is a valid production
	// layout (zero leaves it unset).
	MembershipPort int `koanf:"membership-port" json:"membership-port"`
	// HTTPPort is the frontend's HTTP API port; only the frontend has one.
	// Zero picks a free port; -1 turns the HTTP API off.
	HTTPPort int `koanf:"http-port" json:"http-port"`
}

// Persistence configures the database: SQLite in memory (the default), an
// SQLite file, or a PostgreSQL database.
type Persistence struct {
	// File is the database path; empty means an in-memory database that lives
	// as long as the cluster.
	File string `koanf:"file" json:"file"`
	// URL, when set, runs the cluster on PostgreSQL instead of SQLite:
	// postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...] (port 5432
	// and DB "temporal" when left out; sslmode disable, require,
	// verify-ca or verify-full, with sslrootcert, sslcert and sslkey file
	// paths). devcluster creates a missing database, installs the embedded
	// server's schema on an empty one and upgrades an older one; visibility
	// records go to DB_visibility (see visibility.url). Exclusive with file.
	URL string `koanf:"url" json:"url"`
	// PasswordFile holds the PostgreSQL password (its first line), for a URL
	// without one; read at start.
	PasswordFile string `koanf:"password-file" json:"password-file"`
	// Pragmas are SQLite pragmas (journal_mode, synchronous, busy_timeout,
	// ...) passed to every connection. For a file they default to a WAL
	// journal with synchronous=NORMAL, which survives a process crash.
	Pragmas map[string]string `koanf:"pragmas" json:"pragmas"`
	// Shards is the number of history shards; fixed when the database is
	// created.
	Shards int `koanf:"shards" json:"shards"`
}

// InMemory reports whether the database lives in memory.
func (p Persistence) InMemory() bool { return p.File == "" && p.URL == "" }

// Postgres reports whether the cluster runs on PostgreSQL.
func (p Persistence) Postgres() bool { return p.URL != "" }

// Namespace is a namespace registered at start.
type Namespace struct {
	Name string `koanf:"name" json:"name"`
	// Retention is how long closed workflows are kept; default 24h.
	Retention time.Duration `koanf:"retention" json:"retention"`
	// SearchAttributes maps custom search attribute names to Temporal type
	// names (Keyword, Text, Int, Double, Bool, Datetime, KeywordList).
	SearchAttributes map[string]string `koanf:"search-attributes" json:"search-attributes"`
	// TimeSkipping makes the workflows started in this namespace skip time
	// (see Config.TimeSkipping).
	TimeSkipping bool `koanf:"time-skipping" json:"time-skipping"`
}

// TimeSkippingKey is the server's switch that lets start requests ask for
// time skipping; devcluster turns it on when a namespace skips time.
const TimeSkippingKey = "frontend.WorkflowTimeSkippingEnabled"

// TimeSkippingNamespaces returns the configured namespaces that skip time
// (all of them with time-skipping: true).
func (c Config) TimeSkippingNamespaces() []string {
	var out []string
	for _, ns := range c.Namespaces {
		if c.TimeSkipping || ns.TimeSkipping {
			out = append(out, ns.Name)
		}
	}
	return out
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. It applies to devcluster's own
	// messages; the server's chatty messages are shown from warn up unless
	// the level is debug.
	Level string `koanf:"level" json:"level"`
	// Format is text or json.
	Format string `koanf:"format" json:"format"`
	// File, when set, receives the logs (appended) instead of stderr.
	File string `koanf:"file" json:"file"`
}

// UI configures the Temporal Web UI served next to the cluster.
type UI struct {
	// Enabled serves the UI.
	Enabled bool `koanf:"enabled" json:"enabled"`
	// IP the UI binds to; empty: the cluster's ip.
	IP string `koanf:"ip" json:"ip"`
	// Port; 0: the frontend's gRPC port + 1000, or a free port when that
	// is 0 too.
	Port int `koanf:"port" json:"port"`
	// PublicPath is the base path the UI is served under ("" or "/": the
	// root), as behind a reverse proxy at https://host/temporal.
	PublicPath string `koanf:"public-path" json:"public-path"`
	// CodecEndpoint is the HTTP endpoint of a remote payload codec the UI
	// decodes payloads with (the CLI's --ui-codec-endpoint).
	CodecEndpoint string `koanf:"codec-endpoint" json:"codec-endpoint"`
	// AssetPath is a directory of UI assets served instead of the embedded
	// ones (the CLI's --ui-asset-path).
	AssetPath string `koanf:"asset-path" json:"asset-path"`
}

// UIPortOffset puts the UI at the frontend's port + 1000 by default, as the
// Temporal CLI does (7233 -> 8233).
const UIPortOffset = 1000

// Metrics configures the endpoint that serves /metrics, /healthz and
// /readyz.
type Metrics struct {
	// Address is host:port (port 0: a free one); empty turns it off.
	Address string `koanf:"address" json:"address"`
	// Framework is how the server records its metrics: "tally" (default,
	// the server's own default framework for Prometheus: counters named
	// service_requests, timers in seconds) or "opentelemetry" (counters
	// with _total, timers in _milliseconds). Tally costs the server less
	// CPU per call: make bench measured +9% workflows/s and -17 MB RSS.
	Framework string `koanf:"framework" json:"framework"`
}

// The values of metrics.framework; they are the server's own names
// (metrics.FrameworkTally, metrics.FrameworkOpentelemetry).
const (
	MetricsTally         = "tally"
	MetricsOpenTelemetry = "opentelemetry"
)

// MetricsFrameworks are the values of metrics.framework.
var MetricsFrameworks = []string{MetricsTally, MetricsOpenTelemetry}

// Cluster is the cluster metadata.
type Cluster struct {
	// Name is the current (and only) cluster's name; default "active".
	Name string `koanf:"name" json:"name"`
	// ID is a UUID; empty generates one for each in-memory cluster (a file
	// keeps the one it was created with).
	ID string `koanf:"id" json:"id"`
	// InitialFailoverVersion of this cluster; default 1.
	InitialFailoverVersion int64 `koanf:"initial-failover-version" json:"initial-failover-version"`
	// FailoverVersionIncrement; default 10. Fixed when a database file is
	// created.
	FailoverVersionIncrement int64 `koanf:"failover-version-increment" json:"failover-version-increment"`
	// EnableGlobalNamespace makes the cluster multi-cluster capable.
	EnableGlobalNamespace bool `koanf:"enable-global-namespace" json:"enable-global-namespace"`
}

// DynamicConfig holds dynamic-config values.
type DynamicConfig struct {
	// File is a dynamic-config YAML file in Temporal's own format.
	File string `koanf:"file" json:"file"`
	// Values maps a Temporal dynamic-config key to its value. Values from
	// the --dynamic-config-value flag are JSON; here they are already typed.
	Values map[string]any `koanf:"values" json:"values"`
}

// Server holds devcluster's departures from how a stock Temporal server
// (`temporal server start-dev`) runs its parts. The defaults are the fast
// choices; false or empty gives the stock behaviour (the bench's stock
// column uses that).
type Server struct {
	// StopSystemWorkersFirst keeps long polls from holding a stop: the SDK
	// workers the server's worker service starts and never stops (the
	// task-queue and history scanners, the parent-close-policy processor)
	// are stopped right after that service stops, and the frontend ends the
	// long polls still open as soon as the stop starts (with Unavailable,
	// which the SDK retries) instead of waiting its drain time (1 s) for
	// them: SIGINT to exit about 1 s -> 50-80 ms, a testutil cluster's
	// immediate start+stop 0.4-0.5 s -> 0.1-0.15 s. Default true.
	StopSystemWorkersFirst bool `koanf:"stop-system-workers-first" json:"stop-system-workers-first"`
	// CorrectStickyBacklogHint lowers by one the backlog count hint of
	// sticky workflow-task poll responses. The server's hint can count tasks
	// already on their way to other pollers, and an SDK worker told of a
	// sticky backlog sends every poller to its sticky queue: new workflows
	// then waited 5-10 s for their first workflow task in about one load
	// run in four (make bench). Default true.
	CorrectStickyBacklogHint bool `koanf:"correct-sticky-backlog-hint" json:"correct-sticky-backlog-hint"`
	// BinaryChecksum is the binary checksum the Go SDK reports for the
	// workers in this process: the server's system workers, and any worker
	// of your own in the same process (it is a process-wide SDK setting).
	// Empty leaves the SDK's default, the MD5 of the whole executable,
	// computed when the first worker starts: about 250 ms of every start for
	// devcluster's executable. Default "devcluster"; the test profile leaves
	// it empty so that testutil does not change your test workers.
	BinaryChecksum string `koanf:"binary-checksum" json:"binary-checksum"`
	// FreshReadsAfterChange lets the server read
	// system.forceSearchAttributesCacheRefreshOnRead as configured only
	// from the start of a namespace or search-attribute change until a few
	// seconds after it, and as false otherwise: a new search attribute is
	// still usable at once, and the rest of the time visibility writes do
	// not read the namespace from the database under one lock (+12%
	// workflows/s under make bench's load). Default true; false leaves the
	// setting to the dynamic config alone.
	FreshReadsAfterChange bool `koanf:"fresh-reads-after-change" json:"fresh-reads-after-change"`
	// MemoryLimitMiB is the floor of the soft memory limit devcluster
	// gives its process (Go's runtime limit, as GOMEMLIMIT sets it), raised
	// after every collection to twice the live heap when that is more: the
	// collector returns freed memory instead of keeping it, and a big heap
	// is never held to a limit it has outgrown (RSS after make bench's load
	// -12%, no measurable CPU cost). GOMEMLIMIT or GOGC in the environment,
	// or a limit or GC percentage a program embedding devcluster set first,
	// leave the collector to them. Default 128; 0 is off, and the test
	// profile sets 0 (the limit is process-wide, and testutil shares the
	// process with your tests).
	MemoryLimitMiB int `koanf:"memory-limit-mib" json:"memory-limit-mib"`
}

// MinMemoryLimitMiB is the smallest server.memory-limit-mib but 0 (off).
const MinMemoryLimitMiB = 64

// Timeouts bounds a lifecycle phase.
type Timeouts struct {
	Timeout time.Duration `koanf:"timeout" json:"timeout"`
}

// Default returns the built-in defaults: an in-memory cluster on 127.0.0.1
// with the frontend on 7233, its HTTP API on 7243, the other services on free
// ports and the namespace "default".
func Default() Config {
	return Config{
		IP: "127.0.0.1",
		Services: Services{
			Frontend: Service{GRPCPort: DefaultFrontendPort, HTTPPort: DefaultHTTPPort},
		},
		Persistence: Persistence{Shards: 1},
		Visibility:  Visibility{Indexes: "lean"},
		Metrics:     Metrics{Framework: MetricsTally},
		Namespaces:  []Namespace{{Name: DefaultNamespace, Retention: 24 * time.Hour}},
		Log:         Log{Level: "info", Format: "text"},
		Cluster:     Cluster{Name: "active", InitialFailoverVersion: 1, FailoverVersionIncrement: 10},
		DynamicConfig: DynamicConfig{Values: map[string]any{
			// Offline: no call to the server's version-check service.
			"frontend.enableServerVersionCheck": false,
			// Search attributes and Nexus endpoints usable right after they
			// are added, not after a cache refresh.
			"system.forceSearchAttributesCacheRefreshOnRead": true,
			"system.forceNexusEndpointRefreshOnRead":         true,
			// One process serves every role: the per-host persistence and
			// visibility limits meant for a fleet only slow a dev cluster.
			"frontend.persistenceMaxQPS":       10000,
			"history.persistenceMaxQPS":        45000,
			"frontend.namespaceRPS.visibility": 100,
			// One task-queue partition: a dev cluster's few pollers spread
			// over 4 partitions left a burst of new workflows waiting ~2 s
			// for their first task (measured with make bench: p99 1.9 s ->
			// 0.7 s in memory, throughput unchanged).
			"matching.numTaskqueueReadPartitions":  1,
			"matching.numTaskqueueWritePartitions": 1,
			// Task-processing workers for one process, not a fleet's
			// history host: the server starts 512 each for the transfer,
			// timer and visibility queues and 640 for replication, which a
			// single cluster never uses: about 2,200 idle goroutines. With
			// 32: RSS after make bench's load -25 MB (8%), throughput the
			// same (8, 16, 32, 64 and 512 all measured alike).
			"history.transferProcessorSchedulerWorkerCount":               32,
			"history.timerProcessorSchedulerWorkerCount":                  32,
			"history.visibilityProcessorSchedulerWorkerCount":             32,
			"history.archivalProcessorSchedulerWorkerCount":               32,
			"history.memoryTimerProcessorSchedulerWorkerCount":            8,
			"history.ReplicationProcessorSchedulerWorkerCount":            4,
			"history.ReplicationLowPriorityProcessorSchedulerWorkerCount": 4,
			// History queues checkpoint every second, not every 30 s. Until
			// a checkpoint a queue keeps every task it has loaded, done or
			// not, and walks all of them whenever it loads more: under a
			// steady load that walk grew to 36% of the server's CPU
			// (executableTracker.split). 5,000 workflows at C=50: 115 ->
			// 142 wf/s, p99 636 -> 463 ms, RSS 551 -> 471 MB; 1,000: the
			// same throughput, RSS -10 MB.
			"history.transferProcessorUpdateAckInterval":   "1s",
			"history.visibilityProcessorUpdateAckInterval": "1s",
			"history.timerProcessorUpdateAckInterval":      "1s",
			"history.outboundProcessorUpdateAckInterval":   "1s",
			"history.archivalProcessorUpdateAckInterval":   "1s",
			// The mutable-state cache: the server keeps up to 128,000
			// workflows for an hour, about 20 KB of live heap each, so a
			// cluster grew by ~75 MB of RSS per 1,000 workflows run (862 MB
			// after 10,000). 4,096 bounds it: 580 MB after 10,000 (8,096,
			// the Temporal CLI's value: 692 MB), for 2-6% of throughput
			// once more workflows than that have run (a state evicted and
			// then needed again is read back: 1.37 reads per workflow
			// instead of 0.99 over 6,000). Smaller caps cost much more:
			// each workflow's task-timeout timers fire 5-10 s after its
			// tasks (1,024 entries: three reads per workflow).
			"history.hostLevelCacheMaxSize": 4096,
			// Time skipping: a session skips up to 1,000 times, not 200,
			// so that a year of daily steps (365 skips) finishes; the
			// limit stops a workflow that retries forever from skipping
			// forever (a test lowers it with this key).
			"frontend.WorkflowTimeSkippingMaxSkipPerSession": 1000,
			// Archival, when enabled, archives a closed workflow at once
			// (not after a random delay of up to 5 minutes) and can be read.
			"history.archivalProcessorArchiveDelay":   "0s",
			"system.enableReadFromHistoryArchival":    true,
			"system.enableReadFromVisibilityArchival": true,
		}},
		TLS:  TLS{Validity: 72 * time.Hour, ServerName: "localhost", RequireClientAuth: true},
		Auth: Auth{PermissionsClaim: "permissions", HeaderName: "authorization", TokenTTL: 24 * time.Hour},
		Server: Server{StopSystemWorkersFirst: true, CorrectStickyBacklogHint: true, BinaryChecksum: "devcluster",
			FreshReadsAfterChange: true, MemoryLimitMiB: 128},
		Startup:  Timeouts{Timeout: 60 * time.Second},
		Shutdown: Timeouts{Timeout: 10 * time.Second},
	}
}

// Clone returns a deep copy of c, so callers may adjust a copy (resolved
// ports, added namespaces) without touching the original.
func (c Config) Clone() Config {
	out := c
	out.Persistence.Pragmas = cloneMap(c.Persistence.Pragmas)
	out.Namespaces = make([]Namespace, len(c.Namespaces))
	for i, ns := range c.Namespaces {
		ns.SearchAttributes = cloneMap(ns.SearchAttributes)
		out.Namespaces[i] = ns
	}
	out.DynamicConfig.Values = cloneMap(c.DynamicConfig.Values)
	out.Temporal = deepCopy(c.Temporal)
	out.TLS.Hosts = append([]string(nil), c.TLS.Hosts...)
	out.TLS.FrontendClientCAFiles = append([]string(nil), c.TLS.FrontendClientCAFiles...)
	out.TLS.PeerHosts = append([]string(nil), c.TLS.PeerHosts...)
	out.TLS.PeerSystemWorkerCerts = append([]string(nil), c.TLS.PeerSystemWorkerCerts...)
	out.Clusters = append([]string(nil), c.Clusters...)
	out.Services.Run = append([]string(nil), c.Services.Run...)
	return out
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// deepCopy copies nested maps and slices of a decoded YAML/JSON tree.
func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopy(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopyValue(e)
		}
		return out
	}
	return v
}
