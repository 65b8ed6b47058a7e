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
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	InternodeCACommonName              = "devcluster internode CA"
	FrontendCACommonName               = "devcluster frontend CA"
	InternodeCommonName                = "devcluster internode"
	FrontendCommonName                 = "devcluster frontend"
	ClientCommonName                   = "devcluster-client"
	SystemWorkerCommonName             = "temporal-system-worker"
	organization                       = "devcluster"
	defaultValidity                    = 72 * time.Hour
	maxRenewWindow                     = time.Hour
	backdate                           = 5 * time.Minute // tolerate small clock skew between processes
	keyMode                fs.FileMode = 0o600
	certMode               fs.FileMode = 0o644
	dirMode                fs.FileMode = 0o700
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

// OptionError is a problem with one Options field. Its message names the
// field the Go way ("certs: Options.Dir /x is a file, ..."); front ends that
// take the field from a flag or a config key render Value and Msg under
// their own name instead ("flag --dir: /x is a file, ...").
type OptionError struct {
	// Field is the Options field: "Dir", "Hosts" or "Validity".
	Field string
	// Value is the offending value (a path, a host, a duration); may be "".
	Value string
	// Msg says what is wrong and how to fix it without naming the field,
	// e.g. "is a file, not a directory; remove it or choose a directory".
	Msg string
	// Err is the underlying error, if any.
	Err error
}

func (e *OptionError) Error() string {
	if e.Value == "" {
		return "certs: Options." + e.Field + " " + e.Msg
	}
	return "certs: Options." + e.Field + " " + e.Value + " " + e.Msg
}

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }

// dirError is an OptionError about Options.Dir.
func dirError(dir string, err error, format string, args ...any) *OptionError {
	return &OptionError{Field: "Dir", Value: dir, Msg: fmt.Sprintf(format, args...), Err: err}
}

// pathErr drops the operation and path an *os.PathError repeats.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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

