package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// ClientTLS returns a TLS client configuration for SDK clients talking to the
// frontend: it presents client.pem and trusts only the frontend CA.
//
// serverName is the name to verify the frontend certificate against; it must
// be one of Set.Hosts. An empty serverName leaves tls.Config.ServerName empty
// so that the dialer infers it from the address it connects to (as
// tls.Dial and gRPC do).
func (s *Set) ClientTLS(serverName string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("certs: cannot load client certificate %s with key %s: %w; "+
			"run certs.Ensure again (or delete %s) to regenerate the set", s.ClientCert, s.ClientKey, err, s.Dir)
	}
	ca, err := readCert(s.FrontendCA)
	if err != nil {
		return nil, fmt.Errorf("certs: %w; run certs.Ensure again (or delete %s) to regenerate the set", err, s.Dir)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
