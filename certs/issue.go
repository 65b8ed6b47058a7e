package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"time"
)

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
	files, err := s.issueLeaves(internodeCA, frontendCA, notBefore, notAfter)
	if err != nil {
		return err
	}
	// CAs last: until they are replaced, a half-written set fails chain
	// verification and is regenerated on the next Ensure.
	files = append(files,
		pemFile{s.InternodeCA, encodeCert(internodeCA.der), certMode},
		pemFile{s.FrontendCA, encodeCert(frontendCA.der), certMode})

	s.removeStaleTemps()
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// pemFile is one file of a generated set, still to be written.
type pemFile struct {
	path string
	data []byte
	mode fs.FileMode
}

// issueLeaves issues the four leaf certificates and returns their key and
// certificate files, in that order for each leaf.
func (s *Set) issueLeaves(internodeCA, frontendCA *keyPair, notBefore, notAfter time.Time) ([]pemFile, error) {
	ips, dns := splitHosts(s.Hosts)
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
	var files []pemFile
	for _, l := range leaves {
		kp, err := issue(l.tmpl, l.ca)
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(kp.key)
		if err != nil {
			return nil, err
		}
		files = append(files,
			pemFile{l.keyP, keyPEM, keyMode},
			pemFile{l.certPath, encodeCert(kp.der), certMode})
	}
	return files, nil
}

// splitHosts separates IP addresses from DNS names.
func splitHosts(hosts []string) (ips []net.IP, dns []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return ips, dns
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
	return issueWithKey(tmpl, parent, nil)
}

// issueWithKey is issue for key, or a new key when key is nil.
func issueWithKey(tmpl *x509.Certificate, parent *keyPair, key *ecdsa.PrivateKey) (*keyPair, error) {
	var err error
	if key == nil {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("certs: generating key for %q: %w", tmpl.Subject.CommonName, err)
		}
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
