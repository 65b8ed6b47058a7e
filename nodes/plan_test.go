package nodes

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

// TestPlan: one config becomes a config per node. The first frontend node
// has the cluster's frontend address and the Web UI; the other frontend
// node has ports of its own and no UI; the other nodes are told the
// cluster's frontend; each has its roles, ringpop, its own ports file and
// free gRPC ports, and membership ports left to its first start. A node
// started from the plan reads exactly that config, and its errors name
// the keys the plan set as set by --nodes.
func TestPlan(t *testing.T) {
	cfg := profiles.Default()
	cfg.Persistence.URL = "postgres://devcluster@127.0.0.1:5432/plan"
	cfg.Services.Frontend.GRPCPort, cfg.Services.Frontend.HTTPPort = 0, 0
	cfg.UI.Enabled = true
	cfg.PortsFile = filepath.Join(t.TempDir(), "cluster.json")
	specs, _, err := ParseSpec("frontend+worker,history,frontend,matching")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	loaded := &profiles.Loaded{Profiles: []string{"dev"}, Sources: map[string]string{"persistence.url": "flag --db-url"}}
	s, err := Plan(cfg, specs, PlanOptions{Exe: "/bin/true", Dir: dir, Loaded: loaded})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 4 || s.First() != s.Nodes[0] || s.PortsFile != cfg.PortsFile {
		t.Fatalf("%d nodes, first %v, ports file %q", len(s.Nodes), s.First(), s.PortsFile)
	}
	first := s.Nodes[0].Config.Services.Frontend
	if first.GRPCPort == 0 || first.HTTPPort == 0 || s.Nodes[0].Config.UI.Port == 0 || !s.Nodes[0].Config.UI.Enabled {
		t.Errorf("first frontend node: frontend %+v, UI %+v; want free ports picked and the UI", first, s.Nodes[0].Config.UI)
	}
	other := s.Nodes[2].Config
	if other.Services.Frontend.GRPCPort == first.GRPCPort || other.Services.Frontend.HTTPPort == first.HTTPPort || other.UI.Enabled {
		t.Errorf("second frontend node: frontend %+v, UI on %v; want ports of its own and no UI", other.Services.Frontend, other.UI.Enabled)
	}
	files := map[string]bool{}
	for _, n := range s.Nodes {
		c := n.Config
		if !slices.Equal(c.Services.Run, n.Roles) || c.Membership.Mode != profiles.MembershipRingpop {
			t.Errorf("%s runs %v with membership %q", n, c.Services.Run, c.Membership.Mode)
		}
		if !n.Has(profiles.Frontend) && (c.Services.Frontend.GRPCPort != first.GRPCPort || c.UI.Enabled) {
			t.Errorf("%s is told frontend port %d (UI %v), want the cluster's %d and no UI", n, c.Services.Frontend.GRPCPort, c.UI.Enabled, first.GRPCPort)
		}
		for _, role := range n.Roles {
			if role != profiles.Frontend && c.Services.Get(role).GRPCPort == 0 {
				t.Errorf("%s: %s has no gRPC port", n, role)
			}
			if c.Services.Get(role).MembershipPort != 0 {
				t.Errorf("%s: %s membership port %d, want 0 (chosen at its first start)", n, role, c.Services.Get(role).MembershipPort)
			}
		}
		for _, f := range []string{n.PortsFile, n.ConfigFile} {
			if filepath.Dir(f) != dir || files[f] {
				t.Errorf("%s: file %s not its own in %s", n, f, dir)
			}
			files[f] = true
		}
		if want := []string{"start", "--" + NodeFileFlag, n.ConfigFile}; !slices.Equal(n.Args, want) {
			t.Errorf("%s: args %v, want %v", n, n.Args, want)
		}
	}

	n := s.Nodes[1]
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if err := n.Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := profiles.LoadNodeFile(n.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(profiles.ToMap(got.Config), profiles.ToMap(n.Config)) {
		t.Errorf("the node file holds another config:\n got %v\nwant %v", profiles.ToMap(got.Config), profiles.ToMap(n.Config))
	}
	for key, want := range map[string]string{"persistence.url": "flag --db-url", "services.history.grpc-port": planned, "ports-file": planned} {
		if o := got.Origin(key); o != want {
			t.Errorf("origin of %s: %q, want %q", key, o, want)
		}
	}
}
