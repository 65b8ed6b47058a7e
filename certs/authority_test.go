package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func ensureAuthority(t *testing.T, dir string, now time.Time) *Authority {
	t.Helper()
	a, err := EnsureAuthority(Options{Dir: dir, Now: fixedNow(now)})
	if err != nil {
		t.Fatalf("EnsureAuthority: %v", err)
	}
	return a
}

// Two nodes issue their own server certificates from one authority; each
// verifies the other's for its address, and one from another authority
// does not verify.
func TestAuthorityNodesTrustEachOther(t *testing.T) {
	dir := t.TempDir()
	a := ensureAuthority(t, dir, base)
	if !a.Created || !HasAuthority(dir) {
		t.Fatalf("first call: Created=%v HasAuthority=%v, want both", a.Created, HasAuthority(dir))
	}
	for _, f := range []string{a.InternodeCAKey, a.FrontendCAKey, a.ClientKey, a.SystemWorkerKey} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, err %v; want mode 0600", f, fi, err)
		}
	}
	again := ensureAuthority(t, dir, base.Add(time.Hour))
	if again.Created {
		t.Fatal("second call made a new CA; it must load the one the running nodes trust")
	}
	n1, err := a.IssueNode(t.TempDir(), []string{"10.0.0.1"}, 0, base)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := again.IssueNode(t.TempDir(), []string{"10.0.0.2"}, 0, base)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(leaf, ca, host string) error {
		c, err := readCert(leaf)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		caCert, _ := readCert(ca)
		roots.AddCert(caCert)
		_, err = c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: base.Add(time.Minute),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	if err := verify(n2.InternodeCert, n1.InternodeCA, "10.0.0.2"); err != nil {
		t.Errorf("node 1 does not verify node 2 at its address: %v", err)
	}
	if err := verify(n1.InternodeCert, n2.InternodeCA, "10.0.0.2"); err == nil {
		t.Error("node 1's certificate verified for node 2's address; its SANs must name its own")
	}
	if err := verify(n1.FrontendCert, n1.FrontendCA, "localhost"); err != nil {
		t.Errorf("frontend certificate: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(n1.ClientCert, n1.ClientKey); err != nil || n1.ClientCert != a.ClientCert {
		t.Errorf("client pair %s: %v; want the authority's", n1.ClientCert, err)
	}
	other := ensureAuthority(t, t.TempDir(), base)
	if err := verify(n2.InternodeCert, other.InternodeCA, "10.0.0.2"); err == nil {
		t.Error("another authority's CA verified this cluster's node")
	}
}

// Nodes starting together on an empty directory make one CA.
func TestAuthorityConcurrentStartMakesOne(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	fps := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			a, err := EnsureAuthority(Options{Dir: dir})
			if err != nil {
				t.Error(err)
				return
			}
			created <- a.Created
			fp, _ := Fingerprint(a.InternodeCA)
			fps <- fp
		})
	}
	wg.Wait()
	close(created)
	close(fps)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of 8 calls created a CA, want 1", n)
	}
	seen := map[string]bool{}
	for fp := range fps {
		seen[fp] = true
	}
	if len(seen) != 1 {
		t.Errorf("%d different CAs, want 1", len(seen))
	}
}

// A directory the nodes cannot use says which file and what to do, and is
// never replaced.
func TestAuthorityErrors(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(a *Authority)
		now    time.Time
		file   string
		want   string
	}{
		{"missing key", func(a *Authority) { _ = os.Remove(a.InternodeCAKey) }, base, InternodeCAKeyFile, "is missing"},
		{"unreadable key", func(a *Authority) { _ = os.WriteFile(a.FrontendCAKey, []byte("junk"), 0o600) }, base, FrontendCAKeyFile, "is not the key of"},
		{"other CA's key", func(a *Authority) {
			b, _ := os.ReadFile(a.FrontendCAKey)
			_ = os.WriteFile(a.InternodeCAKey, b, 0o600)
		}, base, InternodeCAKeyFile, "is not the key of"},
		{"missing CA", func(a *Authority) { _ = os.Remove(a.FrontendCA) }, base, FrontendCAFile, "is missing while the other CA is there"},
		{"expired", func(*Authority) {}, base.Add(100 * time.Hour), InternodeCAFile, "expired on"},
		{"not a CA", func(a *Authority) {
			b, _ := os.ReadFile(a.ClientCert)
			_ = os.WriteFile(a.InternodeCA, b, 0o644)
		}, base, InternodeCAFile, "is not a CA certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			a := ensureAuthority(t, dir, base)
			c.break_(a)
			before, _ := os.ReadFile(a.InternodeCA)
			_, err := EnsureAuthority(Options{Dir: dir, Now: fixedNow(c.now)})
			var ae *AuthorityError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *AuthorityError", err)
			}
			if filepath.Base(ae.File) != c.file || !strings.Contains(ae.Msg, c.want) || !strings.Contains(ae.Msg, "delete the directory") {
				t.Errorf("err = %v; want file %s, %q and the fix", err, c.file, c.want)
			}
			after, _ := os.ReadFile(a.InternodeCA)
			if string(before) != string(after) {
				t.Error("the CA was replaced; the running nodes trust it")
			}
		})
	}
}

// Missing or expiring client certificates are issued again from the same
// CA.
func TestAuthorityRenewsClientCertificates(t *testing.T) {
	dir := t.TempDir()
	a := ensureAuthority(t, dir, base)
	_ = os.Remove(a.ClientCert)
	b := ensureAuthority(t, dir, base)
	if b.Created || !strings.Contains(b.Reason, ClientCertFile) {
		t.Errorf("Created=%v Reason=%q; want the client certificate renewed, the CA kept", b.Created, b.Reason)
	}
	if _, err := tls.LoadX509KeyPair(b.ClientCert, b.ClientKey); err != nil {
		t.Fatal(err)
	}
}

// The system worker's certificate, renewed near its expiry, keeps its key:
// running frontends pin that key as the system worker's.
func TestAuthorityRenewalKeepsTheSystemWorkersKey(t *testing.T) {
	dir := t.TempDir()
	a := ensureAuthority(t, dir, base)
	pin := func() string {
		c, err := readCert(a.SystemWorkerCert)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.RawSubjectPublicKeyInfo)
	}
	before, _ := readCert(a.SystemWorkerCert)
	was := pin()
	renewed := ensureAuthority(t, dir, base.Add(71*time.Hour+30*time.Minute))
	after, _ := readCert(a.SystemWorkerCert)
	if renewed.Reason == "" || before.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Fatalf("not renewed near expiry (reason %q)", renewed.Reason)
	}
	if pin() != was {
		t.Error("the renewed system-worker certificate has a new key; running frontends pin the old one")
	}
}

// A negative validity is refused, as certs.Ensure refuses it.
func TestAuthorityNegativeValidity(t *testing.T) {
	_, err := EnsureAuthority(Options{Dir: t.TempDir(), Validity: -time.Hour})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Field != "Validity" {
		t.Fatalf("err = %v, want an OptionError for Validity", err)
	}
}
