// Package certs is a throwaway PKI for devcluster's mTLS.
//
// Ensure creates (or reuses) a directory holding two independent certificate
// authorities and the leaf certificates a local Temporal cluster needs:
//
//   - the internode CA (internode-ca.pem) signs internode.pem, a combined
//     server+client certificate used by every service for backend
//     (history, matching, internal-frontend) traffic;
//   - the frontend CA (frontend-ca.pem) signs frontend.pem, the frontend
//     server certificate, plus two client certificates: client.pem for SDKs,
//     the CLI and the UI, and system-worker.pem for the server's own system
//     worker.
//
// Keeping the CAs separate means a certificate handed to an SDK client can
// never be used to join the cluster as a backend node, and vice versa.
//
// The files map onto Temporal's global.tls configuration like this:
//
//	internode:
//	  server: {certFile: internode.pem, keyFile: internode-key.pem,
//	           requireClientAuth: true, clientCaFiles: [internode-ca.pem]}
//	  client: {rootCaFiles: [internode-ca.pem]}
//	frontend:
//	  server: {certFile: frontend.pem, keyFile: frontend-key.pem,
//	           requireClientAuth: true, clientCaFiles: [frontend-ca.pem]}
//	  client: {rootCaFiles: [frontend-ca.pem]}
//	systemWorker:
//	  certFile: system-worker.pem
//	  keyFile: system-worker-key.pem
//	  client: {rootCaFiles: [frontend-ca.pem]}
//
// SDK clients use client.pem/client-key.pem with frontend-ca.pem as their
// root CA; Set.ClientTLS builds the matching *tls.Config.
//
// The CA private keys are never written to disk: the PKI is throwaway, so
// whenever anything is missing, invalid or about to expire the whole set is
// regenerated with fresh CAs. All keys are ECDSA P-256 in PKCS#8 form
// ("PRIVATE KEY" PEM blocks), which every Temporal SDK can load.
//
// Ensure is not safe for concurrent use by several processes on the same
// directory: two processes regenerating at once can leave a mixed set (which
// the next Ensure detects and regenerates).
package certs

import (
	"fmt"
	"github.com/devcluster/devcluster/internal/oserr"
	"os"
	"path/filepath"
	"time"
)

// File names inside Options.Dir. They are fixed so that other tools (and
// people) can find the files without asking this package.
const (
	InternodeCAFile      = "internode-ca.pem"
	InternodeCertFile    = "internode.pem"
	InternodeKeyFile     = "internode-key.pem"
	FrontendCAFile       = "frontend-ca.pem"
	FrontendCertFile     = "frontend.pem"
	FrontendKeyFile      = "frontend-key.pem"
	ClientCertFile       = "client.pem"
	ClientKeyFile        = "client-key.pem"
	SystemWorkerCertFile = "system-worker.pem"
	SystemWorkerKeyFile  = "system-worker-key.pem"
)

// Common names of the generated certificates.
const (
	InternodeCACommonName  = "devcluster internode CA"
	FrontendCACommonName   = "devcluster frontend CA"
	InternodeCommonName    = "devcluster internode"
	FrontendCommonName     = "devcluster frontend"
	ClientCommonName       = "devcluster-client"
	SystemWorkerCommonName = "temporal-system-worker"
	organization           = "devcluster"
	defaultValidity        = 72 * time.Hour
	maxRenewWindow         = time.Hour
	backdate               = 5 * time.Minute // tolerate small clock skew between processes
)

// DefaultHosts are always included in the SANs of the server certificates.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// Options configures Ensure.
type Options struct {
	// Dir is the directory holding the certificates. It is created (0700)
	// if missing. Required.
	Dir string
	// Hosts are extra DNS names or IP addresses added to the SANs of the
	// server certificates (internode.pem and frontend.pem), on top of
	// DefaultHosts. Include every address services are reached at, e.g. the
	// membership broadcast address when it is not loopback.
	Hosts []string
	// Validity is how long generated certificates are valid. Default 72h.
	Validity time.Duration
	// Now returns the current time. Default time.Now; tests override it.
	Now func() time.Time
}

