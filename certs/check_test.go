package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPair writes a self-signed certificate made from tmpl and its key
// into dir as name.pem and name-key.pem, with a fresh key.
func testPair(t *testing.T, dir, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.Subject = pkix.Name{CommonName: name}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyFile, keyPEM)
	return certFile, keyFile
}

// TestCheckPair: certificates another tool issued are checked for the
// problems that otherwise stall the start until its timeout.
func TestCheckPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	valid := func() *x509.Certificate {
		return &x509.Certificate{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			DNSNames: []string{"localhost", "*.example.com"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	}
	goodCert, goodKey := testPair(t, dir, "good", valid())
	expired := valid()
	expired.NotBefore, expired.NotAfter = now.AddDate(0, -2, 0), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	expiredCert, expiredKey := testPair(t, dir, "expired", expired)
	future := valid()
	future.NotBefore = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	futureCert, futureKey := testPair(t, dir, "future", future)
	_, otherKey := testPair(t, dir, "other", valid())
	noSAN := valid()
	noSAN.DNSNames, noSAN.IPAddresses = []string{"temporal.example.org"}, nil
	noSANCert, noSANKey := testPair(t, dir, "nosan", noSAN)
	notPEM := filepath.Join(dir, "not.pem")
	write(t, notPEM, []byte("hello"))

	for _, tc := range []struct {
		name             string
		cert, key, sname string
		sentinel         error
		file             string // the file the problem names
		want             []string
	}{
		{"valid", goodCert, goodKey, "localhost", nil, "", nil},
		{"valid for an IP", goodCert, goodKey, "127.0.0.1", nil, "", nil},
		{"valid for a wildcard", goodCert, goodKey, "temporal.example.com", nil, "", nil},
		{"valid, no name checked", noSANCert, noSANKey, "", nil, "", nil},
		{"expired", expiredCert, expiredKey, "localhost", ErrExpired, expiredCert, []string{"expired on 2026-01-02 00:00:00 UTC (NotAfter)"}},
		{"not yet valid", futureCert, futureKey, "localhost", ErrNotYetValid, futureCert, []string{"not valid until 2026-04-01 00:00:00 UTC (NotBefore)"}},
		{"key of another certificate", goodCert, otherKey, "localhost", ErrKeyMismatch, otherKey, []string{"is not the key of the certificate in " + goodCert}},
		{"server name not in the SANs", noSANCert, noSANKey, "localhost", ErrNameMismatch, noSANCert, []string{"lacks SAN localhost", "DNS:temporal.example.org"}},
		{"IP not in the SANs", goodCert, goodKey, "10.1.2.3", ErrNameMismatch, goodCert, []string{"lacks SAN 10.1.2.3", "DNS:localhost", "IP:127.0.0.1"}},
		{"not PEM", notPEM, notPEM, "localhost", ErrUnreadable, notPEM, nil},
		{"missing", filepath.Join(dir, "nope.pem"), goodKey, "localhost", ErrUnreadable, filepath.Join(dir, "nope.pem"), []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := CheckPair(tc.cert, tc.key, now, tc.sname)
			if tc.sentinel == nil {
				if len(got) != 0 {
					t.Fatalf("CheckPair = %v; want no problem", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("CheckPair = %v; want one problem", got)
			}
			p := got[0]
			if !errors.Is(p, tc.sentinel) || p.File != tc.file {
				t.Errorf("problem %q (%v) about %s; want %v about %s", p, p.Err, p.File, tc.sentinel, tc.file)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Msg, w) {
					t.Errorf("Msg %q lacks %q", p.Msg, w)
				}
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		t.Parallel()
		got := CheckPair(expiredCert, expiredKey, now, "temporal.example.org")
		if len(got) != 2 || !errors.Is(got[0], ErrExpired) || !errors.Is(got[1], ErrNameMismatch) {
			t.Errorf("CheckPair = %v; want expired and a name mismatch", got)
		}
	})
}

// TestCheckCAFile: a CA file must hold a certificate valid now; a bundle
// may keep a retired one next to it.
func TestCheckCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	ca := func(notBefore, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
	}
	good, _ := testPair(t, dir, "good-ca", ca(now.Add(-time.Hour), now.Add(time.Hour)))
	old, _ := testPair(t, dir, "old-ca", ca(now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	bundle := filepath.Join(dir, "bundle.pem")
	a, _ := os.ReadFile(old)
	b, _ := os.ReadFile(good)
	write(t, bundle, append(a, b...))

	if p := CheckCAFile(good, now); p != nil {
		t.Errorf("a valid CA: %v", p)
	}
	if p := CheckCAFile(bundle, now); p != nil {
		t.Errorf("a bundle with one valid CA: %v", p)
	}
	if p := CheckCAFile(old, now); p == nil || !errors.Is(p, ErrExpired) || p.File != old || !strings.Contains(p.Msg, "(NotAfter)") {
		t.Errorf("an expired CA: %v; want ErrExpired naming %s", p, old)
	}
}
