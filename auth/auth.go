// Package auth gives a devcluster JWT authentication with a throwaway
// signing key: an ECDSA P-256 key with a key id, published as a JWKS file
// that the server's default token key provider reads, tokens minted for any
// role, and a ClaimMapper that lets the cluster's own system worker in by
// its mTLS certificate.
package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/server/common/api"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc"
)

// File names in the key directory.
const (
	KeyFile  = "jwt-signing-key.pem"
	JWKSFile = "jwks.json"
)

// Roles a token can grant in a namespace, as the server's default claim
// mapper spells them.
var Roles = []string{"read", "write", "worker", "admin"}

// SystemNamespace is the namespace whose admin role makes a system admin.
const SystemNamespace = "temporal-system"

// Key signs tokens.
type Key struct {
	priv *ecdsa.PrivateKey
	ID   string // the JWT "kid"
	Dir  string
}

// JWKSPath is the JWKS file the server reads.
func (k *Key) JWKSPath() string { return filepath.Join(k.Dir, JWKSFile) }

// JWKSURI is JWKSPath as the file:// URI the server's key provider takes.
func (k *Key) JWKSURI() string { return "file://" + filepath.ToSlash(k.JWKSPath()) }

// EnsureKey loads the signing key in dir, or makes one (and its JWKS) when
// there is none. Keys are written 0600.
func EnsureKey(dir string) (*Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key directory %s cannot be created: %w", dir, err)
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, perr := parseKey(b)
		if perr != nil {
			return nil, fmt.Errorf("%s is not an ECDSA signing key (%v); remove it and a new one is made", path, perr)
		}
		k.Dir = dir
		if _, serr := os.Stat(k.JWKSPath()); serr != nil {
			if werr := k.writeJWKS(); werr != nil {
				return nil, werr
			}
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		// Not "missing": making a new key over a file one cannot read
		// would invalidate every token minted with it.
		return nil, fmt.Errorf("signing key %s cannot be read: %w; make it readable by this user, or remove it to have a new one made (tokens minted with it then stop working)", path, oserr.Cause(err))
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	k := &Key{priv: priv, ID: keyID(&priv.PublicKey), Dir: dir}
	return k, k.writeJWKS()
}

// LoadKey reads the signing key in dir (for `devcluster token`).
func LoadKey(dir string) (*Key, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no signing key in %s (%s does not exist): start the cluster with --cert-dir %s and auth on first", dir, path, dir)
	case err != nil:
		return nil, fmt.Errorf("signing key %s (in --cert-dir %s) cannot be read: %w; make it readable by this user", path, dir, oserr.Cause(err))
	}
	k, err := parseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s is not an ECDSA signing key: %v", path, err)
	}
	k.Dir = dir
	return k, nil
}

func parseKey(b []byte) (*Key, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return &Key{priv: priv, ID: keyID(&priv.PublicKey)}, nil
}

// keyID is a stable id derived from the public key.
func keyID(pub *ecdsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return "devcluster-" + hex.EncodeToString(sum[:8])
}

func (k *Key) writeJWKS() error {
	pub := k.priv.PublicKey
	size := (pub.Curve.Params().BitSize + 7) / 8
	pad := func(b []byte) string {
		out := make([]byte, size)
		copy(out[size-len(b):], b)
		return base64.RawURLEncoding.EncodeToString(out)
	}
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": k.ID,
		"x": pad(pub.X.Bytes()), "y": pad(pub.Y.Bytes()),
	}}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(k.JWKSPath(), b, 0o644)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, b, mode); err != nil {
		return fmt.Errorf("%s cannot be written: %w", path, oserr.Cause(err))
	}
	return nil
}

// Grant is what a token allows.
type Grant struct {
	Subject     string
	Namespace   string // with Role; empty for a system-only token
	Role        string // read, write, worker or admin
	SystemAdmin bool
	Audience    string
	TTL         time.Duration
	// ClaimName is the permissions claim (default "permissions").
	ClaimName string
}

