package services

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/server/common/config"

	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/netaddr"
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
			Client: config.ClientTLS{ServerName: t.InternodeServerName(), RootCAFiles: []string{t.Internode.CAFile}},
		},
		Frontend: config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.Frontend.CertFile, KeyFile: t.Frontend.KeyFile,
				ClientCAFiles: frontendClientCAs(t), RequireClientAuth: t.RequireClientAuth},
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Client.CAFile}},
		},
		SystemWorker: config.WorkerTLS{CertFile: t.SystemWorker.CertFile, KeyFile: t.SystemWorker.KeyFile,
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Client.CAFile}}},
		RemoteClusters: remoteClusters(t),
	}
}

// remoteClusters is how replication reaches the other clusters' frontends
// (the server picks the entry by the host it dials): with this cluster's
// system-worker certificate, which they accept, checking their
// certificates with Client.CAFile, every cluster's frontend CA.
func remoteClusters(t profiles.TLS) map[string]config.GroupTLS {
	if len(t.PeerHosts) == 0 {
		return nil
	}
	out := map[string]config.GroupTLS{}
	for _, h := range t.PeerHosts {
		out[h] = config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.SystemWorker.CertFile, KeyFile: t.SystemWorker.KeyFile, RequireClientAuth: true},
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.Client.CAFile}},
		}
	}
	return out
}

// CheckTLSFiles checks the files a resolved TLS section names, as the
// server and its clients will use them at now, so that a bad file stops
// the start with its key and path instead of a start-up timeout: each
// cert/key pair loads and the key is the certificate's; each certificate
// and CA file is valid at now; the internode and frontend certificates
// cover the name clients check (tls.server-name, or ip, the cluster's ip,
// when that is empty). Every problem is a *profiles.FieldError naming the
// key and the file.
func CheckTLSFiles(t profiles.TLS, ip string, now time.Time) error {
	if !t.Enabled {
		return nil
	}
	name := t.ServerName
	if name == "" {
		name = netaddr.DialIP(ip)
	}
	var errs []error
	for _, s := range []struct {
		key    string
		files  profiles.TLSFiles
		server bool // clients check its SANs
	}{{"tls.internode", t.Internode, true}, {"tls.frontend", t.Frontend, true}, {"tls.system-worker", t.SystemWorker, false}, {"tls.client", t.Client, false}} {
		fix := "remove the " + s.key + " settings to use throwaway certificates"
		if s.files.CertFile != "" || s.files.KeyFile != "" {
			checkName := ""
			if s.server {
				checkName = name
			}
			for _, p := range certs.CheckPair(s.files.CertFile, s.files.KeyFile, now, checkName) {
				fe := &profiles.FieldError{Key: s.key + ".cert-file", Value: s.files.CertFile, Err: p.Err}
				switch {
				case errors.Is(p, certs.ErrUnreadable):
					fe.Msg = fmt.Sprintf("and %s cannot be loaded as a PEM certificate and key: %s", s.files.KeyFile, p.Msg)
				case errors.Is(p, certs.ErrKeyMismatch):
					fe.Key, fe.Value = s.key+".key-file", s.files.KeyFile
					fe.Msg = fmt.Sprintf("%s (%s.cert-file); give the key the certificate was issued with, or %s", p.Msg, s.key, fix)
				case errors.Is(p, certs.ErrExpired):
					fe.Msg = p.Msg + "; issue a new certificate or " + fix
				case errors.Is(p, certs.ErrNotYetValid):
					fe.Msg = p.Msg + "; check the clock, issue a certificate valid now, or " + fix
				case errors.Is(p, certs.ErrNameMismatch) && t.ServerName == "":
					fe.Msg = fmt.Sprintf("%s, the address clients dial (tls.server-name is empty); issue a certificate for it, or set tls.server-name to one of its names", p.Msg)
				case errors.Is(p, certs.ErrNameMismatch):
					fe.Msg = fmt.Sprintf("%s, the server name clients check (tls.server-name); issue a certificate for %s, or set tls.server-name to one of its names", p.Msg, name)
				default:
					fe.Msg = p.Msg
				}
				errs = append(errs, fe)
			}
		}
		if s.files.CAFile != "" {
			if _, err := clientconn.CertPool(s.files.CAFile); err != nil {
				errs = append(errs, &profiles.FieldError{Key: s.key + ".ca-file", Value: s.files.CAFile, Msg: err.Error()})
			} else if p := certs.CheckCAFile(s.files.CAFile, now); p != nil {
				errs = append(errs, &profiles.FieldError{Key: s.key + ".ca-file", Value: s.files.CAFile, Err: p.Err,
					Msg: p.Msg + "; use a current CA certificate or " + fix})
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
