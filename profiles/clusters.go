package profiles

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ClusterMetadataRefreshKey and NamespaceRefreshKey are the server's
// refresh intervals of its cluster list and its namespace cache (default
// 10s and 2s). With clusters devcluster sets both to ClustersRefresh unless
// dynamic-config.values sets them: a remote cluster added through the admin
// API, and a namespace failed over, reach every service within that time.
const (
	ClusterMetadataRefreshKey = "system.clusterMetadataRefreshInterval"
	NamespaceRefreshKey       = "system.namespaceCacheRefreshInterval"
	ClustersRefresh           = 100 * time.Millisecond
	longPollKey               = "matching.longPollExpirationInterval"
)

// SeparateReplicationFlagKey makes the server's replication streams follow
// a remote cluster's replication switch instead of its connection switch;
// clusters turn it on.
const SeparateReplicationFlagKey = "history.enableSeparateReplicationEnableFlag"

const replicationSyncKey = "history.ReplicationStreamSyncStatusDuration"

// clusterNameRegex: cluster names become file names (dev.a.db) and the
// server's cluster names, so no dots, slashes or spaces.
var clusterNameRegex = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)

// ClusterSpec is one entry of the clusters key: "NAME" or "NAME:PORT",
// PORT being that cluster's frontend gRPC port.
type ClusterSpec struct {
	Name string
	// Port is the frontend gRPC port; 0: the first cluster's is
	// services.frontend.grpc-port, the others' a free port.
	Port int
}

// ParseClusterSpec parses "NAME" or "NAME:PORT".
func ParseClusterSpec(s string) (ClusterSpec, error) {
	name, port, hasPort := strings.Cut(strings.TrimSpace(s), ":")
	if !clusterNameRegex.MatchString(name) {
		return ClusterSpec{}, fmt.Errorf("%q is not a cluster name (a letter or digit, then letters, digits, '_' or '-'; at most 63), optionally followed by :PORT", s)
	}
	spec := ClusterSpec{Name: name}
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return ClusterSpec{}, fmt.Errorf("%q: %q is not a port (1-65535); leave :PORT out for a free one", s, port)
		}
		spec.Port = p
	}
	return spec, nil
}

