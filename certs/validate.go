package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// validate checks the set on disk. It returns "" and the earliest expiry if
// the set can be reused, or a human-readable reason why it cannot.
func (s *Set) validate(now time.Time, window time.Duration) (reason string, notAfter time.Time) {
	if reason := s.checkComplete(); reason != "" {
		return reason, time.Time{}
	}
	certs, err := s.readCerts()
	if err != nil {
		return err.Error(), time.Time{}
	}
	if err := s.checkKeyPairs(); err != nil {
		return err.Error(), time.Time{}
	}
	if reason := s.checkCAs(certs); reason != "" {
		return reason, time.Time{}
	}
	if reason, notAfter = s.checkValidity(certs, now, window); reason != "" {
		return reason, time.Time{}
	}
	if reason := s.checkSANs(certs); reason != "" {
		return reason, time.Time{}
	}
	if reason := s.checkChains(certs, now); reason != "" {
		return reason, time.Time{}
	}
	return "", notAfter
}

// certFiles are the certificate files of the set, CAs first.
func (s *Set) certFiles() []string {
	return []string{s.InternodeCA, s.FrontendCA, s.InternodeCert, s.FrontendCert, s.ClientCert, s.SystemWorkerCert}
}

// checkComplete says whether files of the set are missing.
func (s *Set) checkComplete() (reason string) {
	var missing []string
	for _, f := range s.files() {
		if _, err := os.Lstat(f); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, filepath.Base(f))
		}
	}
	switch {
	case len(missing) == len(s.files()):
		return "no certificates in " + s.Dir
	case len(missing) > 0:
		return fmt.Sprintf("incomplete certificate set in %s: missing %s", s.Dir, strings.Join(missing, ", "))
	}
	return ""
}

// readCerts parses every certificate file, keyed by path.
func (s *Set) readCerts() (map[string]*x509.Certificate, error) {
	certs := map[string]*x509.Certificate{}
	for _, f := range s.certFiles() {
		c, err := readCert(f)
		if err != nil {
			return nil, err
		}
		certs[f] = c
	}
	return certs, nil
}

// checkKeyPairs makes sure every leaf's key parses and matches it.
func (s *Set) checkKeyPairs() error {
	pairs := [][2]string{
		{s.InternodeCert, s.InternodeKey},
		{s.FrontendCert, s.FrontendKey},
		{s.ClientCert, s.ClientKey},
		{s.SystemWorkerCert, s.SystemWorkerKey},
	}
	for _, p := range pairs {
		if err := checkKeyPair(p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// checkCAs says whether a CA file holds something other than a self-signed
// CA certificate.
func (s *Set) checkCAs(certs map[string]*x509.Certificate) (reason string) {
	for _, f := range []string{s.InternodeCA, s.FrontendCA} {
		c := certs[f]
		if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return f + " is not a CA certificate"
		}
		if err := c.CheckSignatureFrom(c); err != nil {
			return fmt.Sprintf("%s is not a self-signed CA certificate: %v", f, err)
		}
	}
	return ""
}

// checkValidity returns the earliest expiry of the certificates, or why one
// is not valid at now or expires within window.
func (s *Set) checkValidity(certs map[string]*x509.Certificate, now time.Time, window time.Duration) (reason string, notAfter time.Time) {
	for _, f := range s.certFiles() {
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
	return "", notAfter
}

// checkSANs says whether a server certificate lacks one of s.Hosts.
func (s *Set) checkSANs(certs map[string]*x509.Certificate) (reason string) {
	for _, f := range []string{s.InternodeCert, s.FrontendCert} {
		if h := missingSAN(certs[f], s.Hosts); h != "" {
			return fmt.Sprintf("server certificate %s lacks SAN %s", f, h)
		}
	}
	return ""
}

// checkChains says whether a leaf does not verify against its own CA for
// the extended key usage it is used for.
func (s *Set) checkChains(certs map[string]*x509.Certificate, now time.Time) (reason string) {
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
			return fmt.Sprintf("%s does not verify against %s for %s: %v", c.leaf, c.ca, usageName(c.usage), err)
		}
	}
	return ""
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
