package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/nodes"
	"github.com/devcluster/devcluster/profiles"
)

// printNodesBanner is the one banner of all the nodes (they print none).
func printNodesBanner(w io.Writer, s *nodes.Supervisor, loaded *profiles.Loaded, clientProfile string, took time.Duration) {
	f := s.First().Ports()
	cfg := loaded.Config
	fmt.Fprintf(w, "devcluster ready in %s: %d nodes of one cluster, Temporal server %s\n\n", took.Round(time.Millisecond), len(s.Nodes), bootstrap.ServerVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, n := range s.Nodes {
		var addrs []string
		for _, role := range n.Roles {
			addrs = append(addrs, role+" "+n.Ports().Services[role])
		}
		fmt.Fprintf(tw, "  %s\t%s\tpid %d\t%s\n", n.Name, n.Runs(), n.PID(), strings.Join(addrs, ", "))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var fronts []string
	for _, n := range s.Nodes {
		if n.Has(profiles.Frontend) {
			fronts = append(fronts, fmt.Sprintf("%s (%s)", n.Ports().Frontend, n.Name))
		}
	}
	fmt.Fprintf(tw, "  Frontend (gRPC)\t%s\n", strings.Join(fronts, ", "))
	if f.HTTP != "" {
		fmt.Fprintf(tw, "  HTTP API\thttp://%s\n", f.HTTP)
	}
	fmt.Fprintf(tw, "  Namespaces\t%s\n", strings.Join(f.Namespaces, ", "))
	fmt.Fprintf(tw, "  Profiles\t%s\n", strings.Join(loaded.Profiles, ", "))
	if f.UI != "" {
		fmt.Fprintf(tw, "  Web UI\t%s\n", f.UI)
	}
	if cfg.PortsFile != "" {
		fmt.Fprintf(tw, "  Ports file\t%s\n", cfg.PortsFile)
	}
	if clientProfile != "" {
		fmt.Fprintf(tw, "  Client profile\t%s, written by %s: temporal --profile %s workflow list\n", clientProfile, s.First().Name, clientProfile)
	}
	if main, vis, err := cfg.Databases(); err == nil {
		fmt.Fprintf(tw, "  Database\tPostgreSQL %s (visibility: %s)\n", main, vis.Database)
	}
	restart := "off: a node that exits stays down (--restart starts it again)"
	if s.Restart {
		restart = "on: a node that exits is started again on its ports"
	}
	fmt.Fprintf(tw, "  Restart\t%s\n", restart)
	if s.Chaos != nil {
		fmt.Fprintf(tw, "  Chaos\tkills a node without a frontend every %s (seed %d; --chaos ...,seed=%d replays it)\n", s.Chaos.Every, s.Chaos.Seed, s.Chaos.Seed)
	}
	_ = tw.Flush()
	ns := profiles.DefaultNamespace
	if len(f.Namespaces) > 0 {
		ns = f.Namespaces[0]
	}
	token := ""
	if f.TLS != nil {
		printClientTLS(w, profiles.TLSFiles{CertFile: f.TLS.ClientCert, KeyFile: f.TLS.ClientKey, CAFile: f.TLS.CA}, f.TLS.ServerName)
		fmt.Fprintf(w, "Every node's certificates are issued by the cluster's CA in %s; internode traffic is mutual TLS.\n", f.TLS.CertDir)
		if f.TLS.Auth {
			if tok, err := nodesAdminToken(cfg, f.TLS.KeyDir); err == nil {
				token = tok
				printToken(w, tok, cfg.Auth.TokenTTL, authHeader(cfg), f.TLS.KeyDir)
			} else {
				fmt.Fprintf(w, "\nAuth is on, but no admin token could be minted: %v\n", err)
			}
		}
	}
	fmt.Fprintf(w, "\nConnect with the temporal CLI:\n")
	fmt.Fprintf(w, "  export TEMPORAL_ADDRESS=%s\n", f.Frontend)
	fmt.Fprintf(w, "  export TEMPORAL_NAMESPACE=%s\n", ns)
	if f.TLS != nil {
		fmt.Fprintf(w, "  (and the TEMPORAL_TLS_* variables above)\n")
	}
	if token != "" {
		fmt.Fprintf(w, "  export TEMPORAL_API_KEY=<the admin token above>\n")
	}
	fmt.Fprintf(w, "  temporal workflow list\n")
	fmt.Fprintf(w, "Connect with the Go SDK:\n")
	fmt.Fprintf(w, "  client.Dial(client.Options{HostPort: %q, Namespace: %q})\n", f.Frontend, ns)
	fmt.Fprintf(w, "\nPress Ctrl+C to stop.\n")
}

// nodesAdminToken mints the banner's admin token with the signing key the
// nodes share in certDir.
func nodesAdminToken(cfg profiles.Config, certDir string) (string, error) {
	key, err := auth.LoadKey(certDir)
	if err != nil {
		return "", err
	}
	return key.Mint(bootstrap.AdminGrant(cfg), time.Now())
}
