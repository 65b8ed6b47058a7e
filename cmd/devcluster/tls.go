package main

import (
	"crypto/tls"
	"fmt"
	"io"

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
	fmt.Fprintf(w, "\nmTLS is on (internode and frontend, each with its own CA). Client files:\n")
	fmt.Fprintf(w, "  certificate  %s\n  key          %s\n  CA           %s\n  server name  %s\n",
		t.Client.CertFile, t.Client.KeyFile, t.Client.CAFile, t.ServerName)
	fmt.Fprintf(w, "temporal CLI flags:\n  --tls-cert-path %s --tls-key-path %s --tls-ca-path %s --tls-server-name %s\n",
		t.Client.CertFile, t.Client.KeyFile, t.Client.CAFile, t.ServerName)
	fmt.Fprintf(w, "or the environment (the CLI and envconfig-aware SDKs read it):\n")
	fmt.Fprintf(w, "  export TEMPORAL_TLS_CLIENT_CERT_PATH=%s\n  export TEMPORAL_TLS_CLIENT_KEY_PATH=%s\n", t.Client.CertFile, t.Client.KeyFile)
	fmt.Fprintf(w, "  export TEMPORAL_TLS_SERVER_CA_CERT_PATH=%s\n  export TEMPORAL_TLS_SERVER_NAME=%s\n", t.Client.CAFile, t.ServerName)
	if tok := c.AdminToken(); tok != "" {
		fmt.Fprintf(w, "\nAuth is on (JWT; the default ClaimMapper and Authorizer). An admin token, valid %s:\n  %s\n", c.Config().Auth.TokenTTL, tok)
		if h := authHeader(c); h != "authorization" {
			fmt.Fprintf(w, "The server reads tokens from the header %q (auth.header-name): temporal --grpc-meta %s='Bearer <token>' ...,\n", h, h)
			fmt.Fprintf(w, "or client.Options{HeadersProvider: ...} returning {%q: \"Bearer \" + token} in Go (cluster.ClientOptions does).\n", h)
		} else {
			fmt.Fprintf(w, "Pass it as an API key: temporal --api-key <token> ..., export TEMPORAL_API_KEY=<token>,\n")
			fmt.Fprintf(w, "or client.Options{Credentials: client.NewAPIKeyStaticCredentials(token)} in Go.\n")
		}
		if dir := c.Config().TLS.CertDir; dir != "" {
			fmt.Fprintf(w, "Other roles: devcluster token --cert-dir %s --namespace NS --role read|write|worker|admin\n", dir)
		} else {
			fmt.Fprintf(w, "Start with --cert-dir DIR to keep the signing key and mint other roles with devcluster token.\n")
		}
	}
}

// authHeader is the metadata key the cluster's server reads tokens from.
func authHeader(c *bootstrap.Cluster) string {
	return clientconn.Header(c.Config().Auth.HeaderName)
}
