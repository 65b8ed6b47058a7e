package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	replicationpb "go.temporal.io/api/replication/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// ErrNotGlobal reports a namespace that is local to one cluster: it does
// not replicate, so it cannot fail over.
var ErrNotGlobal = errors.New("namespace is not global")

// settleAfterAgree is how long Failover and RegisterNamespace wait after
// every frontend agrees: history and matching keep their own copy of the
// namespace, refreshed on their own timer (profiles.NamespaceRefreshKey,
// which clusters set to profiles.ClustersRefresh), and no API shows it.
const settleAfterAgree = 2 * profiles.ClustersRefresh

// Failover makes namespace active on cluster to, through the frontend at
// addr (any cluster's), with UpdateNamespace as `temporal operator
// namespace update --active-cluster` does, then waits until every cluster
// addr is connected to agrees: its database and its frontend's namespace
// cache both name to as active. It returns how long the agreement took
// from the update. A namespace already active on to is not updated again.
// tlsConfig and token are as for Dial; every cluster takes the same.
func Failover(ctx context.Context, addr string, tlsConfig *tls.Config, token, namespace, to string) (time.Duration, error) {
	conn, err := Dial(addr, tlsConfig, token)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close() }()
	addrs, err := clusterAddresses(ctx, conn)
	if err != nil {
		return 0, err
	}
	if _, ok := addrs[to]; !ok {
		return 0, fmt.Errorf("failover %s to %q: the cluster at %s knows no connected cluster %q (it knows %s)", namespace, to, addr, to, strings.Join(sortedKeys(addrs), ", "))
	}
	wf := workflowservice.NewWorkflowServiceClient(conn)
	desc, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		return 0, fmt.Errorf("failover %s: %w", namespace, err)
	}
	if !desc.GetIsGlobalNamespace() {
		return 0, fmt.Errorf("failover %s: %w: it lives on cluster %s alone", namespace, ErrNotGlobal, desc.GetReplicationConfig().GetActiveClusterName())
	}
	var members []string
	for _, c := range desc.GetReplicationConfig().GetClusters() {
		members = append(members, c.GetClusterName())
	}
	if !slices.Contains(members, to) {
		return 0, fmt.Errorf("failover %s to %q: the namespace replicates to %s only", namespace, to, strings.Join(members, ", "))
	}
	began := time.Now()
	if desc.GetReplicationConfig().GetActiveClusterName() != to {
		_, err := wf.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace:         namespace,
			ReplicationConfig: &replicationpb.NamespaceReplicationConfig{ActiveClusterName: to},
		})
		if err != nil {
			return 0, fmt.Errorf("failover %s to %q: %w", namespace, to, err)
		}
	}
	err = waitAgree(ctx, members, addrs, tlsConfig, token, namespace, func(d *workflowservice.DescribeNamespaceResponse) error {
		if got := d.GetReplicationConfig().GetActiveClusterName(); got != to {
			return fmt.Errorf("still active on %s", got)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("failover %s to %q: %w", namespace, to, err)
	}
	return time.Since(began), nil
}

// Failover makes namespace active on cluster to through to's own frontend
// and waits until every cluster agrees (see the function Failover).
func (g *Clusters) Failover(ctx context.Context, namespace, to string) (time.Duration, error) {
	c := g.Get(to)
	if c == nil {
		return 0, fmt.Errorf("failover %s: no cluster %q (clusters: %s)", namespace, to, strings.Join(g.names, ", "))
	}
	return Failover(ctx, c.FrontendAddr(), c.TLSConfig(), c.AdminToken(), namespace, to)
}

// RegisterNamespace registers a global namespace while the clusters run:
// through the first cluster's frontend, replicated to every cluster and
// active on the first, as for the configured namespaces; retention 0 means
// 24h. It returns once every cluster (database and frontend cache) has it
// with the same ID. The server replicates a new namespace by polling once
// a second, so this takes about a second.
func (g *Clusters) RegisterNamespace(ctx context.Context, name string, retention time.Duration) error {
	first := g.First()
	conn, err := Dial(first.FrontendAddr(), first.TLSConfig(), first.AdminToken())
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
	err = waitAgree(ctx, g.names, addrs, first.TLSConfig(), first.AdminToken(), name, func(d *workflowservice.DescribeNamespaceResponse) error {
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

// clusterAddresses lists the clusters the cluster at conn knows (itself
// and the enabled remote ones): name -> frontend address.
func clusterAddresses(ctx context.Context, conn grpc.ClientConnInterface) (map[string]string, error) {
	op := operatorservice.NewOperatorServiceClient(conn)
	out := map[string]string{}
	var token []byte
	for {
		resp, err := op.ListClusters(ctx, &operatorservice.ListClustersRequest{NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		for _, m := range resp.GetClusters() {
			if m.GetIsConnectionEnabled() {
				out[m.GetClusterName()] = m.GetAddress()
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// waitAgree polls every cluster of names (at addrs) until check accepts
// its DescribeNamespace answer, from the database and from its frontend's
// namespace cache, then waits settleAfterAgree.
func waitAgree(ctx context.Context, names []string, addrs map[string]string, tlsConfig *tls.Config, token, namespace string,
	check func(*workflowservice.DescribeNamespaceResponse) error) error {
	for _, name := range names {
		addr, ok := addrs[name]
		if !ok {
			return fmt.Errorf("cluster %q is not connected", name)
		}
		conn, err := Dial(addr, tlsConfig, token)
		if err != nil {
			return err
		}
		wf := workflowservice.NewWorkflowServiceClient(conn)
		err = poll(ctx, func() error {
			for _, weak := range []bool{false, true} {
				d, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace, WeakConsistency: weak})
				if err == nil {
					err = check(d)
				}
				if err != nil {
					where := "database"
					if weak {
						where = "frontend cache"
					}
					return fmt.Errorf("cluster %q (%s): %w", name, where, err)
				}
			}
			return nil
		})
		_ = conn.Close()
		if err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settleAfterAgree):
	}
	return nil
}

// waitPeers is the rest of WaitReady for a cluster of a replicating group:
// when its namespaces replicate to other clusters, each of those must be
// connected to it, answer, have the namespaces and list every other
// cluster of the group too.
func waitPeers(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string, tlsConfig *tls.Config, token string) error {
	wf := workflowservice.NewWorkflowServiceClient(conn)
	group := map[string]bool{}
	for _, ns := range namespaces {
		d, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		if err != nil {
			return fmt.Errorf("namespace %q: %w", ns, err)
		}
		if !d.GetIsGlobalNamespace() {
			continue
		}
		for _, c := range d.GetReplicationConfig().GetClusters() {
			group[c.GetClusterName()] = true
		}
	}
	if len(group) < 2 {
		return nil
	}
	names := sortedKeys(group)
	err := poll(ctx, func() error {
		addrs, err := clusterAddresses(ctx, conn)
		if err != nil {
			return err
		}
		for _, name := range names {
			addr, ok := addrs[name]
			if !ok {
				return fmt.Errorf("cluster %q is not connected yet", name)
			}
			peer, err := Dial(addr, tlsConfig, token)
			if err != nil {
				return err
			}
			err = func() error {
				defer func() { _ = peer.Close() }()
				probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if err := services.Probe(probeCtx, peer, namespaces); err != nil {
					return fmt.Errorf("cluster %q at %s: %w", name, addr, err)
				}
				theirs, err := clusterAddresses(ctx, peer)
				if err != nil {
					return fmt.Errorf("cluster %q at %s: %w", name, addr, err)
				}
				for _, other := range names {
					if _, ok := theirs[other]; !ok {
						return fmt.Errorf("cluster %q is not connected to %q yet", name, other)
					}
				}
				return nil
			}()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// As StartClusters does before it says ready: the services read the
	// cluster list on a timer.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * profiles.ClustersRefresh):
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