// ClientTLS returns a TLS client configuration for SDK clients talking to the
// frontend: it presents client.pem and trusts only the frontend CA.
//
// serverName is the name to verify the frontend certificate against; it must
// be one of Set.Hosts. An empty serverName leaves tls.Config.ServerName empty
// so that the dialer infers it from the address it connects to (as
// tls.Dial and gRPC do).
func (s *Set) ClientTLS(serverName string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("certs: cannot load client certificate %s with key %s: %w; "+
			"run certs.Ensure again (or delete %s) to regenerate the set", s.ClientCert, s.ClientKey, err, s.Dir)
	}
	ca, err := readCert(s.FrontendCA)
	if err != nil {
		return nil, fmt.Errorf("certs: %w; run certs.Ensure again (or delete %s) to regenerate the set", err, s.Dir)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// Temp creates a fresh, private (0700) temporary directory for a certificate
// set. cleanup removes it and everything in it; it is safe to call more than
// once.
func Temp() (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "devcluster-certs-*")
	if err != nil {
		return "", nil, fmt.Errorf("certs: cannot create temporary directory: %w; check $TMPDIR", err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("certs: cannot restrict permissions of %s: %w", dir, err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

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
	if opts.Dir == "" {
		return nil, false, &OptionError{Field: "Dir", Msg: "is empty; set it to a directory (certs.Temp can create one)"}
	}
	if opts.Validity < 0 {
		return nil, false, &OptionError{Field: "Validity", Value: opts.Validity.String(),
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
		return nil, false, dirError(opts.Dir, err, "cannot be resolved: %v; give an absolute path", err)
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
			return nil, false, dirError(dir, err, "cannot be created: %v; create it yourself or choose a writable location", pathErr(err))
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

// renewWindow is how close to expiry a set may get before it is replaced.
func renewWindow(validity time.Duration) time.Duration {
	return min(validity/10, maxRenewWindow)
}

func newSet(dir string, hosts []string) *Set {
	p := func(name string) string { return filepath.Join(dir, name) }
	return &Set{
		Dir:              dir,
		InternodeCA:      p(InternodeCAFile),
		InternodeCert:    p(InternodeCertFile),
		InternodeKey:     p(InternodeKeyFile),
		FrontendCA:       p(FrontendCAFile),
		FrontendCert:     p(FrontendCertFile),
		FrontendKey:      p(FrontendKeyFile),
		ClientCert:       p(ClientCertFile),
		ClientKey:        p(ClientKeyFile),
		SystemWorkerCert: p(SystemWorkerCertFile),
		SystemWorkerKey:  p(SystemWorkerKeyFile),
		Hosts:            hosts,
	}
}

func (s *Set) files() []string {
	return []string{
		s.InternodeCA, s.InternodeCert, s.InternodeKey,
		s.FrontendCA, s.FrontendCert, s.FrontendKey,
		s.ClientCert, s.ClientKey,
		s.SystemWorkerCert, s.SystemWorkerKey,
	}
}

// checkDir reports whether dir exists, failing if it exists but is not a
// directory.
func checkDir(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, dirError(dir, err, "cannot be accessed: %v; "+
			"fix the path (is a parent a file?) or its permissions, or choose another location", pathErr(err))
	case !fi.IsDir():
		return false, dirError(dir, nil, "is a file, not a directory; remove it or choose a directory")
	}
	return true, nil
}

// normalizeHosts returns DefaultHosts followed by extra, deduplicated, with
// IPs in canonical form and DNS names lower-cased.
func normalizeHosts(extra []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), DefaultHosts...), extra...) {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if !validDNSName(h) {
				return nil, &OptionError{Field: "Hosts", Value: strconv.Quote(h),
					Msg: "is not a host: want a DNS name or an IP address, without port"}
			}
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '*':
		default:
			return false
		}
	}
	return true
}

// --- validation -------------------------------------------------------------

// validate checks the set on disk. It returns "" and the earliest expiry if
// the set can be reused, or a human-readable reason why it cannot.
func (s *Set) validate(now time.Time, window time.Duration) (reason string, notAfter time.Time) {
	var missing []string
	for _, f := range s.files() {
		if _, err := os.Lstat(f); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, filepath.Base(f))
		}
	}
	switch {
	case len(missing) == len(s.files()):
		return "no certificates in " + s.Dir, time.Time{}
	case len(missing) > 0:
		return fmt.Sprintf("incomplete certificate set in %s: missing %s", s.Dir, strings.Join(missing, ", ")), time.Time{}
	}

	certs := map[string]*x509.Certificate{}
	for _, f := range []string{s.InternodeCA, s.FrontendCA, s.InternodeCert, s.FrontendCert, s.ClientCert, s.SystemWorkerCert} {
		c, err := readCert(f)
		if err != nil {
			return err.Error(), time.Time{}
		}
		certs[f] = c
	}
	pairs := [][2]string{
		{s.InternodeCert, s.InternodeKey},
		{s.FrontendCert, s.FrontendKey},
		{s.ClientCert, s.ClientKey},
		{s.SystemWorkerCert, s.SystemWorkerKey},
	}
	for _, p := range pairs {
		if err := checkKeyPair(p[0], p[1]); err != nil {
			return err.Error(), time.Time{}
		}
	}

	for _, f := range []string{s.InternodeCA, s.FrontendCA} {
		c := certs[f]
		if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return f + " is not a CA certificate", time.Time{}
		}
		if err := c.CheckSignatureFrom(c); err != nil {
			return fmt.Sprintf("%s is not a self-signed CA certificate: %v", f, err), time.Time{}
		}
	}

	for _, f := range []string{s.InternodeCA, s.FrontendCA, s.InternodeCert, s.FrontendCert, s.ClientCert, s.SystemWorkerCert} {
		c := certs[f]
		if now.Before(c.NotBefore) {
			return fmt.Sprintf("%s is not valid until %s (clock moved backwards?)", f, c.NotBefore.UTC().Format(time.RFC3339)), time.Time{}
		}
		left := c.NotAfter.Sub(now)
		if left <= 0 {
			return fmt.Sprintf("%s expired %s ago", f, humanDuration(-left)), time.Time{}
		}
		if left < window {
			return fmt.Sprintf("%s expires in %s", f, humanDuration(left)), time.Time{}
		}
		if notAfter.IsZero() || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}

	for _, f := range []string{s.InternodeCert, s.FrontendCert} {
		if h := missingSAN(certs[f], s.Hosts); h != "" {
			return fmt.Sprintf("server certificate %s lacks SAN %s", f, h), time.Time{}
		}
	}

	pool := func(f string) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(certs[f])
		return p
	}
	internodeRoots, frontendRoots := pool(s.InternodeCA), pool(s.FrontendCA)
	checks := []struct {
		leaf, ca string
		roots    *x509.CertPool
		usage    x509.ExtKeyUsage
	}{
		{s.InternodeCert, s.InternodeCA, internodeRoots, x509.ExtKeyUsageServerAuth},
		{s.InternodeCert, s.InternodeCA, internodeRoots, x509.ExtKeyUsageClientAuth},
		{s.FrontendCert, s.FrontendCA, frontendRoots, x509.ExtKeyUsageServerAuth},
		{s.ClientCert, s.FrontendCA, frontendRoots, x509.ExtKeyUsageClientAuth},
		{s.SystemWorkerCert, s.FrontendCA, frontendRoots, x509.ExtKeyUsageClientAuth},
	}
	for _, c := range checks {
		_, err := certs[c.leaf].Verify(x509.VerifyOptions{
			Roots:       c.roots,
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{c.usage},
		})
		if err != nil {
			return fmt.Sprintf("%s does not verify against %s for %s: %v", c.leaf, c.ca, usageName(c.usage), err), time.Time{}
		}
	}
	return "", notAfter
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	}
	return fmt.Sprint(u)
}

