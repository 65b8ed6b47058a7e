package services

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// frontendClientCAs are the CAs the frontend accepts client certificates
// from: tls.frontend.ca-file, then any devcluster added (see
// profiles.TLS.FrontendClientCAFiles).
func frontendClientCAs(t profiles.TLS) []string {
	out := []string{t.Frontend.CAFile}
	for _, f := range t.FrontendClientCAFiles {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// CheckTLSChains checks that the certificates of a resolved TLS section
// (every file named: the user's and generated ones) trust each other the
// way the server and its clients will check them at now, so that a mix
// that cannot work is refused at once, naming the keys, instead of a start
// that waits for a system worker that can never connect:
//
//   - the frontend's certificate chains to tls.client.ca-file (the CA
//     devcluster's clients and the system worker check it with) for the
//     server name;
//   - with tls.require-client-auth, the system worker's and the client's
//     certificates chain to a CA the frontend accepts client certificates
//     from;
//   - the internode certificate chains to tls.internode.ca-file.
//
// given is the TLS section as the user configured it: a section set there
// is the user's, the others are generated, and the message says which
// files must come from the user. CheckTLSFiles has passed before (every
// file loads), so a file that cannot be read here is reported as such.
func CheckTLSChains(resolved, given profiles.TLS, ip string, now time.Time) error {
	if !resolved.Enabled {
		return nil
	}
	name := resolved.ServerName
	if name == "" {
		name = netaddr.DialIP(ip)
	}
	var errs []error
	// Clients check the frontend.
	if err := verifyLeaf(resolved.Frontend.CertFile, []string{resolved.Client.CAFile}, name, x509.ExtKeyUsageServerAuth, now); err != nil {
		fe := &profiles.FieldError{Key: "tls.client.ca-file", Value: resolved.Client.CAFile}
		switch {
		case given.Client.Set() && given.Frontend.Set():
			fe.Msg = fmt.Sprintf("does not verify the frontend's certificate %s (tls.frontend.cert-file): %v; give the CA that signed it (clients and the system worker check the frontend with it)", resolved.Frontend.CertFile, err)
		case given.Client.Set():
			fe.Msg = fmt.Sprintf("does not verify the frontend's generated certificate: %v; clients and the system worker check the frontend with it, so give tls.frontend.{cert-file,key-file,ca-file} too, with a certificate this CA signed, or remove the tls.client settings", err)
		case given.Frontend.Set():
			fe.Key, fe.Value = "tls.frontend.ca-file", resolved.Frontend.CAFile
			fe.Msg = fmt.Sprintf("does not verify tls.frontend.cert-file %s: %v; with tls.client generated, devcluster's clients and the system worker check the frontend with this CA: give the CA that signed the frontend's certificate, or give tls.client.{cert-file,key-file,ca-file} with that CA as its ca-file", resolved.Frontend.CertFile, err)
		default:
			fe.Key, fe.Value = "tls.frontend.cert-file", resolved.Frontend.CertFile
			fe.Msg = fmt.Sprintf("is not verified by the generated CA clients check it with: %v", err)
		}
		errs = append(errs, fe)
	}
	// The frontend checks its clients' certificates.
	if resolved.RequireClientAuth {
		cas := frontendClientCAs(resolved)
		for _, s := range []struct {
			key          string
			files, given profiles.TLSFiles
			who          string
		}{
			{"tls.system-worker", resolved.SystemWorker, given.SystemWorker, "the server's own system worker"},
			{"tls.client", resolved.Client, given.Client, "devcluster's own calls, SDKs, the CLI and the Web UI"},
		} {
			err := verifyLeaf(s.files.CertFile, cas, "", x509.ExtKeyUsageClientAuth, now)
			if err == nil {
				continue
			}
			fe := &profiles.FieldError{Key: s.key + ".cert-file", Value: s.files.CertFile}
			switch {
			case s.given.Set() && given.Frontend.Set():
				fe.Msg = fmt.Sprintf("is not accepted by the frontend (tls.frontend.ca-file %s): %v; it is presented by %s: give a certificate that CA signed, or turn tls.require-client-auth off",
					resolved.Frontend.CAFile, err, s.who)
			case s.given.Set():
				fe.Msg = fmt.Sprintf("is not accepted by the frontend, whose client CA devcluster generates: %v; it is presented by %s: give tls.frontend.{cert-file,key-file,ca-file} too, with ca-file the CA that signed this certificate, or remove the %s settings",
					err, s.who, s.key)
			default:
				fe.Key, fe.Value = "tls.frontend.ca-file", resolved.Frontend.CAFile
				fe.Msg = fmt.Sprintf("does not accept the generated %s certificate: %v", s.key, err)
			}
			errs = append(errs, fe)
		}
	}
	// Internode: each service is the others' client and server.
	if given.Internode.Set() {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			n := name
			if usage == x509.ExtKeyUsageClientAuth {
				n = ""
			}
			if err := verifyLeaf(resolved.Internode.CertFile, []string{resolved.Internode.CAFile}, n, usage, now); err != nil {
				errs = append(errs, &profiles.FieldError{Key: "tls.internode.cert-file", Value: resolved.Internode.CertFile,
					Msg: fmt.Sprintf("is not verified by tls.internode.ca-file %s: %v; every service presents it to the others as server and client, so give a certificate that CA signed for both uses", resolved.Internode.CAFile, err)})
				break
			}
		}
	}
	return errors.Join(errs...)
}

// verifyLeaf verifies the first certificate of certFile (the rest of the
// file are intermediates) against the CA files for usage, and, when name
// is not empty, for that host name.
func verifyLeaf(certFile string, caFiles []string, name string, usage x509.ExtKeyUsage, now time.Time) error {
	chain, err := readCerts(certFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	for _, f := range caFiles {
		cas, err := readCerts(f)
		if err != nil {
			return err
		}
		for _, c := range cas {
			roots.AddCert(c)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name,
		CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		// x509's text adds a guess about the candidate CA's signature.
		return fmt.Errorf("%s is not signed by %s", certFile, strings.Join(caFiles, " or "))
	}
	return err
}

// readCerts reads every certificate of a PEM file.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s cannot be read: %v", path, oserr.Cause(err))
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}
