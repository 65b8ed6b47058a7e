package bootstrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// checkSameCA keeps a node whose certificates belong to another cluster
// out of a running one. A node of several (ringpop) that runs no frontend
// dials, before anything starts, the cluster's frontends (on this host and
// on the hosts of the live frontend members the database names, at
// services.frontend.grpc-port), presenting the system worker's
// certificate, as its own worker would: a frontend whose certificate its
// CA did not sign, or that refuses its certificate, is another cluster's.
// Joining would make the node a ringpop member owning shards that the
// other nodes cannot call (and it them), so it stops here, saying why, in
// a second rather than retrying until the startup timeout. No frontend
// answering (the cluster is starting with this node) is not an error.
//
// A node that runs a frontend of its own is not checked this way: the
// address it knows is its own.
func checkSameCA(ctx context.Context, cfg profiles.Config) error {
	if !cfg.Ringpop() || cfg.Runs(profiles.Frontend) {
		return nil
	}
	// Where the cluster's frontends are: this host, and the hosts of the
	// live frontend members the shared database names (nodes on other
	// hosts), each on the cluster's frontend port.
	hosts := []string{netaddr.DialIP(cfg.IP)}
	dbCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // before the startup timeout's context exists
	live := services.LiveFrontendHosts(dbCtx, cfg)
	cancel()
	for _, h := range live {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, h := range hosts {
		if err := checkFrontendCA(ctx, cfg, netaddr.HostPort(h, cfg.Services.Frontend.GRPCPort)); err != nil {
			return err
		}
	}
	return nil
}

// checkFrontendCA is checkSameCA against the frontend at addr.
func checkFrontendCA(ctx context.Context, cfg profiles.Config, addr string) error {
	t := cfg.TLS
	if !t.Enabled {
		if speaksTLS(ctx, addr) {
			return &profiles.FieldError{Key: "tls.enabled", Value: false,
				Msg: fmt.Sprintf("but the cluster's frontend at %s speaks TLS: its nodes take mutual TLS, and this node would join them in plaintext, which they refuse. Start it as the others were (--profile secure, or --tls, with the same --cert-dir)", addr)}
		}
		return nil
	}
	if t.SystemWorker.CertFile == "" || t.Client.CAFile == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(t.SystemWorker.CertFile, t.SystemWorker.KeyFile)
	if err != nil {
		return nil // CheckTLSFiles reports unreadable files
	}
	pem, err := os.ReadFile(t.Client.CAFile)
	if err != nil {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil // nothing there yet
	}
	defer func() { _ = raw.Close() }()
	if d, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(d)
	}
	conn := tls.Client(raw, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: t.ServerName,
		NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	why := ""
	if err := conn.HandshakeContext(ctx); err != nil {
		var unknown x509.UnknownAuthorityError
		var verify *tls.CertificateVerificationError
		switch {
		case errors.As(err, &unknown), errors.As(err, &verify):
			why = fmt.Sprintf("presents a certificate that %s did not sign (%v)", t.Client.CAFile, err)
		case refusedCert(err):
			why = fmt.Sprintf("refuses this node's certificate %s (%v)", t.SystemWorker.CertFile, err)
		case errors.As(err, new(tls.RecordHeaderError)):
			return &profiles.FieldError{Key: "tls.enabled", Value: true,
				Msg: fmt.Sprintf("but the cluster's frontend at %s speaks plaintext: its nodes run without TLS, and this node would join them with mutual TLS, which they cannot speak. Start it as the others were (without --tls and --profile secure), or restart them all with TLS", addr)}
		default:
			return nil // not a TLS frontend, or not answering: the server's own checks say more
		}
	} else {
		// TLS 1.3: a server that refuses the client's certificate says so
		// after the handshake, at the first read (the server speaks first
		// in HTTP/2, with its settings frame).
		_ = raw.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := conn.Read(make([]byte, 1)); err != nil && refusedCert(err) {
			why = fmt.Sprintf("refuses this node's certificate %s (%v)", t.SystemWorker.CertFile, err)
		}
	}
	if why == "" {
		return nil
	}
	ca := t.Client.CAFile
	if fp, err := certs.Fingerprint(ca); err == nil {
		ca += " (sha256 " + fp[:16] + "...)"
	}
	return &profiles.FieldError{Key: "tls.cert-dir", Value: t.CertDir,
		Msg: fmt.Sprintf("holds another cluster's CA than the running nodes trust: the cluster's frontend at %s %s. This node would not be trusted by them (nor they by it), so it does not join. Point tls.cert-dir (--cert-dir) at the directory the running nodes were started with; this one's frontend CA is %s",
			addr, why, ca)}
}

// refusedCert reports whether err is the alert of a TLS peer that did not
// accept this side's certificate.
func refusedCert(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unknown certificate authority") || strings.Contains(s, "bad certificate") ||
		strings.Contains(s, "certificate required")
}

// speaksTLS reports whether a TLS handshake with addr succeeds (not
// checking its certificate): a server there speaks TLS.
func speaksTLS(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}} //nolint:gosec // only asks whether TLS is spoken
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
