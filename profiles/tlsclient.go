package profiles

import (
	"crypto/tls"
	"fmt"

	"github.com/devcluster/devcluster/internal/clientconn"
)

// ClientConfig returns the TLS config a client uses to reach the frontend
// (nil when TLS is off): the client certificate, the CA that signed the
// frontend's certificate, and the expected server name. A file that cannot
// be used is a *FieldError naming its key.
func (t TLS) ClientConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Client.CertFile, t.Client.KeyFile)
	if err != nil {
		return nil, &FieldError{Key: "tls.client", Value: t.Client.CertFile, Msg: fmt.Sprintf("cannot be loaded: %v", err)}
	}
	pool, err := clientconn.CertPool(t.Client.CAFile)
	if err != nil {
		return nil, &FieldError{Key: "tls.client.ca-file", Value: t.Client.CAFile, Msg: err.Error()}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}, nil
}

// InternodeClientConfig is how a caller presents itself to a service
// other than the frontend (history, matching), as the nodes do to each
// other: the internode certificate, checked against the internode CA,
// and the dialed address when VerifyInternodeAddress says so; nil when
// TLS is off.
func (t TLS) InternodeClientConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Internode.CertFile, t.Internode.KeyFile)
	if err != nil {
		return nil, &FieldError{Key: "tls.internode", Value: t.Internode.CertFile, Msg: fmt.Sprintf("cannot be loaded: %v", err)}
	}
	pool, err := clientconn.CertPool(t.Internode.CAFile)
	if err != nil {
		return nil, &FieldError{Key: "tls.internode.ca-file", Value: t.Internode.CAFile, Msg: err.Error()}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: t.InternodeServerName(), MinVersion: tls.VersionTLS12}, nil
}

// InternodeServerName is the name internode clients check: ServerName, or
// "" (the dialed address) with VerifyInternodeAddress.
func (t TLS) InternodeServerName() string {
	if t.VerifyInternodeAddress {
		return ""
	}
	return t.ServerName
}
