package bootstrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	replicationpb "go.temporal.io/api/replication/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
)

// ErrNotGlobal reports a namespace that is local to one cluster: it does
// not replicate, so it cannot fail over.
var ErrNotGlobal = clientconn.ErrNotGlobal

// SettleAfterAgree is how long a failover or a new namespace waits after
// every frontend of a group agrees: history and matching keep their own
// copy of the namespace, refreshed on their own timer
// (profiles.NamespaceRefreshKey, which clusters set to
// profiles.ClustersRefresh), and no API shows it. A client waiting for a
// group to be ready waits as long for the cluster list.
const SettleAfterAgree = 2 * profiles.ClustersRefresh

// Failover makes namespace active on cluster to through to's own frontend
// and waits until every cluster agrees (see clientconn.Failover).
func (g *Clusters) Failover(ctx context.Context, namespace, to string) (time.Duration, error) {
	c := g.Get(to)
	if c == nil {
		return 0, fmt.Errorf("failover %s: no cluster %q (clusters: %s)", namespace, to, strings.Join(g.names, ", "))
	}
	return clientconn.Failover(ctx, c.FrontendAddr(), c.TLSConfig(), c.AdminToken(), namespace, to, SettleAfterAgree)
}

// RegisterNamespace registers a global namespace while the clusters run:
// through the first cluster's frontend, replicated to every cluster and
// active on the first, as for the configured namespaces; retention 0 means
// 24h. It returns once every cluster (database and frontend cache) has it
// with the same ID. The server replicates a new namespace by polling once
// a second, so this takes about a second.
func (g *Clusters) RegisterNamespace(ctx context.Context, name string, retention time.Duration) error {
	first := g.First()
	conn, err := clientconn.Dial(first.FrontendAddr(), first.TLSConfig(), "", first.AdminToken())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if retention <= 0 {
		retention = profiles.DefaultRetention
	}
	req := &workflowservice.RegisterNamespaceRequest{
		Namespace:                        name,
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		IsGlobalNamespace:                true,
		ActiveClusterName:                g.names[0],
	}
	for _, n := range g.names {
		req.Clusters = append(req.Clusters, &replicationpb.ClusterReplicationConfig{ClusterName: n})
	}
	if _, err := workflowservice.NewWorkflowServiceClient(conn).RegisterNamespace(ctx, req); err != nil {
		return fmt.Errorf("register namespace %q: %w", name, err)
	}
	addrs := map[string]string{}
	for i, c := range g.clusters {
		addrs[g.names[i]] = c.FrontendAddr()
	}
	var id string
	err = clientconn.WaitAgree(ctx, g.names, addrs, first.TLSConfig(), first.AdminToken(), name, SettleAfterAgree, func(d *workflowservice.DescribeNamespaceResponse) error {
		got := d.GetNamespaceInfo().GetId()
		if id == "" {
			id = got
		}
		if got != id {
			return fmt.Errorf("has ID %s, the first cluster %s", got, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("register namespace %q: %w", name, err)
	}
	return nil
}