// ClusterSpecs returns the parsed clusters key (nil when it is empty).
func (c Config) ClusterSpecs() ([]ClusterSpec, error) {
	out := make([]ClusterSpec, 0, len(c.Clusters))
	for _, s := range c.Clusters {
		spec, err := ParseClusterSpec(s)
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

// ClusterFile returns the database file of cluster name when the clusters
// share persistence.file's setting: dev.db -> dev.a.db. Empty path stays
// empty (in memory).
func ClusterFile(path, name string) string {
	if path == "" {
		return ""
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + name + ext
}

// ClusterConfigs returns the config of each cluster the clusters key
// names, in order; nil when it names none. Each is a single cluster's
// config (its Clusters is empty):
//   - cluster.name is the given name, cluster.initial-failover-version
//     counts up from the configured one (1, 2, ...), the failover version
//     increment is shared, and global namespaces are on;
//   - the first cluster keeps every configured port (NAME:PORT sets its
//     frontend port); the others get free ports, but for the frontend port
//     NAME:PORT gives (their Web UI is then at PORT+1000, as the first's);
//   - persistence.file and visibility.file, when set, become one file per
//     cluster (dev.db -> dev.a.db, dev.b.db);
//   - the refresh intervals are short (see ClustersRefresh).
func (c Config) ClusterConfigs() ([]Config, error) {
	specs, err := c.ClusterSpecs()
	if err != nil || len(specs) == 0 {
		return nil, err
	}
	out := make([]Config, len(specs))
	for i, spec := range specs {
		cc := c.Clone()
		cc.Clusters = nil
		cc.Cluster.Name = spec.Name
		cc.Cluster.InitialFailoverVersion = c.Cluster.InitialFailoverVersion + int64(i)
		cc.Cluster.EnableGlobalNamespace = true
		cc.Persistence.File = ClusterFile(c.Persistence.File, spec.Name)
		cc.Visibility.File = ClusterFile(c.Visibility.File, spec.Name)
		if i > 0 {
			cc.freePorts()
		}
		if spec.Port > 0 {
			cc.Services.Frontend.GRPCPort = spec.Port
		}
		cc.DynamicConfig.Values = clusterValues(cc.DynamicConfig.Values)
		out[i] = cc
	}
	return out, nil
}

// freePorts gives every service, the Web UI and the metrics endpoint of a
// cluster after the first a free port: the first keeps the configured ones.
func (c *Config) freePorts() {
	c.Cluster.ID = "" // each cluster its own
	for _, name := range RoleNames {
		s := c.Services.Get(name)
		s.GRPCPort, s.MembershipPort = 0, 0
		if s.HTTPPort > 0 {
			s.HTTPPort = 0
		}
	}
	c.UI.Port = 0
	if a := c.Metrics.Address; a != "" {
		if host, _, err := net.SplitHostPort(a); err == nil {
			c.Metrics.Address = net.JoinHostPort(host, "0")
		}
	}
	c.PortsFile = ""
}

// clusterValues adds to a cluster's dynamic-config values what replication
// between clusters needs, unless they set it.
func clusterValues(values map[string]any) map[string]any {
	if values == nil {
		values = map[string]any{}
	}
	for _, k := range []string{ClusterMetadataRefreshKey, NamespaceRefreshKey} {
		if !hasKey(values, k) {
			values[k] = ClustersRefresh.String()
		}
	}
	// bootstrap.StartClusters connects clusters first and turns
	// replication on after, so that no replication stream reaches a
	// cluster that does not know the caller yet.
	if !hasKey(values, SeparateReplicationFlagKey) {
		values[SeparateReplicationFlagKey] = true
	}
	// Workers poll every cluster, as a standby region's do; a poll that
	// reached a cluster while the namespace was standby there waits for
	// queries only, until the long poll ends (a minute), so after a
	// failover such workers took the new active cluster's first task
	// 9 s later (the rest of their poll). With 1 s polls: within ~1 s.
	if !hasKey(values, longPollKey) {
		values[longPollKey] = "1s"
	}
	// A replication stream's receiver acknowledges every 200ms, not
	// every second: StartClusters waits for the first acknowledgement
	// of every stream (a start of two clusters: -0.8 s).
	if !hasKey(values, replicationSyncKey) {
		values[replicationSyncKey] = "200ms"
	}
	return values
}

// hasKey reports whether m has key, compared without case as the server
// compares dynamic-config keys.
func hasKey(m map[string]any, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// fixedPorts lists the ports a single cluster's config binds for sure:
// key -> port.
func (c Config) fixedPorts() map[string]int {
	out := map[string]int{}
	for _, name := range RoleNames {
		s := c.Services.Get(name)
		prefix := "services." + name + "."
		if s.GRPCPort > 0 {
			out[prefix+"grpc-port"] = s.GRPCPort
		}
		if s.MembershipPort > 0 {
			out[prefix+"membership-port"] = s.MembershipPort
		}
		if name == Frontend && s.HTTPPort > 0 {
			out[prefix+"http-port"] = s.HTTPPort
		}
	}
	if c.UI.Enabled {
		switch {
		case c.UI.Port > 0:
			out["ui.port"] = c.UI.Port
		case c.Services.Frontend.GRPCPort > 0:
			out["ui.port"] = c.Services.Frontend.GRPCPort + UIPortOffset
		}
	}
	if a := c.Metrics.Address; a != "" {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if port, err := strconv.Atoi(p); err == nil && port > 0 {
				out["metrics.address"] = port
			}
		}
	}
	return out
}

// validateClusters checks the clusters key: at least two names, each once,
// and no port two clusters would both bind; and refuses what the clusters
// cannot share.
func (c Config) validateClusters(add addFunc) {
	if len(c.Clusters) == 0 {
		return
	}
	list := strconv.Quote(strings.Join(c.Clusters, ","))
	specs, err := c.ClusterSpecs()
	if err != nil {
		add("clusters", list, "%v", err)
		return
	}
	if len(specs) == 1 {
		add("clusters", list, "names one cluster; give at least two (e.g. --clusters a,b), or leave it out for a single cluster, whose namespaces need no replication")
		return
	}
	seen := map[string]int{}
	for i, s := range specs {
		if j, ok := seen[s.Name]; ok {
			add("clusters", list, "names cluster %q twice (entries %d and %d); each cluster needs a name of its own", s.Name, j+1, i+1)
			return
		}
		seen[s.Name] = i
	}
	if inc := c.Cluster.FailoverVersionIncrement; inc > 0 && c.Cluster.InitialFailoverVersion+int64(len(specs))-1 >= inc {
		add("clusters", list, "needs %d initial failover versions from %d on, and cluster.failover-version-increment %d allows them only below it; raise the increment", len(specs), c.Cluster.InitialFailoverVersion, inc)
	}
	if c.Persistence.URL != "" {
		add("clusters", list, "cannot run on persistence.url: every cluster needs a database of its own, and persistence.url names one; use in-memory or file (SQLite) databases")
	}
	cfgs, err := c.ClusterConfigs()
	if err != nil {
		return
	}
	type owner struct{ cluster, key string }
	used := map[int]owner{}
	for _, cc := range cfgs {
		ports := cc.fixedPorts()
		keys := make([]string, 0, len(ports))
		for k := range ports {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := ports[k]
			if prev, ok := used[p]; ok && prev.cluster != cc.Cluster.Name {
				add("clusters", list, "gives cluster %q port %d for its %s, which cluster %q uses for its %s; give %q another port (NAME:PORT), or none for a free one",
					cc.Cluster.Name, p, k, prev.cluster, prev.key, cc.Cluster.Name)
				continue
			}
			used[p] = owner{cc.Cluster.Name, k}
		}
	}
}
