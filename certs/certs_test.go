package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var base = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func ensure(t *testing.T, opts Options) (*Set, bool) {
	t.Helper()
	set, generated, err := Ensure(opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return set, generated
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := readCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func poolOf(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	p.AddCert(mustCert(t, path))
	return p
}

func verify(c *x509.Certificate, roots *x509.CertPool, now time.Time, usage x509.ExtKeyUsage) error {
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// snapshot returns the contents of every file of the set.
func snapshot(t *testing.T, s *Set) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range s.files() {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[f] = b
	}
	return m
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki") // does not exist yet
	set, generated := ensure(t, Options{Dir: dir, Hosts: []string{"devbox.internal", "10.1.2.3"}, Now: fixedNow(base)})
	if !generated {
		t.Fatal("generated = false for a new directory")
	}
	if want := "no certificates in " + dir; set.Reason != want {
		t.Errorf("Reason = %q, want %q", set.Reason, want)
	}

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", fi.Mode().Perm())
	}

	wantPaths := map[string]string{
		set.InternodeCA: InternodeCAFile, set.InternodeCert: InternodeCertFile, set.InternodeKey: InternodeKeyFile,
		set.FrontendCA: FrontendCAFile, set.FrontendCert: FrontendCertFile, set.FrontendKey: FrontendKeyFile,
		set.ClientCert: ClientCertFile, set.ClientKey: ClientKeyFile,
		set.SystemWorkerCert: SystemWorkerCertFile, set.SystemWorkerKey: SystemWorkerKeyFile,
	}
	if len(wantPaths) != 10 {
		t.Fatalf("paths are not distinct: %v", wantPaths)
	}
	for p, name := range wantPaths {
		if p != filepath.Join(dir, name) || !filepath.IsAbs(p) {
			t.Errorf("path %q, want absolute %q", p, filepath.Join(dir, name))
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(name, "-key.pem") {
			want = 0o600
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 10 {
		t.Errorf("dir holds %d entries, want 10 (leftover temp files?)", len(entries))
	}

	now := base
	internodeCA, frontendCA := mustCert(t, set.InternodeCA), mustCert(t, set.FrontendCA)
	for _, ca := range []struct {
		c  *x509.Certificate
		cn string
	}{{internodeCA, InternodeCACommonName}, {frontendCA, FrontendCACommonName}} {
		c := ca.c
		if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero ||
			c.KeyUsage&x509.KeyUsageCertSign == 0 || c.Subject.CommonName != ca.cn {
			t.Errorf("bad CA %q: IsCA=%v BCV=%v MaxPathLen=%d zero=%v KeyUsage=%v",
				c.Subject.CommonName, c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero, c.KeyUsage)
		}
	}
	internodeRoots, frontendRoots := poolOf(t, set.InternodeCA), poolOf(t, set.FrontendCA)
	internode, frontend := mustCert(t, set.InternodeCert), mustCert(t, set.FrontendCert)
	client, worker := mustCert(t, set.ClientCert), mustCert(t, set.SystemWorkerCert)

	ok := []struct {
		name  string
		c     *x509.Certificate
		roots *x509.CertPool
		usage x509.ExtKeyUsage
	}{
		{"internode server", internode, internodeRoots, x509.ExtKeyUsageServerAuth},
		{"internode client", internode, internodeRoots, x509.ExtKeyUsageClientAuth},
		{"frontend server", frontend, frontendRoots, x509.ExtKeyUsageServerAuth},
		{"client", client, frontendRoots, x509.ExtKeyUsageClientAuth},
		{"system worker", worker, frontendRoots, x509.ExtKeyUsageClientAuth},
	}
	for _, c := range ok {
		if err := verify(c.c, c.roots, now, c.usage); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	bad := []struct {
		name  string
		c     *x509.Certificate
		roots *x509.CertPool
		usage x509.ExtKeyUsage
	}{
		{"internode vs frontend CA", internode, frontendRoots, x509.ExtKeyUsageServerAuth},
		{"internode client vs frontend CA", internode, frontendRoots, x509.ExtKeyUsageClientAuth},
		{"frontend vs internode CA", frontend, internodeRoots, x509.ExtKeyUsageServerAuth},
		{"client vs internode CA", client, internodeRoots, x509.ExtKeyUsageClientAuth},
		{"system worker vs internode CA", worker, internodeRoots, x509.ExtKeyUsageClientAuth},
		{"frontend as client", frontend, frontendRoots, x509.ExtKeyUsageClientAuth},
		{"client as server", client, frontendRoots, x509.ExtKeyUsageServerAuth},
		{"system worker as server", worker, frontendRoots, x509.ExtKeyUsageServerAuth},
	}
	for _, c := range bad {
		if err := verify(c.c, c.roots, now, c.usage); err == nil {
			t.Errorf("%s: verified, want failure", c.name)
		}
	}

	if client.Subject.CommonName != ClientCommonName || worker.Subject.CommonName != SystemWorkerCommonName {
		t.Errorf("client CNs = %q, %q", client.Subject.CommonName, worker.Subject.CommonName)
	}
	for _, c := range []*x509.Certificate{internode, frontend} {
		for _, h := range []string{"127.0.0.1", "::1", "localhost", "devbox.internal", "10.1.2.3"} {
			if err := c.VerifyHostname(h); err != nil {
				t.Errorf("%s: %v", c.Subject.CommonName, err)
			}
		}
		if err := c.VerifyHostname("10.9.9.9"); err == nil {
			t.Errorf("%s: VerifyHostname(10.9.9.9) succeeded", c.Subject.CommonName)
		}
	}

	serials := map[string]bool{}
	for _, c := range []*x509.Certificate{internodeCA, frontendCA, internode, frontend, client, worker} {
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
			t.Errorf("%s: serial %v out of range", c.Subject.CommonName, c.SerialNumber)
		}
		serials[c.SerialNumber.String()] = true
		if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
			t.Errorf("%s: public key is not ECDSA P-256", c.Subject.CommonName)
		}
		if !c.NotAfter.Equal(base.Add(72 * time.Hour)) {
			t.Errorf("%s: NotAfter = %v, want %v", c.Subject.CommonName, c.NotAfter, base.Add(72*time.Hour))
		}
	}
	if len(serials) != 6 {
		t.Errorf("serial numbers not unique: %v", serials)
	}
	if !set.Expiry().Equal(base.Add(72*time.Hour)) || !set.NotAfter.Equal(set.Expiry()) {
		t.Errorf("Expiry() = %v, NotAfter = %v", set.Expiry(), set.NotAfter)
	}

	keyPEM, _ := os.ReadFile(set.ClientKey)
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("client key is not a PKCS#8 PRIVATE KEY block")
	}
	wantHosts := []string{"127.0.0.1", "::1", "localhost", "devbox.internal", "10.1.2.3"}
	if strings.Join(set.Hosts, ",") != strings.Join(wantHosts, ",") {
		t.Errorf("Hosts = %v, want %v", set.Hosts, wantHosts)
	}
}

func TestReuse(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Hosts: []string{"devbox", "10.0.0.5"}, Now: fixedNow(base)}
	first, generated := ensure(t, opts)
	if !generated {
		t.Fatal("first Ensure did not generate")
	}
	before := snapshot(t, first)

	// Same options, later (but not near expiry), hosts spelled differently
	// and a subset of hosts: all reuse.
	for _, o := range []Options{
		opts,
		{Dir: dir, Hosts: []string{"DevBox.", " 10.0.0.5 ", "[::1]"}, Now: fixedNow(base.Add(60 * time.Hour))},
		{Dir: dir, Now: fixedNow(base.Add(time.Hour))},
	} {
		set, generated := ensure(t, o)
		if generated {
			t.Fatalf("Ensure(%+v) regenerated: %s", o, set.Reason)
		}
		if set.Reason != "" {
			t.Errorf("Reason = %q for a reused set", set.Reason)
		}
		if !set.NotAfter.Equal(first.NotAfter) {
			t.Errorf("NotAfter = %v, want %v", set.NotAfter, first.NotAfter)
		}
		if !sameFiles(before, snapshot(t, set)) {
			t.Fatal("files changed although the set was reused")
		}
	}
}

func TestNewHostRegenerates(t *testing.T) {
	dir := t.TempDir()
	first, _ := ensure(t, Options{Dir: dir, Now: fixedNow(base)})
	before := snapshot(t, first)

	for _, host := range []string{"10.0.0.5", "devbox.example.com", "fd00::5"} {
		set, generated := ensure(t, Options{Dir: dir, Hosts: []string{host}, Now: fixedNow(base)})
		if !generated {
			t.Fatalf("new host %s: not regenerated", host)
		}
		if !strings.Contains(set.Reason, "lacks SAN "+host) {
			t.Errorf("Reason = %q, want it to name %s", set.Reason, host)
		}
		if err := mustCert(t, set.FrontendCert).VerifyHostname(host); err != nil {
			t.Errorf("regenerated frontend cert: %v", err)
		}
	}
	if sameFiles(before, snapshot(t, first)) {
		t.Error("files unchanged after regeneration")
	}
}

func TestExpiry(t *testing.T) {
	cases := []struct {
		name     string
		validity time.Duration
		now      time.Time
		reason   string // "" = reused
	}{
		{"well within", 0, base.Add(70 * time.Hour), ""},
		{"20m left", 0, base.Add(72*time.Hour - 20*time.Minute), "expires in 20m"},
		{"59m left", 0, base.Add(71*time.Hour + time.Minute), "expires in 59m"},
		{"expired", 0, base.Add(75 * time.Hour), "expired 3h ago"},
		{"clock moved back", 0, base.Add(-time.Hour), "is not valid until"},
		// 2h validity: the window is 12m (a tenth), not 1h.
		{"short validity outside window", 2 * time.Hour, base.Add(2*time.Hour - 15*time.Minute), ""},
		{"short validity inside window", 2 * time.Hour, base.Add(2*time.Hour - 11*time.Minute), "expires in 11m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ensure(t, Options{Dir: dir, Validity: c.validity, Now: fixedNow(base)})
			set, generated := ensure(t, Options{Dir: dir, Validity: c.validity, Now: fixedNow(c.now)})
			if c.reason == "" {
				if generated {
					t.Fatalf("regenerated: %s", set.Reason)
				}
				return
			}
			if !generated || !strings.Contains(set.Reason, c.reason) {
				t.Fatalf("generated=%v Reason=%q, want regeneration with %q", generated, set.Reason, c.reason)
			}
			validity := c.validity
			if validity == 0 {
				validity = 72 * time.Hour
			}
			if want := c.now.Add(validity); !set.Expiry().Equal(want) {
				t.Errorf("Expiry() = %v, want %v", set.Expiry(), want)
			}
		})
	}
}

