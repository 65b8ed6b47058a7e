package webui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns the files and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ui-test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "ui.pem"), filepath.Join(dir, "ui-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// TestFrontSignInAndStop runs a UI with auth (its frontend address answers
// nothing: these requests never reach it) and checks the front's own
// behaviour: the sign-in redirect stays on the UI's host, a malformed
// header is refused, /healthz needs no token, and Stop frees both ports.
func TestFrontSignInAndStop(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	const good = "good-token"
	public, internal := freePort(t), freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, Config{IP: "127.0.0.1", Port: public, FrontendAddr: "127.0.0.1:1", DefaultNamespace: "default",
		Auth: &Auth{CertFile: certFile, KeyFile: keyFile, SignInToken: good, InternalPort: internal,
			Verify: func(tok string) (time.Time, error) {
				if tok != good {
					return time.Time{}, errors.New("not the good token")
				}
				return time.Now().Add(time.Hour), nil
			}}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Stop()
		}
	})
	base := "https://127.0.0.1:" + strconv.Itoa(public)
	if srv.URL() != base+"/?token="+good {
		t.Fatalf("URL %q", srv.URL())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, path, auth string
		code             int
		location         string
	}{
		{name: "sign in keeps other parameters", path: "/namespaces/default/workflows?query=x&token=" + good, code: 303, location: "/namespaces/default/workflows?query=x"},
		{name: "sign in never leaves the host", path: "//evil.example/?token=" + good, code: 303, location: "/evil.example/"},
		{name: "sign in with a bad token", path: "/?token=bad", code: 401},
		{name: "not a bearer header", path: "/", auth: "Basic " + good, code: 401},
		{name: "bad bearer token", path: "/", auth: "Bearer bad", code: 401},
		{name: "health needs no token", path: "/healthz", code: 200},
		{name: "good bearer token", path: "/", auth: "Bearer " + good, code: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%d to %q (%.200s); want %d to %q", resp.StatusCode, resp.Header.Get("Location"), body, tc.code, tc.location)
			}
			if tc.code == 303 && (len(resp.Cookies()) != 1 || resp.Cookies()[0].Value != good) {
				t.Fatalf("sign-in cookies %v", resp.Cookies())
			}
			if tc.code == 401 && !strings.Contains(string(body), "/?token=TOKEN") {
				t.Fatalf("401 body does not say how to sign in: %s", body)
			}
		})
	}

	srv.Stop()
	stopped = true
	for _, port := range []int{public, internal} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d after Stop: %v", port, err)
		}
		_ = l.Close()
	}
}
