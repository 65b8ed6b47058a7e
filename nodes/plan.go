package nodes

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// NodeFileFlag is the start flag that hands a node its node file
// (profiles.WriteNodeFile); a process started with it reads nothing else
// (no profiles, file or DEVCLUSTER_* environment).
const NodeFileFlag = "node-file"

// PlanOptions says how the nodes of a Plan are run.
type PlanOptions struct {
	// Exe is the devcluster executable each node runs.
	Exe string
	// Dir holds the nodes' config and ports files; it should be private
	// to the user (a config may hold a database password).
	Dir string
	// Env is the nodes' environment; nil: this process's.
	Env []string
	// Loaded, if set, gives the profiles and each key's origin, which the
	// nodes' errors name.
	Loaded *profiles.Loaded
}

// planned is the origin of the keys Plan sets per node.
const planned = "--nodes (chosen per node)"

// SharedCertDir gives a TLS cluster's nodes the directory of their shared
// CA: with tls.enabled and no tls.cert-dir (and not every file the
// user's), dir/certs, which the caller removes with dir. It reports
// whether it set one. Call it before validating cfg as a node's config.
func SharedCertDir(cfg *profiles.Config, dir string) bool {
	if !cfg.TLS.Enabled || cfg.TLS.CertDir != "" || (cfg.TLS.AllFilesGiven() && !cfg.Auth.Enabled) {
		return false
	}
	cfg.TLS.CertDir = filepath.Join(dir, "certs")
	return true
}

// Plan gives each node of specs its config: cfg with the node's roles,
// ringpop membership, a ports file in o.Dir and ports. The first node
// with a frontend gets cfg's frontend ports (a free one picked now for 0)
// and the Web UI; every node is told that frontend's address (the
// cluster metadata names it), except the other frontend nodes, which get
// free ports of their own and no UI. Roles' other ports are free ones,
// their membership ports chosen by each node at its first start and kept
// for restarts. cfg must be valid as a ringpop node (the caller checks,
// to refuse before anything starts).
func Plan(cfg profiles.Config, specs []Spec, o PlanOptions) (*Supervisor, error) {
	free := func() (int, error) { return netaddr.FreePort(cfg.IP) }
	fe := cfg.Services.Frontend
	port, httpPort := fe.GRPCPort, fe.HTTPPort
	var err error
	if port == 0 {
		if port, err = free(); err != nil {
			return nil, err
		}
	}
	if httpPort == 0 {
		if httpPort, err = free(); err != nil {
			return nil, err
		}
	}
	if cfg.TLS.Enabled && !cfg.TLS.AllFilesGiven() {
		// Made once, here, before any node: they load it (see
		// certs.EnsureAuthority), each issuing its own server certificate.
		if _, err := certs.EnsureAuthority(certs.Options{Dir: cfg.TLS.CertDir, Validity: cfg.TLS.Validity}); err != nil {
			msg := err.Error()
			var oe *certs.OptionError
			var ae *certs.AuthorityError
			switch {
			case errors.As(err, &oe):
				msg = oe.Msg
			case errors.As(err, &ae):
				msg = "holds the cluster's CA, which cannot be used: " + ae.Error()
			}
			return nil, &profiles.FieldError{Key: "tls.cert-dir", Value: cfg.TLS.CertDir, Msg: msg, Err: err}
		}
	}
	s := &Supervisor{PortsFile: cfg.PortsFile, StartupTimeout: cfg.Startup.Timeout, ShutdownTimeout: cfg.Shutdown.Timeout}
	for _, spec := range specs {
		c := cfg.Clone()
		c.Services.Run = spec.Roles
		c.Membership.Mode = profiles.MembershipRingpop
		c.PortsFile = filepath.Join(o.Dir, spec.Name+".ports.json")
		set := []string{"services.run", "membership.mode", "ports-file"}
		if cfg.TLS.CertDir == filepath.Join(o.Dir, "certs") {
			set = append(set, "tls.cert-dir") // SharedCertDir's
		}
		for _, role := range profiles.RoleNames {
			c.Services.Get(role).MembershipPort = 0
			set = append(set, "services."+role+".membership-port")
			if role == profiles.Frontend || !spec.Has(role) {
				continue
			}
			if c.Services.Get(role).GRPCPort, err = free(); err != nil {
				return nil, err
			}
			set = append(set, "services."+role+".grpc-port")
		}
		switch {
		case spec.Has(profiles.Frontend) && s.first == nil:
			c.Services.Frontend.GRPCPort, c.Services.Frontend.HTTPPort = port, httpPort
			if c.UI.Port == 0 && fe.GRPCPort == 0 && c.UI.Enabled { // free ports asked for: not port+1000
				if c.UI.Port, err = free(); err != nil {
					return nil, err
				}
				set = append(set, "ui.port")
			}
		case spec.Has(profiles.Frontend):
			own, ownHTTP := 0, -1
			if own, err = free(); err != nil {
				return nil, err
			}
			if httpPort != -1 {
				if ownHTTP, err = free(); err != nil {
					return nil, err
				}
			}
			c.Services.Frontend.GRPCPort, c.Services.Frontend.HTTPPort, c.UI.Enabled = own, ownHTTP, false
			set = append(set, "services.frontend.grpc-port", "services.frontend.http-port", "ui.enabled")
		default:
			c.Services.Frontend.GRPCPort, c.Services.Frontend.HTTPPort, c.UI.Enabled = port, httpPort, false
			set = append(set, "ui.enabled")
		}
		n := &Node{
			Spec: spec, Exe: o.Exe, Env: o.Env, Config: c, PortsFile: c.PortsFile,
			ConfigFile: filepath.Join(o.Dir, spec.Name+".yaml"),
			Loaded:     plannedOrigins(o.Loaded, set),
		}
		n.Args = []string{"start", "--" + NodeFileFlag, n.ConfigFile}
		s.Nodes = append(s.Nodes, n)
		if spec.Has(profiles.Frontend) && s.first == nil {
			s.first = n
		}
	}
	if s.first == nil {
		return nil, fmt.Errorf("no node runs a frontend")
	}
	return s, nil
}

// plannedOrigins is loaded's profiles and origins, with keys marked as
// set by Plan.
func plannedOrigins(loaded *profiles.Loaded, keys []string) *profiles.Loaded {
	out := &profiles.Loaded{Sources: map[string]string{}}
	if loaded != nil {
		out.Profiles, out.Sources = loaded.Profiles, maps.Clone(loaded.Sources)
	}
	for _, k := range keys {
		out.Sources[k] = planned
	}
	return out
}
