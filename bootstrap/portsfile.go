package bootstrap

import (
	"context"
	"net/url"
	"time"

	"github.com/devcluster/devcluster/internal/portsfile"
	"github.com/devcluster/devcluster/profiles"
)

// UIURLWithoutToken is UIURL without its sign-in token: what a ports file
// (read by scripts, kept as a CI artefact) and the clusters' banner say.
func (c *Cluster) UIURLWithoutToken() string {
	if u, err := url.Parse(c.UIURL()); err == nil && u.Host != "" {
		u.RawQuery = ""
		return u.String()
	}
	return ""
}

// Ports is what --ports-file says of c, and with group of every cluster
// of it (c is then its first); see internal/portsfile.
func Ports(c *Cluster, group *Clusters) portsfile.Ports {
	p := portsfile.Ports{Frontend: c.FrontendAddr(), HTTP: c.HTTPAddr(), Metrics: c.MetricsAddr(), UI: c.UIURLWithoutToken(),
		Services: map[string]string{}, Namespaces: c.Namespaces()}
	cfg := c.Config()
	if t, ok := c.TLS(); ok {
		p.TLS = &portsfile.TLS{ClientCert: t.Client.CertFile, ClientKey: t.Client.KeyFile, CA: t.Client.CAFile, ServerName: t.ServerName,
			CertDir: t.CertDir}
		if cfg.Auth.Enabled {
			p.TLS.Auth, p.TLS.KeyDir = true, cfg.Auth.KeyDir
		}
	}
	for _, name := range cfg.Roles() {
		p.Services[name] = c.ServiceAddr(name)
	}
	if group != nil {
		p.Clusters = map[string]portsfile.Cluster{}
		group.Each(func(name string, c *Cluster) {
			cp := portsfile.Cluster{Frontend: c.FrontendAddr(), HTTP: c.HTTPAddr(), UI: c.UIURLWithoutToken(), Metrics: c.MetricsAddr(), Services: map[string]string{}}
			for _, s := range profiles.RoleNames {
				cp.Services[s] = c.ServiceAddr(s)
			}
			p.Clusters[name] = cp
		})
	}
	if cfg.Ringpop() {
		if !cfg.Runs(profiles.Frontend) {
			p.Frontend, p.HTTP = "", "" // the cluster's frontends are on other nodes
		}
		p.Node = nodePorts(c)
	}
	return p
}

// nodePorts reads what a ringpop node runs and the cluster's members.
func nodePorts(c *Cluster) *portsfile.Node {
	cfg := c.Config()
	n := &portsfile.Node{Runs: cfg.Roles(), Membership: map[string]string{}, Members: map[string][]string{}}
	for _, name := range n.Runs {
		n.Membership[name] = c.MembershipAddr(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	members, err := c.Members(ctx)
	if err != nil {
		return n
	}
	for role, ms := range members {
		for _, m := range ms {
			n.Members[role] = append(n.Members[role], m.Address)
		}
	}
	n.WaitingFor = MissingRoles(members)
	return n
}
