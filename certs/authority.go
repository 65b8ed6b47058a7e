package certs

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/devcluster/devcluster/internal/oserr"
)

// File names of a cluster's authority (see EnsureAuthority): the CA keys,
// which a single process's set never writes.
const (
	InternodeCAKeyFile = "internode-ca-key.pem"
	FrontendCAKeyFile  = "frontend-ca-key.pem"
	lockName           = ".lock"
)

// Authority is the shared part of the PKI of a cluster whose nodes are
// separate processes: the two CAs with their keys, and the client and
// system-worker certificates, which name no host. Every node loads it from
// the one directory the nodes share and issues itself the server
// certificates for its own addresses (IssueNode), so nodes on different
// addresses verify each other with the same CAs.
type Authority struct {
	Dir string

	InternodeCA, InternodeCAKey string
	FrontendCA, FrontendCAKey   string

	ClientCert, ClientKey             string
	SystemWorkerCert, SystemWorkerKey string

	// NotAfter is when the CAs (the first of them) expire.
	NotAfter time.Time
	// Created says the CAs were made by this call (Reason says why the
	// client certificates were renewed, if they were).
	Created bool
	Reason  string

	internode, frontend *keyPair
}

// HasAuthority reports whether dir holds a cluster's CA key (see
// EnsureAuthority), rather than a single process's set.
func HasAuthority(dir string) bool {
	for _, f := range []string{InternodeCAKeyFile, FrontendCAKeyFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// AuthorityError is a cluster directory that cannot be used as it is. Its
// message names the file and says what to do.
type AuthorityError struct {
	File string
	Msg  string
}

func (e *AuthorityError) Error() string { return e.File + " " + e.Msg }

// EnsureAuthority loads the cluster's authority in opts.Dir, or creates it
// there when the directory holds no CA certificate: two CAs valid for
// opts.Validity, their keys (0600) and the client and system-worker
// certificates. It runs under an exclusive lock on opts.Dir/.lock, so
// that nodes starting together make one authority, not one each.
//
// An existing authority is never replaced: its CAs are what the running
// nodes trust. A CA without its key, a key that is not the CA's, or a CA
// that is not valid now is an *AuthorityError saying how to fix it. A
// user's own CAs work the same way: put internode-ca.pem,
// internode-ca-key.pem, frontend-ca.pem and frontend-ca-key.pem in the
// directory. The client and system-worker certificates are (re)issued from
// the CAs when missing, not theirs, or expiring.
func EnsureAuthority(opts Options) (*Authority, error) {
	opts, dir, err := opts.normalized("the directory every node of the cluster shares")
	if err != nil {
		return nil, err
	}
	if exists, err := checkDir(dir); err != nil {
		return nil, err
	} else if !exists {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, dirError(dir, err, "cannot be created: %v; create it yourself or choose a writable location", oserr.Cause(err))
		}
	}
	unlock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, dirError(dir, err, "cannot be locked (%v); make it writable or choose another directory", oserr.Cause(err))
	}
	defer unlock()
	p := func(name string) string { return filepath.Join(dir, name) }
	a := &Authority{Dir: dir,
		InternodeCA: p(InternodeCAFile), InternodeCAKey: p(InternodeCAKeyFile),
		FrontendCA: p(FrontendCAFile), FrontendCAKey: p(FrontendCAKeyFile),
		ClientCert: p(ClientCertFile), ClientKey: p(ClientKeyFile),
		SystemWorkerCert: p(SystemWorkerCertFile), SystemWorkerKey: p(SystemWorkerKeyFile)}
	now := opts.Now()
	_, errI := os.Lstat(a.InternodeCA)
	_, errF := os.Lstat(a.FrontendCA)
	if errors.Is(errI, fs.ErrNotExist) && errors.Is(errF, fs.ErrNotExist) {
		if err := a.create(now, opts.Validity); err != nil {
			return nil, err
		}
	} else if err := a.load(now); err != nil {
		return nil, err
	}
	a.NotAfter = a.internode.cert.NotAfter
	if a.frontend.cert.NotAfter.Before(a.NotAfter) {
		a.NotAfter = a.frontend.cert.NotAfter
	}
	if err := a.ensureClients(now, opts.Validity); err != nil {
		return nil, err
	}
	return a, nil
}

