package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

// printBanner tells a person everything needed to connect. It is printed
// only once the cluster is ready.
func printBanner(w io.Writer, c *bootstrap.Cluster, took time.Duration, loaded *profiles.Loaded, extra string) {
	cfg := c.Config()
	ns := c.Namespaces()
	fmt.Fprintf(w, "devcluster ready in %s: Temporal server %s\n\n", took.Round(time.Millisecond), bootstrap.ServerVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	node := cfg.Ringpop()
	if node {
		printNode(tw, c)
	}
	if !cfg.Runs(profiles.Frontend) {
		fmt.Fprintf(tw, "  Frontend (gRPC)\t%s (services.frontend.grpc-port; this node runs none)\n", c.FrontendAddr())
	} else {
		fmt.Fprintf(tw, "  Frontend (gRPC)\t%s\n", c.FrontendAddr())
	}
	if h := c.HTTPAddr(); h != "" && cfg.Runs(profiles.Frontend) {
		scheme := "http"
		if _, tlsOn := c.TLS(); tlsOn {
			scheme = "https"
		}
		fmt.Fprintf(tw, "  HTTP API\t%s://%s\n", scheme, h)
	}
	// What the cluster has, which on a database file from earlier runs is
	// more than the flags name; the config's own list if the cluster
	// cannot say.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	have, err := c.ListNamespaces(ctx)
	cancel()
	if err != nil {
		have = nil
		for _, n := range cfg.Namespaces {
			have = append(have, bootstrap.NamespaceInfo{Name: n.Name, SearchAttributes: n.SearchAttributes})
		}
	}
	names := make([]string, len(have))
	var sas []string
	for i, n := range have {
		names[i] = n.Name
		if c.TimeSkipping(n.Name) {
			names[i] += " (skips time)"
		}
		if len(n.SearchAttributes) == 0 {
			continue
		}
		var parts []string
		for name, typ := range n.SearchAttributes {
			parts = append(parts, name+" ("+typ+")")
		}
		slices.Sort(parts)
		sas = append(sas, n.Name+": "+strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "  Namespaces\t%s\n", strings.Join(names, ", "))
	fmt.Fprintf(tw, "  Profiles\t%s\n", strings.Join(loaded.Profiles, ", "))
	for i, line := range sas {
		label := "  Search attributes"
		if i > 0 {
			label = "  "
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, line)
	}
	if u := c.UIURL(); u != "" {
		fmt.Fprintf(tw, "  Web UI\t%s\n", u)
	}
	if m := c.MetricsAddr(); m != "" {
		fmt.Fprintf(tw, "  Metrics\thttp://%s/metrics (health: /healthz, readiness: /readyz)\n", m)
	}
	if cfg.Archival.History.Enabled || cfg.Archival.Visibility.Enabled {
		fmt.Fprintf(tw, "  Archival\t%s\n", archivalLine(cfg.Archival))
	}
	if cfg.PortsFile != "" {
		fmt.Fprintf(tw, "  Ports file\t%s\n", cfg.PortsFile)
	}
	if cfg.Faults.File != "" || len(cfg.Faults.Rules) > 0 {
		from := "faults.rules"
		if cfg.Faults.File != "" {
			from = cfg.Faults.File + "; edits apply at once"
		}
		fmt.Fprintf(tw, "  Faults\t%d rules in force, seed %d (%s; counted in devcluster_faults_injected_total)\n",
			len(c.Faults().Active()), c.Faults().Seed(), from)
	}
	if main, vis, err := cfg.Databases(); err == nil && cfg.Persistence.Postgres() {
		fmt.Fprintf(tw, "  Database\tPostgreSQL %s (visibility: %s)\n", main, vis.Database)
	} else if cfg.Persistence.InMemory() {
		fmt.Fprintf(tw, "  Database\tin memory (lost when devcluster exits; --db-file PATH keeps it)\n")
	} else {
		fmt.Fprintf(tw, "  Database\t%s\n", cfg.Persistence.File)
	}
	if !node {
		var svcs []string
		for _, name := range profiles.RoleNames[1:] {
			svcs = append(svcs, fmt.Sprintf("%s :%d", name, cfg.Services.Get(name).GRPCPort))
		}
		fmt.Fprintf(tw, "  Other services\t%s\n", strings.Join(svcs, ", "))
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\nConnect with the temporal CLI:\n")
	fmt.Fprintf(w, "  export TEMPORAL_ADDRESS=%s\n", c.FrontendAddr())
	fmt.Fprintf(w, "  export TEMPORAL_NAMESPACE=%s\n", ns[0])
	fmt.Fprintf(w, "  temporal workflow list\n")
	fmt.Fprintf(w, "Connect with the Go SDK:\n")
	fmt.Fprintf(w, "  client.Dial(client.Options{HostPort: %q, Namespace: %q})\n", c.FrontendAddr(), ns[0])
	printTLS(w, c)
	fmt.Fprint(w, extra)
	fmt.Fprintf(w, "\nPress Ctrl+C to stop.\n")
}

func archivalLine(a profiles.Archival) string {
	var parts []string
	if a.History.Enabled {
		parts = append(parts, "history in "+a.History.Dir)
	}
	if a.Visibility.Enabled {
		parts = append(parts, "visibility in "+a.Visibility.Dir)
	}
	return strings.Join(parts, ", ")
}

// printNode says what a node of a cluster spread over processes runs (each
// role's gRPC and ringpop ports) and which members the cluster has.
func printNode(tw io.Writer, c *bootstrap.Cluster) {
	cfg := c.Config()
	var runs []string
	for _, name := range cfg.Roles() {
		runs = append(runs, fmt.Sprintf("%s %s (ring %s)", name, c.ServiceAddr(name), c.MembershipAddr(name)))
	}
	fmt.Fprintf(tw, "  This node runs\t%s\n", strings.Join(runs, ", "))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	members, err := c.Members(ctx)
	if err != nil {
		fmt.Fprintf(tw, "  Cluster members\tunknown: %v\n", err)
		return
	}
	var parts []string
	for _, role := range profiles.RoleNames {
		parts = append(parts, fmt.Sprintf("%s %d", role, len(members[role])))
	}
	fmt.Fprintf(tw, "  Cluster members\t%s (ringpop, seeded from the database)\n", strings.Join(parts, ", "))
	if len(members[profiles.Worker]) == 0 {
		fmt.Fprintf(tw, "  \tno worker role yet: the server's system workflows (schedules, batch operations) wait for one\n")
	}
}
