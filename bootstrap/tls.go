package bootstrap

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// prepareTLS resolves tls.* into files before anything starts: sections the
// user named are checked (each file parses, each key matches, each
// certificate is valid now and a server certificate covers the server
// name; see services.CheckTLSFiles), the others are
// taken from a generated set (tls.cert-dir, reused while valid, or a fresh
// temporary directory that cleanup removes). The returned config names every
// file, which is what services maps onto the server's global.tls. A mix of
// the user's and generated files works where devcluster can make it work
// (the user's frontend with generated client certificates: the frontend
// also trusts the generated CA, and clients check the frontend with
// tls.frontend.ca-file); one that cannot (a user's client certificate for a
// generated frontend CA) is refused here naming the keys
// (services.CheckTLSChains), with nothing started.
func prepareTLS(cfg profiles.Config, logger *slog.Logger) (profiles.Config, *certs.Set, func(), error) {
	noop := func() {}
	if !cfg.TLS.Enabled {
		return cfg, nil, noop, nil
	}
	out := cfg.Clone()
	if err := services.CheckTLSFiles(out.TLS, out.IP, time.Now()); err != nil {
		return cfg, nil, noop, err
	}
	t := &out.TLS
	if t.AllFilesGiven() {
		// Every file the user's own.
		if err := services.CheckTLSChains(out.TLS, cfg.TLS, out.IP, time.Now()); err != nil {
			return cfg, nil, noop, err
		}
		return out, nil, noop, nil
	}
	hosts := append([]string(nil), t.Hosts...)
	for _, ip := range []string{cfg.IP, cfg.UI.IP, cfg.Membership.BroadcastAddress} {
		if ip != "" && !netaddr.IsWildcard(ip) {
			hosts = append(hosts, ip)
		}
	}
	if cfg.Ringpop() || (t.CertDir != "" && certs.HasAuthority(t.CertDir)) {
		set, cleanup, err := nodeCerts(cfg, hosts, logger)
		if err != nil {
			return cfg, nil, noop, err
		}
		t.VerifyInternodeAddress = !cfg.TLS.Internode.Set() // its certificate names this node's addresses
		if err := resolveTLS(cfg, &out, set); err != nil {
			cleanup()
			return cfg, nil, noop, err
		}
		return out, set, cleanup, nil
	}
	dir, cleanup := t.CertDir, noop
	if dir == "" {
		d, c, err := certs.Temp()
		if err != nil {
			return cfg, nil, noop, err
		}
		dir, cleanup = d, c
	}
	set, generated, err := certs.Ensure(certs.Options{Dir: dir, Hosts: hosts, Validity: t.Validity})
	if err != nil {
		cleanup()
		return cfg, nil, noop, certsError(err, dir)
	}
	switch {
	case t.CertDir == "":
	case generated:
		logger.Info("certificates generated", "dir", dir, "reason", set.Reason, "expire", set.Expiry())
	default:
		logger.Info("certificates reused", "dir", dir, "expire", set.Expiry())
	}
	if err := resolveTLS(cfg, &out, set); err != nil {
		cleanup()
		return cfg, nil, noop, err
	}
	return out, set, cleanup, nil
}

// resolveTLS fills the sections of out.TLS the user left empty from set,
// and checks the chains.
func resolveTLS(cfg profiles.Config, out *profiles.Config, set *certs.Set) error {
	t := &out.TLS
	if !t.Internode.Set() {
		t.Internode = profiles.TLSFiles{CertFile: set.InternodeCert, KeyFile: set.InternodeKey, CAFile: set.InternodeCA}
	}
	userFrontend := t.Frontend.Set()
	if !userFrontend {
		t.Frontend = profiles.TLSFiles{CertFile: set.FrontendCert, KeyFile: set.FrontendKey, CAFile: set.FrontendCA}
	}
	if userFrontend && (!t.SystemWorker.Set() || !t.Client.Set()) {
		// The user's frontend with generated client certificates: only
		// devcluster's frontend CA can issue those (the user's CA key is
		// not ours), so the frontend accepts client certificates from it
		// too.
		t.FrontendClientCAFiles = append(t.FrontendClientCAFiles, set.FrontendCA)
	}
	if !t.SystemWorker.Set() {
		t.SystemWorker = profiles.TLSFiles{CertFile: set.SystemWorkerCert, KeyFile: set.SystemWorkerKey}
	}
	if !t.Client.Set() {
		// Clients check the frontend with the CA that signed it: the
		// user's own (tls.frontend.ca-file; CheckTLSChains says so when it
		// did not sign the frontend's certificate), or the generated one.
		ca := set.FrontendCA
		if userFrontend {
			ca = t.Frontend.CAFile
		}
		t.Client = profiles.TLSFiles{CertFile: set.ClientCert, KeyFile: set.ClientKey, CAFile: ca}
	}
	return services.CheckTLSChains(out.TLS, cfg.TLS, out.IP, time.Now())
}