// create makes both CAs and writes their keys, then their certificates:
// a crash in between leaves no CA certificate, which the next call
// replaces whole.
func (a *Authority) create(now time.Time, validity time.Duration) error {
	notBefore, notAfter := now.Add(-backdate).Truncate(time.Second), now.Add(validity).Truncate(time.Second)
	var err error
	if a.internode, err = newCA(InternodeCACommonName, notBefore, notAfter); err != nil {
		return err
	}
	if a.frontend, err = newCA(FrontendCACommonName, notBefore, notAfter); err != nil {
		return err
	}
	for _, kf := range []struct {
		kp        *keyPair
		key, cert string
	}{{a.internode, a.InternodeCAKey, a.InternodeCA}, {a.frontend, a.FrontendCAKey, a.FrontendCA}} {
		b, err := encodeKey(kf.kp.key)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(kf.key, b, keyMode); err != nil {
			return err
		}
	}
	for _, f := range []pemFile{{a.InternodeCA, encodeCert(a.internode.der), certMode}, {a.FrontendCA, encodeCert(a.frontend.der), certMode}} {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	a.Created, a.Reason = true, "no CA in "+a.Dir
	return nil
}

// load reads both CAs and their keys and checks them at now.
func (a *Authority) load(now time.Time) error {
	var err error
	if a.internode, err = loadCA(a.InternodeCA, a.InternodeCAKey, now); err != nil {
		return err
	}
	a.frontend, err = loadCA(a.FrontendCA, a.FrontendCAKey, now)
	return err
}

// Lock takes the lock EnsureAuthority holds on dir, for what else the
// nodes of a cluster make once in their shared directory (the token
// signing key). It waits for another process holding it.
func Lock(dir string) (unlock func(), err error) {
	return lockDir(filepath.Join(dir, lockName))
}

// fixDir is the advice for a directory whose CA cannot be used.
const fixDir = "stop every node of the cluster, then delete the directory (a new CA is made at the next start) or point tls.cert-dir at the directory the cluster was started with"

func loadCA(certFile, keyFile string, now time.Time) (*keyPair, error) {
	c, err := readCert(certFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &AuthorityError{File: certFile, Msg: "is missing while the other CA is there: a cluster needs both; " + fixDir}
		}
		return nil, &AuthorityError{File: certFile, Msg: fmt.Sprintf("cannot be used: %v; %s", oserr.Cause(err), fixDir)}
	}
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, &AuthorityError{File: certFile, Msg: "is not a CA certificate (no CA basic constraint or certSign usage); put the cluster's CA there, or " + fixDir}
	}
	if now.After(c.NotAfter) {
		return nil, &AuthorityError{File: certFile, Msg: fmt.Sprintf("expired on %s; a cluster's CA is not renewed in place because the running nodes trust it: %s", c.NotAfter.UTC().Format(timeFormat), fixDir)}
	}
	if now.Before(c.NotBefore) {
		return nil, &AuthorityError{File: certFile, Msg: fmt.Sprintf("is not valid until %s (clock moved backwards?); %s", c.NotBefore.UTC().Format(timeFormat), fixDir)}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &AuthorityError{File: keyFile, Msg: fmt.Sprintf("is missing: a node issues its own certificate with the key of %s (a set from `devcluster certs generate` without --cluster has no CA keys: it serves one process); copy the key there, or %s", filepath.Base(certFile), fixDir)}
		}
		return nil, &AuthorityError{File: keyFile, Msg: fmt.Sprintf("cannot be read: %v; make it readable by this user (mode 0600), or %s", oserr.Cause(err), fixDir)}
	}
	certPEM, _ := os.ReadFile(certFile)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &AuthorityError{File: keyFile, Msg: fmt.Sprintf("is not the key of %s (%v); put the CA's own key there, or %s", filepath.Base(certFile), err, fixDir)}
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, &AuthorityError{File: keyFile, Msg: fmt.Sprintf("holds a %T key; devcluster issues certificates with ECDSA CA keys only: make the CA with an ECDSA key, or %s", pair.PrivateKey, fixDir)}
	}
	return &keyPair{cert: c, der: c.Raw, key: key}, nil
}