func TestDamagedSetRegenerates(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, s *Set)
		reason func(s *Set) string
	}{
		{"corrupt cert", func(t *testing.T, s *Set) { write(t, s.FrontendCert, []byte("garbage")) },
			func(s *Set) string { return "cannot parse " + s.FrontendCert }},
		{"truncated cert", func(t *testing.T, s *Set) { truncate(t, s.InternodeCA) },
			func(s *Set) string { return s.InternodeCA }},
		{"corrupt key", func(t *testing.T, s *Set) {
			write(t, s.ClientKey, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		},
			func(s *Set) string { return s.ClientKey }},
		{"empty key", func(t *testing.T, s *Set) { write(t, s.SystemWorkerKey, nil) },
			func(s *Set) string { return "cannot parse " + s.SystemWorkerKey }},
		{"swapped key", func(t *testing.T, s *Set) { copyFile(t, s.SystemWorkerKey, s.ClientKey) },
			func(s *Set) string { return "does not match certificate " + s.ClientCert }},
		{"missing file", func(t *testing.T, s *Set) { os.Remove(s.ClientCert) },
			func(s *Set) string { return "missing " + ClientCertFile }},
		{"all files gone", func(t *testing.T, s *Set) {
			for _, f := range s.files() {
				os.Remove(f)
			}
		}, func(s *Set) string { return "no certificates in " + s.Dir }},
		{"wrong CA", func(t *testing.T, s *Set) { copyFile(t, s.FrontendCA, s.InternodeCA) },
			func(s *Set) string { return s.InternodeCert + " does not verify against " + s.InternodeCA }},
		{"leaf as CA", func(t *testing.T, s *Set) { copyFile(t, s.FrontendCert, s.FrontendCA) },
			func(s *Set) string { return s.FrontendCA + " is not a CA certificate" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, Hosts: []string{"devbox"}, Now: fixedNow(base)}
			first, _ := ensure(t, opts)
			c.damage(t, first)
			set, generated := ensure(t, opts)
			if !generated {
				t.Fatal("damaged set was reused")
			}
			if want := c.reason(set); !strings.Contains(set.Reason, want) {
				t.Errorf("Reason = %q, want it to contain %q", set.Reason, want)
			}
			if again, generated := ensure(t, opts); generated {
				t.Errorf("regenerated set not reused: %s", again.Reason)
			}
		})
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, b[:len(b)/2])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, b)
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+ClientKeyFile+tempInfix+"123")
	other := filepath.Join(dir, "notes.txt")
	write(t, stale, []byte("half"))
	write(t, other, []byte("keep me"))
	ensure(t, Options{Dir: dir, Now: fixedNow(base)})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestErrors(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "afile")
	write(t, file, []byte("x"))

	cases := []struct {
		name  string
		opts  Options
		field string // the OptionError's Field
		want  []string
	}{
		{"empty dir", Options{}, "Dir", []string{"Options.Dir is empty"}},
		{"dir is a file", Options{Dir: file}, "Dir", []string{file, "not a directory", "Options.Dir", "remove it or choose a directory"}},
		{"parent is a file", Options{Dir: filepath.Join(file, "sub")}, "Dir", []string{filepath.Join(file, "sub"), "Options.Dir"}},
		{"negative validity", Options{Dir: tmp, Validity: -time.Hour}, "Validity", []string{"Options.Validity", "negative"}},
		{"host with port", Options{Dir: tmp, Hosts: []string{"devbox:7233"}}, "Hosts", []string{`"devbox:7233"`, "without port"}},
		{"host with space", Options{Dir: tmp, Hosts: []string{"dev box"}}, "Hosts", []string{`"dev box"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Ensure(c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Front ends render the problem under their own flag or key
			// name: the message itself must not name the Go field.
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Field != c.field {
				t.Fatalf("error %q is not an *OptionError for %s", err, c.field)
			}
			if strings.Contains(oe.Msg, "Options.") {
				t.Errorf("Msg %q names a Go field", oe.Msg)
			}
		})
	}

	t.Run("unwritable dir", func(t *testing.T) {
		if runtime.GOOS == "windows" || os.Geteuid() == 0 {
			t.Skip("permissions are not enforced for root/windows")
		}
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		_, _, err := Ensure(Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "writable") {
			t.Fatalf("err = %v, want it to name %s and say to make it writable", err, dir)
		}
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != "Dir" || strings.Contains(oe.Msg, "Options.") {
			t.Errorf("err = %#v, want an *OptionError for Dir whose Msg names no Go field", err)
		}
	})
}

func TestClientTLSErrors(t *testing.T) {
	dir := t.TempDir()
	set, _ := ensure(t, Options{Dir: dir})
	write(t, set.ClientCert, []byte("garbage"))
	_, err := set.ClientTLS("localhost")
	if err == nil || !strings.Contains(err.Error(), set.ClientCert) || !strings.Contains(err.Error(), "regenerate") {
		t.Errorf("err = %v, want it to name %s and say how to regenerate", err, set.ClientCert)
	}

	set, _ = ensure(t, Options{Dir: dir})
	truncate(t, set.FrontendCA)
	_, err = set.ClientTLS("localhost")
	if err == nil || !strings.Contains(err.Error(), set.FrontendCA) {
		t.Errorf("err = %v, want it to name %s", err, set.FrontendCA)
	}
}

func TestTemp(t *testing.T) {
	dir, cleanup, err := Temp()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("Temp dir: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
	}
	if _, generated := ensure(t, Options{Dir: dir}); !generated {
		t.Error("fresh Temp dir reused?")
	}
	cleanup()
	cleanup() // idempotent
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir still exists after cleanup: %v", err)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                  "45s",
		20 * time.Minute:                  "20m",
		20*time.Minute - time.Second:      "20m",
		3 * time.Hour:                     "3h",
		71*time.Hour + 59*time.Minute:     "71h59m",
		time.Hour + 29*time.Second:        "1h",
		2*time.Hour + 90*time.Second + 1:  "2h2m",
		500 * time.Millisecond:            "1s",
		59*time.Second + time.Millisecond: "59s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestHandshake runs real mutual-TLS handshakes over loopback against a
// server configured the way Temporal's frontend is: frontend cert, frontend
// CA as ClientCAs, RequireAndVerifyClientCert.
func TestHandshake(t *testing.T) {
	set, _ := ensure(t, Options{Dir: t.TempDir()}) // real clock: crypto/tls uses time.Now

	serverCert, err := tls.LoadX509KeyPair(set.FrontendCert, set.FrontendKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    poolOf(t, set.FrontendCA),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		cn  string
		err error
	}
	results := make(chan result)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			err = tc.Handshake()
			var cn string
			if err == nil {
				cn = tc.ConnectionState().PeerCertificates[0].Subject.CommonName
				_, err = tc.Write([]byte("ok"))
			}
			tc.Close()
			results <- result{cn, err}
		}
	}()

	// dial connects with cfg, reads the server's "ok", and returns the
	// client-side error and the server's view.
	dial := func(cfg *tls.Config) (clientErr error, srv result) {
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err == nil {
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			var buf []byte
			buf, err = io.ReadAll(conn)
			if err == nil && string(buf) != "ok" {
				err = errors.New("unexpected reply " + string(buf))
			}
			conn.Close()
		}
		return err, <-results
	}

	for _, name := range []string{"", "localhost", "127.0.0.1"} {
		cfg, err := set.ClientTLS(name)
		if err != nil {
			t.Fatal(err)
		}
		clientErr, srv := dial(cfg)
		if clientErr != nil || srv.err != nil {
			t.Fatalf("ClientTLS(%q): client error %v, server error %v", name, clientErr, srv.err)
		}
		if srv.cn != ClientCommonName {
			t.Errorf("server saw client CN %q, want %q", srv.cn, ClientCommonName)
		}
	}

	// The system worker cert is accepted as well.
	workerCert, err := tls.LoadX509KeyPair(set.SystemWorkerCert, set.SystemWorkerKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := set.ClientTLS("")
	cfg.Certificates = []tls.Certificate{workerCert}
	if clientErr, srv := dial(cfg); clientErr != nil || srv.err != nil || srv.cn != SystemWorkerCommonName {
		t.Errorf("system worker: client error %v, server error %v, CN %q", clientErr, srv.err, srv.cn)
	}

	// No client certificate: rejected.
	cfg, _ = set.ClientTLS("")
	cfg.Certificates = nil
	if clientErr, srv := dial(cfg); clientErr == nil || srv.err == nil {
		t.Errorf("client without certificate: client error %v, server error %v; want both to fail", clientErr, srv.err)
	}

	// Internode certificate presented to the frontend: wrong CA, rejected.
	internodeCert, err := tls.LoadX509KeyPair(set.InternodeCert, set.InternodeKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = set.ClientTLS("")
	cfg.Certificates = []tls.Certificate{internodeCert}
	if clientErr, srv := dial(cfg); clientErr == nil || srv.err == nil {
		t.Errorf("internode cert at frontend: client error %v, server error %v; want both to fail", clientErr, srv.err)
	}

	// A client trusting only the internode CA rejects the frontend server.
	cfg, _ = set.ClientTLS("")
	cfg.RootCAs = poolOf(t, set.InternodeCA)
	if clientErr, srv := dial(cfg); clientErr == nil || srv.err == nil {
		t.Errorf("internode roots vs frontend server: client error %v, server error %v; want both to fail", clientErr, srv.err)
	}

	// A server name outside the SANs is rejected.
	cfg, _ = set.ClientTLS("elsewhere.example")
	if clientErr, _ := dial(cfg); clientErr == nil {
		t.Error("ClientTLS(elsewhere.example) connected")
	}
}

// TestInternodeHandshake checks the internode cert works as both ends of an
// mTLS connection verified against the internode CA only.
func TestInternodeHandshake(t *testing.T) {
	set, _ := ensure(t, Options{Dir: t.TempDir()})
	cert, err := tls.LoadX509KeyPair(set.InternodeCert, set.InternodeKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := poolOf(t, set.InternodeCA)
	c1, c2 := net.Pipe()
	server := tls.Server(c1, &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	client := tls.Client(c2, &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   "127.0.0.1",
	})
	// Close the raw pipe ends: a TLS close_notify on a synchronous pipe
	// nobody reads would block until tls.Conn's 5s close timeout.
	defer c1.Close()
	defer c2.Close()
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
}
