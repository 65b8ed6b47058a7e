package main

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/devcluster/devcluster/auth"
)

// TestTokenClaims mints a token with every flag and reads its claims back.
func TestTokenClaims(t *testing.T) {
	clearEnv(t) // process environment: not parallel
	dir := t.TempDir()
	if _, err := auth.EnsureKey(dir); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "token", "--cert-dir", dir, "--namespace", "orders", "--role", "write",
		"--system-admin", "--ttl", "2h", "--audience", "my-aud", "--claim", "perms", "--subject", "ci-bot")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	parts := strings.Split(strings.TrimSpace(stdout), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", stdout)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub   string   `json:"sub"`
		Aud   any      `json:"aud"`
		Perms []string `json:"perms"`
		Iat   int64    `json:"iat"`
		Exp   int64    `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("claims %s: %v", b, err)
	}
	if claims.Sub != "ci-bot" || !strings.Contains(string(b), `"my-aud"`) {
		t.Errorf("sub %q, aud %v; want ci-bot and my-aud", claims.Sub, claims.Aud)
	}
	if !slices.Contains(claims.Perms, "orders:write") || !slices.Contains(claims.Perms, "temporal-system:admin") {
		t.Errorf("perms %v; want orders:write and temporal-system:admin", claims.Perms)
	}
	if d := claims.Exp - claims.Iat; d < 7190 || d > 7210 {
		t.Errorf("valid for %d s, want 2h", d)
	}
}

// TestTokenTTLMustBePositive: a --ttl of zero or less is refused with exit
// 2, not turned into a one-hour token.
func TestTokenTTLMustBePositive(t *testing.T) {
	clearEnv(t) // process environment: not parallel
	dir := t.TempDir()
	if _, err := auth.EnsureKey(dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ttl, want string
	}{
		{"negative", "-1h", "flag --ttl: -1h0m0s must be positive, e.g. --ttl 8h"},
		{"zero", "0s", "flag --ttl: 0s must be positive, e.g. --ttl 8h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "token", "--cert-dir", dir, "--ttl", tc.ttl)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("--ttl %s: exit %d, stdout %q, stderr %q; want exit %d, no token and %q", tc.ttl, code, stdout, stderr, exitUsage, tc.want)
			}
		})
	}
}
