package services

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/api/historyservice/v1"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// Replication makes a server one of several clusters that replicate to each
// other (bootstrap.StartClusters). Build it once, with NewReplication, and
// give the same value to every cluster: the namespaces devcluster registers
// are written into each cluster's database before it starts as identical
// rows, global, replicated to every cluster and active on the first.
//
// Why rows and not RegisterNamespace through the first cluster once the
// clusters are connected: the rows are there before any service starts, so
// a cluster is ready with its namespaces as a single cluster is (no wait on
// namespace replication, which the server polls for once a second, nor on
// the registry's not-found cache), and a restart from files needs nothing.
// What makes the rows the same namespace everywhere is what replication
// checks: the namespace ID (a task for a name with another ID is refused as
// a collision), and the search-attribute columns, which the server's
// NewNamespaceConfig picks in map order, so they are picked once here.
type Replication struct {
	clusters   []string
	namespaces []*sqliteschema.NamespaceConfig
}

// NewReplication builds the namespace rows for clusters (the first is
// active) from cfg, the first cluster's config: its namespaces, and its
// initial failover version, which is the namespaces' failover version.
func NewReplication(cfg profiles.Config, clusters []string) (*Replication, error) {
	if len(clusters) < 2 {
		return nil, errors.New("replication needs at least two clusters")
	}
	first := cfg.Clone()
	first.Cluster.Name = clusters[0]
	nss, err := persistence.NamespaceConfigs(first)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		ns.IsGlobal = true
		ns.Detail.ReplicationConfig.ActiveClusterName = clusters[0]
		ns.Detail.ReplicationConfig.Clusters = slices.Clone(clusters)
		ns.Detail.ReplicationConfig.State = enumspb.REPLICATION_STATE_NORMAL
		ns.Detail.FailoverVersion = cfg.Cluster.InitialFailoverVersion
	}
	return &Replication{clusters: slices.Clone(clusters), namespaces: nss}, nil
}

// Clusters returns the clusters' names; the first is where the namespaces
// devcluster registers are active at first.
func (r *Replication) Clusters() []string { return slices.Clone(r.clusters) }

// NamespaceID returns the ID the namespace name has in every cluster, or ""
// for a namespace the config does not name.
func (r *Replication) NamespaceID(name string) string {
	for _, ns := range r.namespaces {
		if ns.Detail.GetInfo().GetName() == name {
			return ns.Detail.GetInfo().GetId()
		}
	}
	return ""
}

// reconciles reports whether a server updates its namespaces' retention and
// search attributes at start. Only the first cluster does: an update of a
// global namespace replicates, and two clusters adding the same search
// attribute each on its own could give it different columns.
func (r *Replication) reconciles(cluster string) bool {
	return r == nil || cluster == r.clusters[0]
}

// ReplicationAck is what a cluster's history service knows of one remote
// cluster's replication stream: the time of the latest task (or empty
// batch) the remote acknowledged, over all shards, and whether it has
// acknowledged every task there is.
type ReplicationAck struct {
	Time     time.Time
	CaughtUp bool
}

// ReplicationAcks asks the history service at historyAddr (plaintext, as
// devcluster's services talk among themselves) which remote clusters have
// acknowledged its replication tasks on every shard: name -> ack. A remote
// cluster appears only once its stream has synced at least once. That is
// what makes a replication stream safe to rely on: until a remote cluster
// has acknowledged, its sender starts from the current end of the queue
// when it connects, and tasks written before are never sent (see
// StreamSenderImpl.sendCatchUp in the server's service/history/replication).
func ReplicationAcks(ctx context.Context, historyAddr string, internodeTLS *tls.Config) (map[string]ReplicationAck, error) {
	creds := insecure.NewCredentials()
	if internodeTLS != nil {
		creds = credentials.NewTLS(internodeTLS)
	}
	conn, err := grpc.NewClient(historyAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("dial history %s: %w", historyAddr, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := historyservice.NewHistoryServiceClient(conn).GetReplicationStatus(ctx, &historyservice.GetReplicationStatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("replication status of history %s: %w", historyAddr, err)
	}
	out := map[string]ReplicationAck{}
	count := map[string]int{}
	for _, shard := range resp.GetShards() {
		for name, rc := range shard.GetRemoteClusters() {
			ack := ReplicationAck{Time: rc.GetAckedTaskVisibilityTime().AsTime(), CaughtUp: rc.GetAckedTaskId() >= shard.GetMaxReplicationTaskId()}
			if prev, ok := out[name]; ok {
				ack.Time = minTime(prev.Time, ack.Time)
				ack.CaughtUp = prev.CaughtUp && ack.CaughtUp
			}
			out[name] = ack
			count[name]++
		}
	}
	for name := range out {
		if count[name] < len(resp.GetShards()) {
			delete(out, name) // not synced on every shard yet
		}
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
