package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
)

// The temporal CLI's TLS flag names, reused by wait-ready.
const (
	flagTLSCert       = "tls-cert-path"
	flagTLSKey        = "tls-key-path"
	flagTLSCA         = "tls-ca-path"
	flagTLSServerName = "tls-server-name"
	flagAPIKey        = "api-key"
)

// waitReadyTLS builds wait-ready's client TLS config from its flags; nil
// when none is given.
func waitReadyTLS(c *cli.Context) (*tls.Config, error) {
	cert, key, ca := c.String(flagTLSCert), c.String(flagTLSKey), c.String(flagTLSCA)
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	if cert == "" || key == "" || ca == "" {
		return nil, fmt.Errorf("flags --%s, --%s and --%s go together (the banner of a TLS cluster prints them)", flagTLSCert, flagTLSKey, flagTLSCA)
	}
	name := c.String(flagTLSServerName)
	if name == "" {
		name = profiles.Default().TLS.ServerName
	}
	return profiles.TLS{Enabled: true, ServerName: name,
		Client: profiles.TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca}}.ClientConfig()
}

// printTLS tells a person how to connect to a TLS cluster.
func printTLS(w io.Writer, c *bootstrap.Cluster) {
	t, ok := c.TLS()
	if !ok {
		return
	}
	printClientTLS(w, t.Client, t.ServerName)
	if tok := c.AdminToken(); tok != "" {
		keyDir := c.Config().Auth.KeyDir // the signing key's: with --clusters, above each cluster's own directory
		if c.Config().TLS.CertDir == "" {
			keyDir = "" // a temporary directory, gone at exit
		}
		printToken(w, tok, c.Config().Auth.TokenTTL, authHeader(c.Config()), keyDir)
	}
}

// printClientTLS names the files a client of a TLS cluster needs.
func printClientTLS(w io.Writer, client profiles.TLSFiles, serverName string) {
	fmt.Fprintf(w, "\nmTLS is on (internode and frontend, each with its own CA). Client files:\n")
	fmt.Fprintf(w, "  certificate  %s\n  key          %s\n  CA           %s\n  server name  %s\n",
		client.CertFile, client.KeyFile, client.CAFile, serverName)
	fmt.Fprintf(w, "temporal CLI flags:\n  --tls-cert-path %s --tls-key-path %s --tls-ca-path %s --tls-server-name %s\n",
		client.CertFile, client.KeyFile, client.CAFile, serverName)
	fmt.Fprintf(w, "or the environment (the CLI and envconfig-aware SDKs read it):\n")
	fmt.Fprintf(w, "  export TEMPORAL_TLS_CLIENT_CERT_PATH=%s\n  export TEMPORAL_TLS_CLIENT_KEY_PATH=%s\n", client.CertFile, client.KeyFile)
	fmt.Fprintf(w, "  export TEMPORAL_TLS_SERVER_CA_CERT_PATH=%s\n  export TEMPORAL_TLS_SERVER_NAME=%s\n", client.CAFile, serverName)
}

// printToken shows an admin token and how to pass it.
func printToken(w io.Writer, tok string, ttl time.Duration, header, certDir string) {
	fmt.Fprintf(w, "\nAuth is on (JWT; the default ClaimMapper and Authorizer). An admin token, valid %s:\n  %s\n", ttl, tok)
	if header != "authorization" {
		fmt.Fprintf(w, "The server reads tokens from the header %q (auth.header-name): temporal --grpc-meta %s='Bearer <token>' ...,\n", header, header)
		fmt.Fprintf(w, "or client.Options{HeadersProvider: ...} returning {%q: \"Bearer \" + token} in Go (cluster.ClientOptions does).\n", header)
	} else {
		fmt.Fprintf(w, "Pass it as an API key: temporal --api-key <token> ..., export TEMPORAL_API_KEY=<token>,\n")
		fmt.Fprintf(w, "or client.Options{Credentials: client.NewAPIKeyStaticCredentials(token)} in Go.\n")
	}
	if certDir != "" {
		fmt.Fprintf(w, "Other roles: devcluster token --cert-dir %s --namespace NS --role read|write|worker|admin\n", certDir)
	} else {
		fmt.Fprintf(w, "Start with --cert-dir DIR to keep the signing key and mint other roles with devcluster token.\n")
	}
}

// authHeader is the metadata key the cluster's server reads tokens from.
func authHeader(cfg profiles.Config) string {
	return clientconn.Header(cfg.Auth.HeaderName)
}