// Set describes a complete certificate set on disk. All paths are absolute.
type Set struct {
	Dir string

	InternodeCA   string // internode CA certificate
	InternodeCert string // internode server+client certificate
	InternodeKey  string

	FrontendCA   string // frontend CA certificate
	FrontendCert string // frontend server certificate
	FrontendKey  string

	ClientCert string // client certificate for SDKs, CLI and UI
	ClientKey  string

	SystemWorkerCert string // client certificate for the server's system worker
	SystemWorkerKey  string

	// Hosts are the normalized SANs of the server certificates
	// (DefaultHosts followed by Options.Hosts, deduplicated).
	Hosts []string
	// NotAfter is the earliest expiry of any certificate in the set.
	NotAfter time.Time
	// Reason says, for humans, why the set was (re)generated, e.g.
	// "no certificates in /tmp/x" or "server certificate
	// /tmp/x/frontend.pem lacks SAN 10.0.0.5". Empty when the existing set
	// was reused.
	Reason string
}

// Expiry returns the earliest expiry of any certificate in the set.
func (s *Set) Expiry() time.Time { return s.NotAfter }

// Ensure makes sure opts.Dir holds a complete, valid certificate set and
// returns it.
//
// An existing set is reused (generated == false) when every file is present
// and parses, every key matches its certificate, no certificate expires
// within a tenth of opts.Validity or one hour (whichever is less), both
// server certificates cover every requested host, and every leaf verifies
// against its own CA with the right extended key usage. Otherwise the whole
// set is regenerated (generated == true) and Set.Reason says why.
//
// Files are written atomically (temporary file + rename): keys 0600,
// certificates 0644.
func Ensure(opts Options) (*Set, bool, error) {
	opts, dir, err := opts.normalized("a directory (certs.Temp can create one)")
	if err != nil {
		return nil, false, err
	}
	hosts, err := normalizeHosts(opts.Hosts)
	if err != nil {
		return nil, false, err
	}
	set := newSet(dir, hosts)
	now := opts.Now()

	dirExists, err := checkDir(dir)
	if err != nil {
		return nil, false, err
	}
	if dirExists {
		reason, notAfter := set.validate(now, renewWindow(opts.Validity))
		if reason == "" {
			set.NotAfter = notAfter
			return set, false, nil
		}
		set.Reason = reason
	} else {
		set.Reason = "no certificates in " + dir
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, false, dirError(dir, err, "cannot be created: %v; create it yourself or choose a writable location", oserr.Cause(err))
		}
	}

	if err := set.generate(now, opts.Validity); err != nil {
		return nil, false, err
	}
	// Re-read what was written: catches anything odd about the directory
	// (e.g. a filesystem that mangles modes or contents) right away.
	reason, notAfter := set.validate(now, renewWindow(opts.Validity))
	if reason != "" {
		return nil, false, dirError(dir, nil, "holds freshly generated certificates that are invalid: %s; "+
			"delete the directory or choose another one", reason)
	}
	set.NotAfter = notAfter
	return set, true, nil
}

// normalized checks opts' Dir and Validity and fills in the defaults; it
// returns the absolute directory. dirHint says what Dir should be.
func (opts Options) normalized(dirHint string) (Options, string, error) {
	if opts.Dir == "" {
		return opts, "", &OptionError{Field: "Dir", Msg: "is empty; set it to " + dirHint}
	}
	if opts.Validity < 0 {
		return opts, "", &OptionError{Field: "Validity", Value: opts.Validity.String(),
			Msg: fmt.Sprintf("is negative; use a positive duration or 0 for the default %v", defaultValidity)}
	}
	if opts.Validity == 0 {
		opts.Validity = defaultValidity
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return opts, "", dirError(opts.Dir, err, "cannot be resolved: %v; give an absolute path", err)
	}
	return opts, dir, nil
}

// renewWindow is how close to expiry a set may get before it is replaced.
func renewWindow(validity time.Duration) time.Duration {
	return min(validity/10, maxRenewWindow)
}
