package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// Clusters is a group of clusters in this process that replicate to each
// other (see StartClusters). Its methods are safe for concurrent use.
type Clusters struct {
	names    []string
	clusters []*Cluster
	repl     *services.Replication
	logger   *slog.Logger
	shutdown time.Duration
	cleanup  func() // removes the clusters' shared certificate directory, after they stopped

	stopOnce sync.Once
	stopping atomic.Bool // Stop has begun: members stopping is no failure
	stopErr  error
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

// StartClusters starts one cluster for each name cfg.Clusters gives (see
// profiles.Config.ClusterConfigs for what each gets), connects every
// cluster to every other through the admin API, and returns once they are
// connected: the group is then usable as one cluster is after Start. Every
// namespace cfg names is global, replicated to all clusters and active on
// the first. The clusters start in order; on failure, those already started
// are stopped. ctx bounds the start; each cluster also has
// cfg.Startup.Timeout, and so does the connecting.
//
// Ready (a cluster's /readyz, WaitReady against any of them) covers the
// whole group: no cluster says ready before all are connected, and all
// stop saying so when one stops.
func StartClusters(ctx context.Context, cfg profiles.Config, opts ...Option) (*Clusters, error) {
	cfg = cfg.Normalized()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfgs, err := cfg.ClusterConfigs()
	if err != nil {
		return nil, err
	}
	if len(cfgs) < 2 {
		return nil, &profiles.FieldError{Key: "clusters", Msg: "names no clusters; StartClusters needs at least two (Start runs one)"}
	}
	if err := checkClusterFiles(cfg, cfgs); err != nil {
		return nil, err
	}
	names := make([]string, len(cfgs))
	for i, cc := range cfgs {
		names[i] = cc.Cluster.Name
	}
	repl, err := services.NewReplication(cfgs[0], names)
	if err != nil {
		return nil, err
	}
	logger := applyOptions(opts).logger
	if logger == nil {
		logger = NewLogger(os.Stderr, cfg.Log)
	}
	prepared, tlsCleanup, err := prepareClustersTLS(cfgs, logger)
	if err != nil {
		return nil, err
	}
	g := &Clusters{names: names, repl: repl, logger: logger, shutdown: cfg.Shutdown.Timeout, done: make(chan struct{}), cleanup: tlsCleanup}
	fail := func(err error) (*Clusters, error) {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Shutdown.Timeout*time.Duration(len(g.clusters)+1))
		defer cancel()
		_ = g.stopAll(stopCtx)
		return nil, err
	}
	for i, cc := range cfgs {
		copts := append(slices.Clone(opts), WithLogger(logger.With("cluster", names[i])),
			func(s *settings) { s.replication, s.holdReady = repl, true })
		if prepared != nil {
			copts = append(copts, func(s *settings) { s.prepared = &prepared[i] })
		}
		c, err := Start(ctx, cc, copts...)
		if err != nil {
			for _, fe := range profiles.FieldErrors(err) {
				fe.Msg += fmt.Sprintf(" (cluster %q)", names[i])
			}
			return fail(fmt.Errorf("start cluster %q: %w", names[i], err))
		}
		g.clusters = append(g.clusters, c)
	}
	connectCtx, cancel := context.WithTimeout(ctx, cfg.Startup.Timeout)
	defer cancel()
	if err := g.connect(connectCtx, cfgs); err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("start interrupted: %w", ctx.Err())
		case errors.Is(connectCtx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("%w %s (--startup-timeout): waiting for the clusters to connect: %w", ErrStartTimeout, cfg.Startup.Timeout, err)
		}
		return fail(err)
	}
	for _, c := range g.clusters {
		c.obs.ready(true)
	}
	logger.Info("clusters ready", "clusters", strings.Join(names, ","), "active", names[0])
	go g.watch()
	return g, nil
}

// checkClusterFiles refuses, before anything is written, database files
// the clusters cannot use: persistence.file itself when it exists (it
// belongs to a single cluster: each of the group keeps a file of its own),
// a cluster's file made for a single or another cluster, and a group where
// some files exist and others not (a cluster's namespaces would get other
// IDs than the rest have, and replication would refuse them).
func checkClusterFiles(cfg profiles.Config, cfgs []profiles.Config) error {
	base := cfg.Persistence.File
	if base == "" {
		return nil
	}
	files := make([]string, len(cfgs))
	for i, cc := range cfgs {
		files[i] = cc.Persistence.File
	}
	if _, err := os.Stat(base); err == nil {
		return &profiles.FieldError{Key: "persistence.file", Value: base, Msg: fmt.Sprintf(
			"exists, and is a single cluster's database: with clusters each cluster keeps a database of its own (%s), because a cluster's name, failover versions and namespaces are fixed in its database when it is created; start %s without clusters, or give a path that does not exist",
			strings.Join(files, ", "), base)}
	}
	var have, missing []string
	for i, cc := range cfgs {
		exists, err := persistence.CheckClusterFile(files[i], "persistence.file", cc.Cluster.Name)
		if err != nil {
			return err
		}
		if exists {
			have = append(have, files[i])
		} else {
			missing = append(missing, files[i])
		}
	}
	if len(have) > 0 && len(missing) > 0 {
		return &profiles.FieldError{Key: "persistence.file", Value: base, Msg: fmt.Sprintf(
			"gives the clusters %s, of which %s exist and %s not: a cluster's database cannot be made anew alone (its namespaces would get IDs the others do not have); restore the missing files, or remove them all to start afresh",
			strings.Join(files, ", "), strings.Join(have, ", "), strings.Join(missing, ", "))}
	}
	return nil
}

