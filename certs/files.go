package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/oserr"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Modes of the files and the directory of a set.
const (
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
	dirMode  fs.FileMode = 0o700
)

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

const tempInfix = atomicfile.TempInfix

// writeFileAtomic writes data to path via a temporary file in the same
// directory and a rename, so readers see either the old or the new content.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		dir := filepath.Dir(path)
		return dirError(dir, err, "cannot be written (%s: %v); make it writable or choose another directory", filepath.Base(path), oserr.Cause(err))
	}
	return nil
}

// removeStaleTemps deletes temporary files left behind by an interrupted
// writeFileAtomic. Only names this package could have created are touched.
func (s *Set) removeStaleTemps() {
	for _, f := range s.files() {
		for _, m := range atomicfile.Stale(f) {
			_ = os.Remove(m)
		}
	}
}