// Permissions renders a grant as the default claim mapper's entries,
// "namespace:role".
func (g Grant) Permissions() []string {
	var out []string
	if g.Namespace != "" && g.Role != "" {
		out = append(out, g.Namespace+":"+g.Role)
	}
	if g.SystemAdmin {
		out = append(out, SystemNamespace+":admin")
	}
	return out
}

// ValidRole reports whether role is one the server knows.
func ValidRole(role string) bool {
	for _, r := range Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// Mint signs a token (ES256, with the key id) for g.
func (k *Key) Mint(g Grant, now time.Time) (string, error) {
	if g.Role != "" && !ValidRole(g.Role) {
		return "", fmt.Errorf("role %q is not one of %s", g.Role, strings.Join(Roles, ", "))
	}
	if g.Subject == "" {
		g.Subject = "devcluster-user"
	}
	if g.TTL <= 0 {
		g.TTL = time.Hour
	}
	claim := g.ClaimName
	if claim == "" {
		claim = "permissions"
	}
	claims := jwt.MapClaims{
		"sub": g.Subject,
		"iat": now.Unix(),
		"exp": now.Add(g.TTL).Unix(),
		claim: g.Permissions(),
	}
	if g.Audience != "" {
		claims["aud"] = g.Audience
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = k.ID
	return t.SignedString(k.priv)
}

// Verify checks that token is one this key signed (ES256 with this key's
// id), that it carries an expiry ("exp") later than now, that its "nbf", if
// any, has passed and, when audience is not empty, that its "aud" names
// audience: what the server checks of a token, its permissions aside. It
// returns the token's expiry. Verify is safe for concurrent use.
func (k *Key) Verify(token, audience string, now time.Time) (time.Time, error) {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != k.ID {
			return nil, fmt.Errorf("key id %q is not this cluster's signing key", kid)
		}
		return &k.priv.PublicKey, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("token cannot be verified: %w", err)
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return time.Time{}, errors.New("token has no expiry (exp)")
	}
	expires := time.Unix(int64(exp), 0)
	if !now.Before(expires) {
		return time.Time{}, fmt.Errorf("token expired at %s", expires.UTC().Format(time.RFC3339))
	}
	if !claims.VerifyNotBefore(now.Unix(), false) {
		return time.Time{}, errors.New("token is not valid yet (nbf)")
	}
	if audience != "" && !claims.VerifyAudience(audience, true) {
		return time.Time{}, fmt.Errorf("token is not for audience %q", audience)
	}
	return expires, nil
}

// SystemWorkerClaimMapper wraps the claim mapper of the server's config:
// a caller presenting the system worker's own certificate (the one whose
// public key pin names, see PublicKeyPin) with commonName is a system
// admin; everyone else goes through inner. The name alone is not enough:
// a frontend that trusts a user's CA for client certificates would
// otherwise make anyone that CA serves an admin by naming a certificate
// after the system worker. No pin admits nobody this way; several admit
// the system workers of several clusters that replicate to each other.
//
// Why a certificate and not a token: the server's system worker calls the
// frontend with no way to attach a JWT, and the alternative (an
// internal-frontend service) needs publicClient empty and another listener.
// With mTLS the worker already proves who it is.
func SystemWorkerClaimMapper(inner authorization.ClaimMapper, commonName string, pins ...[]byte) authorization.ClaimMapper {
	return &systemWorkerMapper{inner: inner, cn: commonName, pins: pins}
}

// PublicKeyPin is the SHA-256 of the public key of the first certificate
// in the PEM file certFile: what SystemWorkerClaimMapper compares.
func PublicKeyPin(certFile string) ([]byte, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", certFile, oserr.Cause(err))
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return sum[:], nil
}

type systemWorkerMapper struct {
	inner authorization.ClaimMapper
	cn    string
	pins  [][]byte
}

func (m *systemWorkerMapper) GetClaims(info *authorization.AuthInfo) (*authorization.Claims, error) {
	if m.isSystemWorker(info) {
		return &authorization.Claims{Subject: m.cn, System: authorization.RoleAdmin}, nil
	}
	return m.inner.GetClaims(info)
}

// isSystemWorker: no token, the common name, and the pinned public key in
// the certificate the TLS handshake verified.
func (m *systemWorkerMapper) isSystemWorker(info *authorization.AuthInfo) bool {
	if info == nil || info.AuthToken != "" || info.TLSSubject == nil || info.TLSSubject.CommonName != m.cn ||
		info.TLSConnection == nil || len(info.TLSConnection.State.PeerCertificates) == 0 {
		return false
	}
	sum := sha256.Sum256(info.TLSConnection.State.PeerCertificates[0].RawSubjectPublicKeyInfo)
	for _, pin := range m.pins {
		if len(pin) > 0 && bytes.Equal(sum[:], pin) {
			return true
		}
	}
	return false
}

// WorkerRoleAuthorizer wraps the server's default authorizer so that the
// "worker" role does what its name says. Server 1.32.2 ranks that role below
// reader, so a worker token could call nothing; here it may call the APIs a
// worker calls (polls, task responses, heartbeats, ShutdownWorker,
// DescribeNamespace) in its namespace. Everything else is inner's decision.
//
// logDenied, when not nil, is told why each call was refused (the server
// itself logs only tokens it cannot parse or verify); devcluster logs it at
// debug level.
func WorkerRoleAuthorizer(inner authorization.Authorizer, logDenied func(msg string, args ...any)) authorization.Authorizer {
	return &workerRoleAuthorizer{inner: inner, logDenied: logDenied}
}

type workerRoleAuthorizer struct {
	inner     authorization.Authorizer
	logDenied func(msg string, args ...any)
}

func (a *workerRoleAuthorizer) Authorize(ctx context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	r, err := a.inner.Authorize(ctx, claims, target)
	if err != nil || r.Decision == authorization.DecisionAllow {
		return r, err
	}
	if claims != nil && claims.Namespaces[target.Namespace]&authorization.RoleWorker != 0 && workerAPI(target.APIName) {
		return authorization.Result{Decision: authorization.DecisionAllow}, nil
	}
	if a.logDenied != nil {
		a.logDenied("request denied", "api", target.APIName, "namespace", target.Namespace, "reason", denyReason(claims, target))
	}
	return r, err
}

// denyReason says, for the log, why claims do not reach target.
func denyReason(claims *authorization.Claims, target *authorization.CallTarget) string {
	if claims == nil {
		return "no token and no client certificate the claim mapper knows"
	}
	return fmt.Sprintf("subject %q has role %s in namespace %q and system role %s; the API needs more",
		claims.Subject, roleNames(claims.Namespaces[target.Namespace]), target.Namespace, roleNames(claims.System))
}

func roleNames(r authorization.Role) string {
	var out []string
	for _, n := range []struct {
		role authorization.Role
		name string
	}{{authorization.RoleWorker, "worker"}, {authorization.RoleReader, "read"}, {authorization.RoleWriter, "write"}, {authorization.RoleAdmin, "admin"}} {
		if r&n.role != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "+")
}

// workerAPI reports whether a full method name ("/pkg.Service/Method") is
// one an SDK worker calls.
func workerAPI(full string) bool {
	m := full[strings.LastIndexByte(full, '/')+1:]
	if api.GetMethodMetadata(full).Polling != api.PollingNone {
		return true
	}
	switch {
	case strings.HasPrefix(m, "Respond"), strings.HasPrefix(m, "RecordActivityTaskHeartbeat"):
		return true
	}
	switch m {
	case "ShutdownWorker", "RecordWorkerHeartbeat", "DescribeNamespace", "GetSystemInfo":
		return true
	}
	return false
}

// StaticAudience is the audience every token must carry (auth.audience).
type StaticAudience string

// Audience implements the server's JWTAudienceMapper.
func (s StaticAudience) Audience(context.Context, any, *grpc.UnaryServerInfo) string {
	return string(s)
}
