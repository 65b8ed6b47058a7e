package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
)

// Clusters is a group of clusters that replicate to each other, owned by
// one test (see NewClusters). Every namespace the options name is global,
// replicated to all of them and active on the first.
type Clusters struct {
	t       testing.TB
	g       *bootstrap.Clusters
	members map[string]*Cluster
}

// NewClusters starts one cluster per name (at least two), connected to
// each other with replication on, and stops them when t ends, after the
// test's workers and clients. Each cluster has its own frontend, database
// and SDK client (Get(name).Client()). A failure to start fails t on the
// calling goroutine.
//
//	cs := testutil.NewClusters(t, "a", "b")
//	run, _ := cs.Get("a").Client().ExecuteWorkflow(ctx, opts, Wait)
//	cs.Failover("default", "b")
//	_ = cs.Get("b").Client().SignalWorkflow(ctx, run.GetID(), "", "go", nil)
func NewClusters(t testing.TB, names ...string) *Clusters {
	t.Helper()
	return NewClustersWith(t, names)
}

// NewClustersWith is NewClusters with the options NewCluster takes
// (WithNamespace, WithConfig, ...), applied to every cluster. Options that
// need TLS or auth are refused: clusters do not support them yet.
func NewClustersWith(t testing.TB, names []string, opts ...Option) *Clusters {
	t.Helper()
	o := apply(opts)
	cfg, err := o.config()
	if err != nil {
		t.Fatalf("testutil: config: %v", err)
	}
	if o.freshDB != "" && o.postgres == "" {
		// PostgresEnv moves in-memory clusters to PostgreSQL; clusters
		// each need a database of their own and stay on SQLite.
		cfg.Persistence.URL, o.freshDB = "", ""
	}
	cfg.Clusters = names
	logger := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Startup.Timeout*time.Duration(len(names)))
	defer cancel()
	g, err := bootstrap.StartClusters(ctx, cfg, append([]bootstrap.Option{bootstrap.WithLogger(logger)}, o.start...)...)
	if err != nil {
		t.Fatalf("testutil: start clusters: %v", err)
	}
	cs := &Clusters{t: t, g: g, members: map[string]*Cluster{}}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout*time.Duration(len(names)))
		defer cancel()
		if err := g.Stop(stopCtx); err != nil {
			t.Errorf("testutil: stop clusters: %v", err)
		}
	})
	g.Each(func(name string, c *bootstrap.Cluster) {
		m := &Cluster{t: t, c: c, namespace: o.namespaceName(), logger: logger.With("cluster", name)}
		cs.members[name] = m
		t.Cleanup(m.dial.close) // before the clusters stop
	})
	return cs
}

// Get returns the cluster named name, with its own client and workers
// (they talk to that cluster's frontend only); nil for an unknown name.
func (cs *Clusters) Get(name string) *Cluster { return cs.members[name] }

// Names returns the clusters' names in start order; the first is where
// the namespaces are active at first.
func (cs *Clusters) Names() []string { return cs.g.Names() }

// Bootstrap returns the underlying group (addresses, namespace IDs).
func (cs *Clusters) Bootstrap() *bootstrap.Clusters { return cs.g }

// Failover makes namespace active on cluster to, through to's frontend as
// `temporal operator namespace update --active-cluster` does, and returns
// once every cluster agrees (database and frontend), failing the test
// otherwise. It returns how long the clusters took to agree.
func (cs *Clusters) Failover(namespace, to string) time.Duration {
	cs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	took, err := cs.g.Failover(ctx, namespace, to)
	if err != nil {
		cs.t.Fatalf("testutil: %v", err)
	}
	return took
}

// RegisterNamespace registers a global namespace while the clusters run
// (active on the first, replicated to all) and returns once every cluster
// has it, failing the test otherwise.
func (cs *Clusters) RegisterNamespace(name string) {
	cs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := cs.g.RegisterNamespace(ctx, name, 0); err != nil {
		cs.t.Fatalf("testutil: %v", err)
	}
}
