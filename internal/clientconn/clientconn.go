// Package clientconn is how devcluster's own clients (the CLI, testutil,
// the readiness probe) reach a cluster's frontend: the client TLS config
// from a resolved TLS section, bearer-token credentials in the header the
// server reads, and a gRPC connection built from both; and the client
// operations on any address: poll until ready (with a replicating group's
// peers), fail a namespace over, errors in words.
package clientconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/devcluster/devcluster/internal/oserr"
)

// CertPool reads a PEM file of CA certificates.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", oserr.Cause(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("holds no PEM certificate")
	}
	return pool, nil
}

// Options returns the dial options for a frontend: over TLS when
// tlsConfig is set, with token as a bearer token in header (the server's
// auth.header-name; see Header) when set. A token needs TLS.
func Options(tlsConfig *tls.Config, header, token string) ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	out := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if token != "" {
		if tlsConfig == nil {
			return nil, errors.New("a token needs TLS: give the TLS flags too")
		}
		out = append(out, grpc.WithPerRPCCredentials(BearerToken{Header: header, Token: token}))
	}
	return out, nil
}

// Dial connects to the frontend at addr (see Options). The caller closes
// the connection.
func Dial(addr string, tlsConfig *tls.Config, header, token string) (*grpc.ClientConn, error) {
	dopts, err := Options(tlsConfig, header, token)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// BearerToken is per-RPC credentials sending "<Header>: Bearer <Token>";
// an empty Header is "authorization", the server's default.
type BearerToken struct {
	Header, Token string
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{Header(b.Header): "Bearer " + b.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (BearerToken) RequireTransportSecurity() bool { return true }

// Header is the gRPC metadata key the server reads tokens from:
// auth.header-name in lower case (gRPC metadata keys are), "authorization"
// when empty.
func Header(name string) string {
	if name == "" {
		return "authorization"
	}
	return strings.ToLower(name)
}
