package bootstrap

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// preparedTLS is one cluster's config with its TLS files resolved, and
// its certificate set, made by StartClusters before any cluster starts.
type preparedTLS struct {
	cfg     profiles.Config
	set     *certs.Set
	cleanup func()
}

// ClustersCAFile, in the clusters' certificate directory, holds every
// cluster's frontend CA: what their clients (and the servers replicating
// to each other) check a frontend's certificate with.
const ClustersCAFile = "clusters-frontend-ca.pem"

// prepareClustersTLS gives each of several replicating clusters its own
// PKI, as separate clusters have: its own CAs in dir/NAME (dir is
// tls.cert-dir, or a temporary directory that the returned cleanup
// removes), made or reused as a single cluster's are. Then it joins them
// for replication: each cluster's frontend also accepts client
// certificates from the others' frontend CAs, treats the others' system
// workers (which replication calls with) as its own, and every client
// checks frontends against ClustersCAFile, the bundle of all frontend
// CAs; replication presents the system worker's certificate
// (profiles.TLS.PeerHosts). With auth, the clusters share one signing key
// in dir, like clusters behind one identity provider, so a token works on
// each of them (failover waits on every cluster with one token).
func prepareClustersTLS(cfgs []profiles.Config, logger *slog.Logger) ([]preparedTLS, func(), error) {
	noop := func() {}
	if !cfgs[0].TLS.Enabled {
		return nil, noop, nil
	}
	dir, cleanup := cfgs[0].TLS.CertDir, noop
	if dir == "" {
		d, c, err := certs.Temp()
		if err != nil {
			return nil, noop, err
		}
		dir, cleanup = d, c
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, noop, &profiles.FieldError{Key: "tls.cert-dir", Value: dir, Msg: fmt.Sprintf("cannot be created: %v; create it or choose another directory", oserr.Cause(err))}
	}
	out := make([]preparedTLS, 0, len(cfgs))
	fail := func(err error) ([]preparedTLS, func(), error) {
		for _, p := range out {
			p.cleanup()
		}
		cleanup()
		return nil, noop, err
	}
	for _, cc := range cfgs {
		cc = cc.Clone()
		name := cc.Cluster.Name
		cc.TLS.CertDir = filepath.Join(dir, name)
		if cc.Auth.Enabled && cc.Auth.KeyDir == "" {
			cc.Auth.KeyDir = dir
		}
		resolved, set, c, err := prepareTLS(cc, logger.With("cluster", name))
		if err != nil {
			return fail(err)
		}
		out = append(out, preparedTLS{cfg: resolved, set: set, cleanup: c})
	}
	var bundle bytes.Buffer
	for _, p := range out {
		b, err := os.ReadFile(p.cfg.TLS.Client.CAFile)
		if err != nil {
			return fail(err)
		}
		bundle.Write(bytes.TrimSpace(b))
		bundle.WriteByte('\n')
	}
	caFile := filepath.Join(dir, ClustersCAFile)
	if err := atomicfile.Write(caFile, bundle.Bytes(), 0o644); err != nil {
		return fail(&profiles.FieldError{Key: "tls.cert-dir", Value: dir, Msg: fmt.Sprintf("cannot be written: %v", oserr.Cause(err))})
	}
	// The CAs each cluster's frontend takes client certificates from: its
	// frontend CA and, when the frontend is the user's, the generated CA
	// that issued its system-worker and client certificates.
	clientCAs := make([][]string, len(out))
	for i, p := range out {
		clientCAs[i] = append([]string{p.cfg.TLS.Frontend.CAFile}, p.cfg.TLS.FrontendClientCAFiles...)
	}
	for i := range out {
		t := &out[i].cfg.TLS
		for j, peer := range out {
			if i == j {
				continue
			}
			// The peer's system worker presents its certificate to this
			// frontend when replicating.
			t.FrontendClientCAFiles = append(t.FrontendClientCAFiles, clientCAs[j]...)
			t.PeerSystemWorkerCerts = append(t.PeerSystemWorkerCerts, peer.cfg.TLS.SystemWorker.CertFile)
			if h := netaddr.DialIP(peer.cfg.IP); !slices.Contains(t.PeerHosts, h) {
				t.PeerHosts = append(t.PeerHosts, h)
			}
		}
		t.Client.CAFile = caFile
	}
	return out, cleanup, nil
}
