package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc/credentials"
)

func TestKeyReusedAndTokensVerify(t *testing.T) {
	dir := t.TempDir()
	k1, err := EnsureKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := EnsureKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != k2.ID {
		t.Fatalf("key id changed on reuse: %s -> %s", k1.ID, k2.ID)
	}
	if fi, _ := os.Stat(filepath.Join(dir, KeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	b, _ := os.ReadFile(k1.JWKSPath())
	if err := json.Unmarshal(b, &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != k1.ID || jwks.Keys[0]["crv"] != "P-256" {
		t.Fatalf("jwks %s: %v", b, err)
	}
	tok, err := k1.Mint(Grant{Namespace: "orders", Role: "write", SystemAdmin: true, Audience: "aud", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &k1.priv.PublicKey, nil })
	if err != nil || parsed.Header["kid"] != k1.ID {
		t.Fatalf("token does not verify or lacks kid: %v %v", err, parsed.Header)
	}
	claims := parsed.Claims.(jwt.MapClaims)
	perms := claims["permissions"].([]any)
	if len(perms) != 2 || perms[0] != "orders:write" || perms[1] != "temporal-system:admin" || claims["aud"] != "aud" {
		t.Errorf("claims %v", claims)
	}
	if _, err := k1.Mint(Grant{Namespace: "a", Role: "owner"}, time.Now()); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := LoadKey(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--cert-dir") {
		t.Errorf("LoadKey of an empty dir: %v", err)
	}
}

type stubMapper struct{ called bool }

func (s *stubMapper) GetClaims(*authorization.AuthInfo) (*authorization.Claims, error) {
	s.called = true
	return &authorization.Claims{}, nil
}

func TestSystemWorkerClaimMapper(t *testing.T) {
	// cert returns a self-signed certificate named cn with a key of its own.
	cert := func(cn string) *x509.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	info := func(c *x509.Certificate, token string) *authorization.AuthInfo {
		return &authorization.AuthInfo{AuthToken: token, TLSSubject: &c.Subject,
			TLSConnection: &credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}}}
	}
	worker := cert("temporal-system-worker")
	file := filepath.Join(t.TempDir(), "system-worker.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: worker.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pin, err := PublicKeyPin(file)
	if err != nil {
		t.Fatal(err)
	}
	inner := &stubMapper{}
	m := SystemWorkerClaimMapper(inner, "temporal-system-worker", pin)
	c, err := m.GetClaims(info(worker, ""))
	if err != nil || c.System != authorization.RoleAdmin || inner.called {
		t.Fatalf("system worker: %+v %v (inner called %v)", c, err, inner.called)
	}
	for name, in := range map[string]*authorization.AuthInfo{
		"another name":                        info(cert("devcluster-client"), ""),
		"the name on another key (other CA)":  info(cert("temporal-system-worker"), ""),
		"a token decides":                     info(worker, "Bearer x"),
		"the name without the TLS connection": {TLSSubject: &pkix.Name{CommonName: "temporal-system-worker"}},
		"nothing":                             {},
	} {
		inner.called = false
		c, _ := m.GetClaims(in)
		if !inner.called || c.System == authorization.RoleAdmin {
			t.Errorf("%s: went around the JWT mapper", name)
		}
	}
	inner.called = false
	if c, _ := SystemWorkerClaimMapper(inner, "temporal-system-worker", nil).GetClaims(info(worker, "")); !inner.called || c.System == authorization.RoleAdmin {
		t.Errorf("no pin: the system worker's certificate was admitted; want nobody")
	}
	if _, err := PublicKeyPin(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("PublicKeyPin of a missing file: no error")
	}
}

func TestWorkerRoleAuthorizerLogsDenials(t *testing.T) {
	t.Parallel()
	var logged []string
	a := WorkerRoleAuthorizer(authorization.NewDefaultAuthorizer(), func(msg string, args ...any) {
		logged = append(logged, fmt.Sprint(append([]any{msg}, args...)...))
	})
	start := &authorization.CallTarget{APIName: "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution", Namespace: "orders"}
	poll := &authorization.CallTarget{APIName: "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue", Namespace: "orders"}
	worker := &authorization.Claims{Subject: "w", Namespaces: map[string]authorization.Role{"orders": authorization.RoleWorker}}
	reader := &authorization.Claims{Subject: "r", Namespaces: map[string]authorization.Role{"orders": authorization.RoleReader}}
	for _, tc := range []struct {
		name    string
		claims  *authorization.Claims
		target  *authorization.CallTarget
		allow   bool
		logWant string
	}{
		{"no claims", nil, start, false, "no token"},
		{"reader cannot start", reader, start, false, `subject "r" has role read in namespace "orders"`},
		{"worker may poll", worker, poll, true, ""},
		{"worker cannot start", worker, start, false, `subject "w" has role worker`},
	} {
		logged = nil
		r, err := a.Authorize(context.Background(), tc.claims, tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := r.Decision == authorization.DecisionAllow; got != tc.allow {
			t.Errorf("%s: allowed %v, want %v", tc.name, got, tc.allow)
		}
		if tc.allow {
			if len(logged) != 0 {
				t.Errorf("%s: an allowed call was logged: %v", tc.name, logged)
			}
			continue
		}
		if len(logged) != 1 || !strings.Contains(logged[0], tc.logWant) || !strings.Contains(logged[0], tc.target.APIName) {
			t.Errorf("%s: logged %q, want one line with %q and the API", tc.name, logged, tc.logWant)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key, err := EnsureKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := EnsureKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g := Grant{Namespace: "default", Role: "read", Audience: "aud", TTL: time.Hour}
	mint := func(k *Key, g Grant, at time.Time) string {
		tok, err := k.Mint(g, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Same key id, other key: the signature decides.
	forged := *other
	forged.ID = key.ID
	// Same key, another algorithm: HS256 with the key id.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "aud": "aud"})
	hs.Header["kid"] = key.ID
	hsTok, _ := hs.SignedString([]byte("secret"))
	for _, tc := range []struct {
		name, token, audience, wantErr string
	}{
		{name: "good", token: mint(key, g, now), audience: "aud"},
		{name: "no audience required", token: mint(key, g, now)},
		{name: "other key", token: mint(other, g, now), audience: "aud", wantErr: "not this cluster's"},
		{name: "forged key id", token: mint(&forged, g, now), audience: "aud", wantErr: "verification error"},
		{name: "expired", token: mint(key, g, now.Add(-2*time.Hour)), audience: "aud", wantErr: "expired"},
		{name: "wrong audience", token: mint(key, g, now), audience: "other", wantErr: "audience"},
		{name: "HS256", token: hsTok, audience: "aud", wantErr: "signing method"},
		{name: "malformed", token: "not.a.jwt", audience: "aud", wantErr: "cannot be verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp, err := key.Verify(tc.token, tc.audience, now)
			if tc.wantErr == "" {
				if err != nil || exp.Before(now.Add(59*time.Minute)) {
					t.Fatalf("Verify = %v, %v; want an expiry in an hour", exp, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Verify error %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestUnreadableKey: a signing key that exists but cannot be read is
// reported as unreadable, naming the file and the reason, never as
// missing, and EnsureKey does not make a new key over it. The permission
// row needs a user that file modes bind (root reads anything); the
// directory row fails the read as root too.
func TestUnreadableKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
		{"mode 000", func(t *testing.T, path string) {
			if os.Geteuid() == 0 {
				t.Skip("root reads a file of mode 000")
			}
			if err := os.WriteFile(path, []byte("x"), 0o000); err != nil {
				t.Fatal(err)
			}
		}, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFile)
			tc.make(t, path)
			for fn, load := range map[string]func(string) (*Key, error){"LoadKey": LoadKey, "EnsureKey": EnsureKey} {
				_, err := load(dir)
				if err == nil || !strings.Contains(err.Error(), path+" ") || !strings.Contains(err.Error(), "cannot be read: "+tc.want) ||
					strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "no signing key") {
					t.Errorf("%s: %v; want %s named as unreadable (%s)", fn, err, path, tc.want)
				}
			}
		})
	}
	_, err := LoadKey(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("LoadKey of an empty dir: %v; want does not exist", err)
	}
}