// missingSAN returns the first host not covered by c's SANs, or "".
func missingSAN(c *x509.Certificate, hosts []string) string {
	for _, h := range hosts {
		found := false
		if ip := net.ParseIP(h); ip != nil {
			for _, cip := range c.IPAddresses {
				if cip.Equal(ip) {
					found = true
					break
				}
			}
		} else {
			for _, name := range c.DNSNames {
				if strings.EqualFold(name, h) {
					found = true
					break
				}
			}
		}
		if !found {
			return h
		}
	}
	return ""
}

// readCert reads a PEM file holding exactly one certificate. Errors name the
// path.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("cannot parse %s: no PEM CERTIFICATE block (corrupt file)", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("cannot parse %s: unexpected data after the certificate (corrupt file)", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w (corrupt file)", path, err)
	}
	return c, nil
}

// checkKeyPair makes sure keyPath parses and matches certPath.
func checkKeyPair(certPath, keyPath string) error {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", keyPath, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return fmt.Errorf("cannot parse %s: no PEM PRIVATE KEY block (corrupt file)", keyPath)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("key %s does not match certificate %s: %v", keyPath, certPath, err)
	}
	return nil
}

// humanDuration formats d compactly: "45s", "20m", "3h", "71h59m".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// --- generation -------------------------------------------------------------

type keyPair struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// generate creates a fresh set and writes it into s.Dir.
func (s *Set) generate(now time.Time, validity time.Duration) error {
	notBefore := now.Add(-backdate).Truncate(time.Second)
	notAfter := now.Add(validity).Truncate(time.Second)

	internodeCA, err := newCA(InternodeCACommonName, notBefore, notAfter)
	if err != nil {
		return err
	}
	frontendCA, err := newCA(FrontendCACommonName, notBefore, notAfter)
	if err != nil {
		return err
	}

	var ips []net.IP
	var dns []string
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	leaf := func(cn string, usage []x509.ExtKeyUsage, withSANs bool) *x509.Certificate {
		t := &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn, Organization: []string{organization}},
			NotBefore:   notBefore,
			NotAfter:    notAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: usage,
		}
		if withSANs {
			t.DNSNames, t.IPAddresses = dns, ips
		}
		return t
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	leaves := []struct {
		tmpl           *x509.Certificate
		ca             *keyPair
		certPath, keyP string
	}{
		{leaf(InternodeCommonName, both, true), internodeCA, s.InternodeCert, s.InternodeKey},
		{leaf(FrontendCommonName, server, true), frontendCA, s.FrontendCert, s.FrontendKey},
		{leaf(ClientCommonName, client, false), frontendCA, s.ClientCert, s.ClientKey},
		{leaf(SystemWorkerCommonName, client, false), frontendCA, s.SystemWorkerCert, s.SystemWorkerKey},
	}

	type file struct {
		path string
		data []byte
		mode fs.FileMode
	}
	var files []file
	for _, l := range leaves {
		kp, err := issue(l.tmpl, l.ca)
		if err != nil {
			return err
		}
		keyPEM, err := encodeKey(kp.key)
		if err != nil {
			return err
		}
		files = append(files,
			file{l.keyP, keyPEM, keyMode},
			file{l.certPath, encodeCert(kp.der), certMode})
	}
	// CAs last: until they are replaced, a half-written set fails chain
	// verification and is regenerated on the next Ensure.
	files = append(files,
		file{s.InternodeCA, encodeCert(internodeCA.der), certMode},
		file{s.FrontendCA, encodeCert(frontendCA.der), certMode})

	s.removeStaleTemps()
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func newCA(cn string, notBefore, notAfter time.Time) (*keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{organization}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return issue(tmpl, nil)
}

// issue creates a key and a certificate from tmpl, signed by parent (or
// self-signed when parent is nil).
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generating key for %q: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.SerialNumber, err = serialNumber()
	if err != nil {
		return nil, err
	}
	parentCert, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("certs: creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing generated certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return &keyPair{cert: cert, der: der, key: key}, nil
}

// serialNumber returns a random, non-zero 128-bit serial number.
func serialNumber() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("certs: generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

const tempInfix = ".tmp-"

// writeFileAtomic writes data to path via a temporary file in the same
// directory and a rename, so readers see either the old or the new content.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return dirError(dir, err, "cannot be written (%s: %v); make it writable or choose another directory", filepath.Base(path), pathErr(err))
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = dirError(dir, err, "cannot be written (%s: %v); make it writable or choose another directory", filepath.Base(path), pathErr(err))
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeStaleTemps deletes temporary files left behind by an interrupted
// writeFileAtomic. Only names this package could have created are touched.
func (s *Set) removeStaleTemps() {
	for _, f := range s.files() {
		matches, _ := filepath.Glob(filepath.Join(s.Dir, "."+filepath.Base(f)+tempInfix+"*"))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
}