// connect adds every cluster to every other as a remote cluster, in two
// steps, and waits until every replication stream has synced:
//
//  1. each cluster adds the others with the connection on (replication
//     too for a pair a database file already replicates), and the services
//     read the new cluster list (see settle);
//  2. each turns replication on for the others; every history service
//     then opens a stream to every other cluster, which knows it since
//     step 1 (in one step, a stream could reach a cluster that did not
//     know the caller yet: "unknown cluster ID", retried 2 s later);
//  3. each cluster's history service has an acknowledgement from every
//     other cluster, newer than this start. Until then a new stream's
//     sender would start at the end of the queue and never send the tasks
//     written before it connected (services.ReplicationAcks): the first
//     workflows would not replicate.
//
// The separate replication switch needs history.enableSeparateReplicationEnableFlag,
// which profiles.ClusterConfigs turns on.
func (g *Clusters) connect(ctx context.Context, cfgs []profiles.Config) error {
	began := time.Now()
	ops := make([]operatorservice.OperatorServiceClient, len(g.clusters))
	for i, c := range g.clusters {
		conn, err := clientconn.Dial(c.FrontendAddr(), c.TLSConfig(), "", c.AdminToken())
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }()
		ops[i] = operatorservice.NewOperatorServiceClient(conn)
	}
	// What each cluster's database already says (a restart from files).
	replicating := make([]map[string]bool, len(g.clusters))
	for i := range g.clusters {
		replicating[i] = map[string]bool{}
		err := clientconn.Poll(ctx, nil, nil, func(ctx context.Context) error {
			resp, err := ops[i].ListClusters(ctx, &operatorservice.ListClustersRequest{})
			if err != nil {
				return err
			}
			for _, m := range resp.GetClusters() {
				replicating[i][m.GetClusterName()] = m.GetIsReplicationEnabled()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list clusters of %q: %w", g.names[i], err)
		}
	}
	upsert := func(replication func(i, j int) bool) error {
		for i := range g.clusters {
			for j, remote := range g.clusters {
				if i == j {
					continue
				}
				req := &operatorservice.AddOrUpdateRemoteClusterRequest{
					FrontendAddress:               remote.FrontendAddr(),
					FrontendHttpAddress:           remote.HTTPAddr(),
					EnableRemoteClusterConnection: true,
					EnableReplication:             replication(i, j),
				}
				err := clientconn.Poll(ctx, nil, refusal, func(ctx context.Context) error {
					_, err := ops[i].AddOrUpdateRemoteCluster(ctx, req)
					return err
				})
				if err != nil {
					return fmt.Errorf("connect cluster %q to %q at %s: %w", g.names[i], g.names[j], remote.FrontendAddr(), err)
				}
			}
		}
		for i := range g.clusters {
			err := clientconn.Poll(ctx, nil, nil, func(ctx context.Context) error {
				resp, err := ops[i].ListClusters(ctx, &operatorservice.ListClustersRequest{})
				if err != nil {
					return err
				}
				listed := map[string]*operatorservice.ClusterMetadata{}
				for _, m := range resp.GetClusters() {
					listed[m.GetClusterName()] = m
				}
				for j, remote := range g.clusters {
					m := listed[g.names[j]]
					switch {
					case i == j:
					case m == nil:
						return fmt.Errorf("cluster %q does not list %q yet", g.names[i], g.names[j])
					case !m.GetIsConnectionEnabled() || m.GetAddress() != remote.FrontendAddr() || m.GetIsReplicationEnabled() != replication(i, j):
						return fmt.Errorf("cluster %q lists %q at %s, connection %v, replication %v", g.names[i], g.names[j],
							m.GetAddress(), m.GetIsConnectionEnabled(), m.GetIsReplicationEnabled())
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("connect clusters: %w", err)
			}
		}
		return nil
	}
	if err := upsert(func(i, j int) bool { return replicating[i][g.names[j]] }); err != nil {
		return err
	}
	// Each service reads the cluster list from the database on a timer
	// (system.clusterMetadataRefreshInterval), and no API tells whether it
	// has; until it has, a failover or a namespace registered through it
	// names a cluster it does not know ("Invalid cluster name"). Two
	// intervals cover every service's timer.
	var settle time.Duration
	for _, cc := range cfgs {
		settle = max(settle, 2*refreshInterval(cc, profiles.ClusterMetadataRefreshKey, 10*time.Second))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	if err := upsert(func(int, int) bool { return true }); err != nil {
		return err
	}
	for i, c := range g.clusters {
		// History's replication status is an internode API: devcluster
		// calls it as a node, with the internode certificate.
		t, _ := c.TLS()
		internodeTLS, err := t.InternodeClientConfig()
		if err != nil {
			return err
		}
		err = clientconn.Poll(ctx, nil, nil, func(ctx context.Context) error {
			acks, err := services.ReplicationAcks(ctx, c.ServiceAddr(profiles.History), internodeTLS)
			if err != nil {
				return err
			}
			for j, name := range g.names {
				if i == j {
					continue
				}
				ack, ok := acks[name]
				if !ok || ack.Time.Before(began) {
					return fmt.Errorf("cluster %q has no replication acknowledgement from %q yet", g.names[i], name)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("connect clusters: %w", err)
		}
	}
	return nil
}

// refreshInterval is a duration dynamic-config value of cfg, or def.
func refreshInterval(cfg profiles.Config, key string, def time.Duration) time.Duration {
	for k, v := range cfg.DynamicConfig.Values {
		if !strings.EqualFold(k, key) {
			continue
		}
		switch x := v.(type) {
		case time.Duration:
			return x
		case string:
			if d, err := time.ParseDuration(x); err == nil {
				return d
			}
		}
	}
	return def
}

// refusal reports an answer of a frontend that asking again will not
// change: anything but Unavailable (the remote not reachable yet) and a
// call that ran out of its time.
// (The operator client here is plain gRPC: its errors are statuses.)
func refusal(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return false
	}
	return true
}

// watch stops the whole group when one of its clusters stops by itself
// (after a fatal error): the others' namespaces would replicate to nowhere.
func (g *Clusters) watch() {
	cases := make(chan int, len(g.clusters))
	for i, c := range g.clusters {
		go func() {
			select {
			case <-c.Done():
				cases <- i
			case <-g.done:
			}
		}()
	}
	select {
	case <-g.done:
		return
	case i := <-cases:
		if g.stopping.Load() {
			return
		}
		for _, c := range g.clusters {
			c.obs.ready(false)
		}
		if err := g.clusters[i].Err(); err != nil {
			g.mu.Lock()
			g.err = fmt.Errorf("cluster %q: %w", g.names[i], err)
			g.mu.Unlock()
		}
		g.logger.Error("cluster stopped: stopping the other clusters", "cluster", g.names[i], "err", g.clusters[i].Err())
		ctx, cancel := context.WithTimeout(context.Background(), g.shutdown*time.Duration(len(g.clusters)))
		defer cancel()
		_ = g.Stop(ctx)
	}
}

// Stop stops the clusters in reverse start order, each bounded by ctx and
// its shutdown timeout; every cluster says not ready from the first step
// on. It is idempotent: later calls return the first call's result.
func (g *Clusters) Stop(ctx context.Context) error {
	g.stopOnce.Do(func() {
		g.stopping.Store(true)
		g.stopErr = g.stopAll(ctx)
		close(g.done)
	})
	return g.stopErr
}

func (g *Clusters) stopAll(ctx context.Context) error {
	for _, c := range g.clusters {
		c.obs.ready(false)
	}
	var errs []error
	for i := len(g.clusters) - 1; i >= 0; i-- {
		if err := g.clusters[i].Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop cluster %q: %w", g.names[i], err))
		}
	}
	if g.cleanup != nil {
		g.cleanup()
	}
	return errors.Join(errs...)
}

// Done is closed when the group has stopped: by Stop, or after one of its
// clusters stopped by itself (then Err is not nil).
func (g *Clusters) Done() <-chan struct{} { return g.done }

// Err returns the fatal error that stopped the group, or nil.
func (g *Clusters) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Names returns the clusters' names in start order; the first is where
// the namespaces devcluster registers are active at first.
func (g *Clusters) Names() []string { return slices.Clone(g.names) }

// Get returns the cluster named name, or nil.
func (g *Clusters) Get(name string) *Cluster {
	if i := slices.Index(g.names, name); i >= 0 {
		return g.clusters[i]
	}
	return nil
}

// First returns the first cluster: its frontend is the configured one.
func (g *Clusters) First() *Cluster { return g.clusters[0] }

// Each calls f for every cluster, in start order.
func (g *Clusters) Each(f func(name string, c *Cluster)) {
	for i, c := range g.clusters {
		f(g.names[i], c)
	}
}

// NamespaceID returns the ID a configured namespace has in every cluster.
func (g *Clusters) NamespaceID(namespace string) string { return g.repl.NamespaceID(namespace) }