// certsError names the config key behind a certs error: Hosts and
// Validity come from tls.hosts (or the cluster's ip) and tls.validity,
// Dir from tls.cert-dir.
func certsError(err error, dir string) error {
	var oe *certs.OptionError
	var ae *certs.AuthorityError
	switch {
	case errors.As(err, &oe) && oe.Field == "Dir":
		return &profiles.FieldError{Key: "tls.cert-dir", Value: dir, Msg: oe.Msg, Err: err}
	case errors.As(err, &oe):
		return &profiles.FieldError{Key: "tls." + strings.ToLower(oe.Field), Value: oe.Value, Msg: oe.Msg, Err: err}
	case errors.As(err, &ae):
		return &profiles.FieldError{Key: "tls.cert-dir", Value: dir, Msg: "holds the cluster's CA, which cannot be used: " + ae.Error(), Err: err}
	}
	return &profiles.FieldError{Key: "tls.cert-dir", Value: dir, Msg: err.Error()}
}

// nodeCerts is the certificate set of one node of a cluster spread over
// several processes: the cluster's authority in tls.cert-dir (made there
// by the first node, under a lock; see certs.EnsureAuthority) and this
// node's own server certificates for hosts, issued into a private
// temporary directory that cleanup removes.
func nodeCerts(cfg profiles.Config, hosts []string, logger *slog.Logger) (*certs.Set, func(), error) {
	dir := cfg.TLS.CertDir
	a, err := certs.EnsureAuthority(certs.Options{Dir: dir, Validity: cfg.TLS.Validity})
	if err != nil {
		return nil, nil, certsError(err, dir)
	}
	switch {
	case a.Created:
		logger.Info("cluster CA created", "dir", a.Dir, "expire", a.NotAfter)
	case a.Reason != "":
		logger.Info("cluster CA loaded, client certificates renewed", "dir", a.Dir, "reason", a.Reason, "expire", a.NotAfter)
	default:
		logger.Info("cluster CA loaded", "dir", a.Dir, "expire", a.NotAfter)
	}
	nodeDir, cleanup, err := certs.Temp()
	if err != nil {
		return nil, nil, err
	}
	set, err := a.IssueNode(nodeDir, hosts, cfg.TLS.Validity, time.Now())
	if err != nil {
		cleanup()
		return nil, nil, certsError(err, dir)
	}
	return set, cleanup, nil
}

// prepareAuth makes (or reuses, in tls.cert-dir) the token signing key and
// its JWKS, and mints the admin token devcluster's own calls and the banner
// use. The key lives with the certificates: in cert-dir it survives
// restarts, so tokens minted by `devcluster token` stay valid.
func prepareAuth(cfg profiles.Config, set *certs.Set) (profiles.Config, *auth.Key, string, func(), error) {
	noop := func() {}
	if !cfg.Auth.Enabled {
		return cfg, nil, "", noop, nil
	}
	dir, cleanup := cfg.Auth.KeyDir, noop
	if dir == "" {
		dir = cfg.TLS.CertDir
	}
	switch {
	case dir != "":
	case set != nil:
		dir = set.Dir // the temporary certificate directory, removed at stop
	default:
		d, c, err := certs.Temp()
		if err != nil {
			return cfg, nil, "", noop, err
		}
		dir, cleanup = d, c
	}
	key, err := ensureKey(dir, cfg.Auth.KeyDir != "" || cfg.TLS.CertDir != "")
	if err != nil {
		cleanup()
		return cfg, nil, "", noop, &profiles.FieldError{Key: "auth", Value: dir, Msg: err.Error()}
	}
	out := cfg.Clone()
	out.Auth.KeyDir = dir
	token, err := key.Mint(AdminGrant(cfg), time.Now())
	if err != nil {
		cleanup()
		return cfg, nil, "", noop, err
	}
	return out, key, token, cleanup, nil
}

// AdminGrant is the system-admin token devcluster mints for cfg's cluster
// (the banner's, its own calls'), with cfg's audience, claim and lifetime.
func AdminGrant(cfg profiles.Config) auth.Grant {
	return auth.Grant{Subject: "devcluster-admin", SystemAdmin: true, Audience: cfg.Auth.Audience,
		TTL: cfg.Auth.TokenTTL, ClaimName: cfg.Auth.PermissionsClaim}
}

// ensureKey is auth.EnsureKey, under the certificate directory's lock
// when it is shared: nodes starting together make one key, not one each.
func ensureKey(dir string, shared bool) (*auth.Key, error) {
	if shared {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("key directory %s cannot be created: %v", dir, oserr.Cause(err))
		}
		unlock, err := certs.Lock(dir)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	return auth.EnsureKey(dir)
}

// chain runs fs in order.
func chain(fs ...func()) func() {
	return func() {
		for _, f := range fs {
			f()
		}
	}
}
