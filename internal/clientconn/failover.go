package clientconn

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
)

// ErrNotGlobal reports a namespace that is local to one cluster: it does
// not replicate, so it cannot fail over.
var ErrNotGlobal = errors.New("namespace is not global")

// Failover makes namespace active on cluster to, through the frontend at
// addr (any cluster's), with UpdateNamespace as `temporal operator
// namespace update --active-cluster` does, then waits until every cluster
// addr is connected to agrees: its database and its frontend's namespace
// cache both name to as active. It returns how long the agreement took
// from the update. A namespace already active on to is not updated again.
// tlsConfig and token are as for WaitReady; every cluster takes the same.
// settle is how long to wait after every frontend agrees: history and
// matching keep their own copy of the namespace, refreshed on their own
// timer, and no API shows it.
func Failover(ctx context.Context, addr string, tlsConfig *tls.Config, token, namespace, to string, settle time.Duration) (time.Duration, error) {
	conn, err := Dial(addr, tlsConfig, "", token)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close() }()
	addrs, err := ClusterAddresses(ctx, conn)
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
	err = WaitAgree(ctx, members, addrs, tlsConfig, token, namespace, settle, func(d *workflowservice.DescribeNamespaceResponse) error {
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

// ClusterAddresses lists the clusters the cluster at conn knows (itself
// and the enabled remote ones): name -> frontend address.
func ClusterAddresses(ctx context.Context, conn grpc.ClientConnInterface) (map[string]string, error) {
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

// WaitAgree polls every cluster of names (at addrs) until check accepts
// its DescribeNamespace answer, from the database and from its frontend's
// namespace cache, then waits settle.
func WaitAgree(ctx context.Context, names []string, addrs map[string]string, tlsConfig *tls.Config, token, namespace string, settle time.Duration,
	check func(*workflowservice.DescribeNamespaceResponse) error) error {
	for _, name := range names {
		addr, ok := addrs[name]
		if !ok {
			return fmt.Errorf("cluster %q is not connected", name)
		}
		conn, err := Dial(addr, tlsConfig, "", token)
		if err != nil {
			return err
		}
		wf := workflowservice.NewWorkflowServiceClient(conn)
		err = Poll(ctx, nil, nil, func(context.Context) error {
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
	return sleep(ctx, settle)
}

// sleep waits d, or less when ctx ends (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitPeers is the rest of WaitReady for a cluster of a replicating group:
// when its namespaces replicate to other clusters, each of those must be
// connected to it, answer, have the namespaces and list every other
// cluster of the group too.
func waitPeers(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string, tlsConfig *tls.Config, token string, settle time.Duration) error {
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
	err := Poll(ctx, nil, nil, func(context.Context) error {
		addrs, err := ClusterAddresses(ctx, conn)
		if err != nil {
			return err
		}
		for _, name := range names {
			addr, ok := addrs[name]
			if !ok {
				return fmt.Errorf("cluster %q is not connected yet", name)
			}
			peer, err := Dial(addr, tlsConfig, "", token)
			if err != nil {
				return err
			}
			err = func() error {
				defer func() { _ = peer.Close() }()
				probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if err := Probe(probeCtx, peer, namespaces); err != nil {
					return fmt.Errorf("cluster %q at %s: %w", name, addr, err)
				}
				theirs, err := ClusterAddresses(ctx, peer)
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
	return sleep(ctx, settle) // the services read the cluster list on a timer
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
