package profiles

import (
	"strings"
	"testing"
)

func TestValidateClusters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // part of the clusters error; "" means valid
	}{
		{"two names", func(c *Config) { c.Clusters = []string{"a", "b"} }, ""},
		{"three names with a port", func(c *Config) { c.Clusters = []string{"a", "b:9233", "c"} }, ""},
		{"one name", func(c *Config) { c.Clusters = []string{"a"} }, "names one cluster"},
		{"duplicate", func(c *Config) { c.Clusters = []string{"a", "b", "a"} }, `names cluster "a" twice`},
		{"bad name", func(c *Config) { c.Clusters = []string{"a", "b.c"} }, "is not a cluster name"},
		{"bad port", func(c *Config) { c.Clusters = []string{"a", "b:http"} }, "is not a port"},
		{"frontend port of the first", func(c *Config) { c.Clusters = []string{"a", "b:7233"} },
			`gives cluster "b" port 7233 for its services.frontend.grpc-port, which cluster "a" uses for its services.frontend.grpc-port`},
		{"http port of the first", func(c *Config) { c.Clusters = []string{"a", "b:7243"} }, `which cluster "a" uses for its services.frontend.http-port`},
		{"ui port of the first", func(c *Config) {
			c.UI.Enabled = true
			c.Clusters = []string{"a", "b:8233"}
		}, `which cluster "a" uses for its ui.port`},
		{"ui port of the second", func(c *Config) {
			c.UI.Enabled = true
			c.Clusters = []string{"a:9233", "b:8233"}
		}, `gives cluster "b" port 9233 for its ui.port`},
		{"too many for the increment", func(c *Config) {
			c.Cluster.FailoverVersionIncrement = 2
			c.Clusters = []string{"a", "b", "c"}
		}, "raise the increment"},
		{"postgres", func(c *Config) {
			c.Persistence.URL = "postgres://u:p@127.0.0.1/temporal"
			c.Clusters = []string{"a", "b"}
		}, "every cluster needs a database of its own"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tc.mutate(&c)
			var got []string
			for _, fe := range FieldErrors(c.Validate()) {
				if fe.Key == "clusters" {
					got = append(got, fe.Error())
				}
			}
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatalf("Validate() = %v, want no clusters error", got)
				}
				return
			}
			for _, g := range got {
				if strings.Contains(g, tc.want) {
					return
				}
			}
			t.Fatalf("Validate() clusters errors = %q, want one containing %q", got, tc.want)
		})
	}
}

func TestClusterConfigs(t *testing.T) {
	t.Parallel()
	c := Default()
	c.UI.Enabled = true
	c.Metrics.Address = "127.0.0.1:9464"
	c.Persistence.File = "data/dev.db"
	c.Clusters = []string{"east", "west:9300"}
	cfgs, err := c.ClusterConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Fatalf("got %d configs, want 2", len(cfgs))
	}
	east, west := cfgs[0], cfgs[1]
	for _, cc := range cfgs {
		if err := cc.Validate(); err != nil {
			t.Errorf("cluster %s: Validate() = %v", cc.Cluster.Name, err)
		}
		if len(cc.Clusters) != 0 || !cc.Cluster.EnableGlobalNamespace {
			t.Errorf("cluster %s: clusters %v, global namespaces %v; want none, true", cc.Cluster.Name, cc.Clusters, cc.Cluster.EnableGlobalNamespace)
		}
		if v := cc.DynamicConfig.Values[ClusterMetadataRefreshKey]; v != ClustersRefresh.String() {
			t.Errorf("cluster %s: %s = %v, want %s", cc.Cluster.Name, ClusterMetadataRefreshKey, v, ClustersRefresh)
		}
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"east name", east.Cluster.Name, "east"},
		{"west name", west.Cluster.Name, "west"},
		{"east version", east.Cluster.InitialFailoverVersion, int64(1)},
		{"west version", west.Cluster.InitialFailoverVersion, int64(2)},
		{"east frontend", east.Services.Frontend.GRPCPort, 7233},
		{"east http", east.Services.Frontend.HTTPPort, 7243},
		{"west frontend", west.Services.Frontend.GRPCPort, 9300},
		{"west http", west.Services.Frontend.HTTPPort, 0},
		{"west ui", west.UI.Port, 0},
		{"west metrics", west.Metrics.Address, "127.0.0.1:0"},
		{"east file", east.Persistence.File, "data/dev.east.db"},
		{"west file", west.Persistence.File, "data/dev.west.db"},
		{"base untouched", c.Persistence.File, "data/dev.db"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	if _, set := c.DynamicConfig.Values[ClusterMetadataRefreshKey]; set {
		t.Errorf("ClusterConfigs changed the base config's dynamic config")
	}
}