// ensureClients (re)issues the client and system-worker certificates
// unless they are the CA's, load and are valid for a while yet.
func (a *Authority) ensureClients(now time.Time, validity time.Duration) error {
	roots := x509.NewCertPool()
	roots.AddCert(a.frontend.cert)
	good := func(certFile, keyFile string) string {
		c, err := readCert(certFile)
		if err != nil {
			return err.Error()
		}
		if err := checkKeyPair(certFile, keyFile); err != nil {
			return err.Error()
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return fmt.Sprintf("%s does not verify against %s: %v", certFile, a.FrontendCA, err)
		}
		if c.NotAfter.Sub(now) < renewWindow(validity) {
			return certFile + " expires soon"
		}
		return ""
	}
	for _, l := range []struct{ cn, cert, key string }{
		{ClientCommonName, a.ClientCert, a.ClientKey},
		{SystemWorkerCommonName, a.SystemWorkerCert, a.SystemWorkerKey},
	} {
		reason := good(l.cert, l.key)
		if reason == "" {
			continue
		}
		if a.Reason == "" {
			a.Reason = reason
		}
		// With the key it has, when it has a good one: frontends that
		// are running pin the system worker's public key (see
		// auth.SystemWorkerClaimMapper).
		files, err := issueLeafWithKey(leafTemplate(l.cn, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now, a.leafNotAfter(now, validity)), a.frontend, l.cert, l.key, readECKey(l.key))
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// leafNotAfter is now+validity, but no later than the CAs.
func (a *Authority) leafNotAfter(now time.Time, validity time.Duration) time.Time {
	t := now.Add(validity).Truncate(time.Second)
	if !a.NotAfter.IsZero() && a.NotAfter.Before(t) {
		t = a.NotAfter
	}
	return t
}

// IssueNode issues one node's server certificates (internode.pem: server
// and client; frontend.pem: server) for hosts (plus DefaultHosts) into
// dir, with fresh keys, valid for validity (no longer than the CAs), and
// returns the node's Set: those two from dir, the CAs and the client
// certificates from the authority's directory.
func (a *Authority) IssueNode(dir string, hosts []string, validity time.Duration, now time.Time) (*Set, error) {
	if validity <= 0 {
		validity = defaultValidity
	}
	hosts, err := normalizeHosts(hosts)
	if err != nil {
		return nil, err
	}
	s := newSet(dir, hosts)
	s.Dir = a.Dir
	s.InternodeCA, s.FrontendCA = a.InternodeCA, a.FrontendCA
	s.ClientCert, s.ClientKey, s.SystemWorkerCert, s.SystemWorkerKey = a.ClientCert, a.ClientKey, a.SystemWorkerCert, a.SystemWorkerKey
	notAfter := a.leafNotAfter(now, validity)
	ips, dns := splitHosts(hosts)
	var files []pemFile
	for _, l := range []struct {
		cn        string
		usage     []x509.ExtKeyUsage
		ca        *keyPair
		cert, key string
	}{
		{InternodeCommonName, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, a.internode, s.InternodeCert, s.InternodeKey},
		{FrontendCommonName, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, a.frontend, s.FrontendCert, s.FrontendKey},
	} {
		t := leafTemplate(l.cn, l.usage, now, notAfter)
		t.IPAddresses, t.DNSNames = ips, dns
		f, err := issueLeaf(t, l.ca, l.cert, l.key)
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	s.NotAfter = notAfter
	return s, nil
}

// Fingerprint is the SHA-256 of a certificate file's first certificate,
// in hex: what an error shows to tell two CAs apart.
func Fingerprint(certFile string) (string, error) {
	c, err := readCert(certFile)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:]), nil
}

func leafTemplate(cn string, usage []x509.ExtKeyUsage, now, notAfter time.Time) *x509.Certificate {
	t := &x509.Certificate{
		NotBefore:   now.Add(-backdate).Truncate(time.Second),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usage,
	}
	t.Subject.CommonName, t.Subject.Organization = cn, []string{organization}
	return t
}

// issueLeaf issues t from ca and returns its key and certificate files.
func issueLeaf(t *x509.Certificate, ca *keyPair, certFile, keyFile string) ([]pemFile, error) {
	return issueLeafWithKey(t, ca, certFile, keyFile, nil)
}

// issueLeafWithKey is issueLeaf for key (a new one when nil).
func issueLeafWithKey(t *x509.Certificate, ca *keyPair, certFile, keyFile string, key *ecdsa.PrivateKey) ([]pemFile, error) {
	kp, err := issueWithKey(t, ca, key)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(kp.key)
	if err != nil {
		return nil, err
	}
	return []pemFile{{keyFile, keyPEM, keyMode}, {certFile, encodeCert(kp.der), certMode}}, nil
}

// readECKey reads an ECDSA private key (PKCS#8 or SEC 1 PEM) from path, nil
// when there is none that parses.
func readECKey(path string) *ecdsa.PrivateKey {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if ec, ok := k.(*ecdsa.PrivateKey); ok {
			return ec
		}
		return nil
	}
	if ec, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return ec
	}
	return nil
}
