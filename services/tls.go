package services

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/server/common/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/devcluster/devcluster/profiles"
)

// rootTLS maps resolved certificate files (every section named; see
// bootstrap) onto the server's global.tls: internode and frontend each
// require client certificates from their own CA, clients check the server
// name, and the system worker presents its own certificate to the frontend.
func rootTLS(t profiles.TLS) config.RootTLS {
	if !t.Enabled {
		return config.RootTLS{}
	}
	return config.RootTLS{
		Internode: config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.Internode.CertFile, KeyFile: t.Internode.KeyFile,
				ClientCAFiles: []string{t.Internode.CAFile}, RequireClientAuth: true},
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Internode.CAFile}},
		},
		Frontend: config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.Frontend.CertFile, KeyFile: t.Frontend.KeyFile,
				ClientCAFiles: []string{t.Frontend.CAFile}, RequireClientAuth: t.RequireClientAuth},
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Client.CAFile}},
		},
		SystemWorker: config.WorkerTLS{CertFile: t.SystemWorker.CertFile, KeyFile: t.SystemWorker.KeyFile,
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Client.CAFile}}},
	}
}

// ClientTLS returns the TLS config an SDK client uses to reach the frontend
// (nil when TLS is off): the client certificate, the CA that signed the
// frontend's certificate, and the expected server name.
func ClientTLS(t profiles.TLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Client.CertFile, t.Client.KeyFile)
	if err != nil {
		return nil, &profiles.FieldError{Key: "tls.client", Value: t.Client.CertFile, Msg: fmt.Sprintf("cannot be loaded: %v", err)}
	}
	pool, err := certPool(t.Client.CAFile)
	if err != nil {
		return nil, &profiles.FieldError{Key: "tls.client.ca-file", Value: t.Client.CAFile, Msg: err.Error()}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}, nil
}

func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", unwrapPathErr(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("holds no PEM certificate")
	}
	return pool, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// dialOptions returns the transport credentials for the frontend and, with
// a token, the bearer credentials every call carries in header (the
// server's auth.header-name).
func dialOptions(t profiles.TLS, header, token string) ([]grpc.DialOption, error) {
	tc, err := ClientTLS(t)
	if err != nil {
		return nil, err
	}
	if tc == nil {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	out := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
	if token != "" {
		out = append(out, grpc.WithPerRPCCredentials(BearerToken{Header: header, Token: token}))
	}
	return out, nil
}

// BearerToken is per-RPC credentials sending "<Header>: Bearer <Token>";
// an empty Header is "authorization", the server's default.
type BearerToken struct {
	Header, Token string
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{AuthHeader(b.Header): "Bearer " + b.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (BearerToken) RequireTransportSecurity() bool { return true }

// AuthHeader is the gRPC metadata key the server reads tokens from:
// auth.header-name in lower case (gRPC metadata keys are), "authorization"
// when empty.
func AuthHeader(name string) string {
	if name == "" {
		return "authorization"
	}
	return strings.ToLower(name)
}

// CheckTLSFiles checks the files a resolved TLS section names: each exists,
// each cert/key pair loads, each CA file holds a certificate. Errors name
// the key and the file.
func CheckTLSFiles(t profiles.TLS) error {
	if !t.Enabled {
		return nil
	}
	var errs []error
	for _, s := range []struct {
		key   string
		files profiles.TLSFiles
	}{{"tls.internode", t.Internode}, {"tls.frontend", t.Frontend}, {"tls.system-worker", t.SystemWorker}, {"tls.client", t.Client}} {
		if s.files.CertFile != "" || s.files.KeyFile != "" {
			if _, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile); err != nil {
				errs = append(errs, &profiles.FieldError{Key: s.key + ".cert-file", Value: s.files.CertFile,
					Msg: fmt.Sprintf("and %s cannot be loaded as a PEM certificate and key: %v", s.files.KeyFile, unwrapPathErr(err))})
			}
		}
		if s.files.CAFile != "" {
			if _, err := certPool(s.files.CAFile); err != nil {
				errs = append(errs, &profiles.FieldError{Key: s.key + ".ca-file", Value: s.files.CAFile, Msg: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
