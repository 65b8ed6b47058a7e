package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/devcluster/devcluster/internal/oserr"
	"os"
	"strings"
	"time"
)

// Sentinels that CheckPair's and CheckCAFile's problems wrap; test with
// errors.Is.
var (
	// ErrUnreadable: a file cannot be read, or does not hold a PEM
	// certificate and key.
	ErrUnreadable = errors.New("cannot be loaded")
	// ErrKeyMismatch: the key is not the certificate's.
	ErrKeyMismatch = errors.New("key does not match the certificate")
	// ErrExpired: the certificate's NotAfter has passed.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: the certificate's NotBefore is still to come.
	ErrNotYetValid = errors.New("certificate not valid yet")
	// ErrNameMismatch: the certificate's SANs lack the name clients check.
	ErrNameMismatch = errors.New("certificate does not cover the server name")
)

// CheckError is one reason a certificate file another tool issued cannot
// be used. Msg says what is wrong without naming the file, so that a front
// end can put it under its own key ("tls.frontend.cert-file: /x/f.pem
// expired on ...").
type CheckError struct {
	// File is the file at fault: the key for ErrKeyMismatch, otherwise the
	// certificate (or CA) file.
	File string
	// Msg, e.g. "expired on 2026-01-02 15:04:05 UTC (NotAfter)".
	Msg string
	// Err is one of the sentinels above.
	Err error
}

func (e *CheckError) Error() string { return e.File + " " + e.Msg }

// Unwrap returns the sentinel.
func (e *CheckError) Unwrap() error { return e.Err }

// timeFormat renders NotBefore and NotAfter.
const timeFormat = "2006-01-02 15:04:05 UTC"

// CheckPair checks a certificate and its key as a server or client will
// use them at now, before anything dials: the pair loads, the key is the
// certificate's, now lies within the certificate's validity period and,
// when serverName is not empty, the certificate's SANs cover serverName
// (as a TLS client verifies it: DNS names with wildcards, or IP addresses).
// It returns every problem it finds, nil when there is none. Only the
// first (leaf) certificate of certFile is checked; chains are the
// verifier's business.
func CheckPair(certFile, keyFile string, now time.Time, serverName string) []*CheckError {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if keyMismatch(certFile, keyFile) {
			return []*CheckError{{File: keyFile, Err: ErrKeyMismatch,
				Msg: fmt.Sprintf("is not the key of the certificate in %s", certFile)}}
		}
		return []*CheckError{{File: certFile, Err: ErrUnreadable, Msg: oserr.Cause(err).Error()}}
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return []*CheckError{{File: certFile, Err: ErrUnreadable, Msg: err.Error()}}
		}
	}
	var out []*CheckError
	if p := checkPeriod(certFile, leaf, now); p != nil {
		out = append(out, p)
	}
	if serverName != "" {
		if err := leaf.VerifyHostname(serverName); err != nil {
			out = append(out, &CheckError{File: certFile, Err: ErrNameMismatch,
				Msg: fmt.Sprintf("lacks SAN %s (its SANs: %s)", serverName, sans(leaf))})
		}
	}
	return out
}

// CheckCAFile checks that a CA file (one or more PEM certificates) holds a
// certificate valid at now. Files that cannot be read or parsed are
// reported as ErrUnreadable.
func CheckCAFile(path string, now time.Time) *CheckError {
	data, err := os.ReadFile(path)
	if err != nil {
		return &CheckError{File: path, Err: ErrUnreadable, Msg: "cannot be read: " + oserr.Cause(err).Error()}
	}
	var first *CheckError
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		p := checkPeriod(path, c, now)
		if p == nil {
			return nil // one good CA is enough: a bundle may keep a retired one
		}
		if first == nil {
			first = p
		}
	}
	if first == nil {
		return &CheckError{File: path, Err: ErrUnreadable, Msg: "holds no PEM certificate"}
	}
	return first
}

// checkPeriod reports a certificate outside its validity period at now.
func checkPeriod(file string, c *x509.Certificate, now time.Time) *CheckError {
	switch {
	case now.After(c.NotAfter):
		return &CheckError{File: file, Err: ErrExpired,
			Msg: fmt.Sprintf("expired on %s (NotAfter)", c.NotAfter.UTC().Format(timeFormat))}
	case now.Before(c.NotBefore):
		return &CheckError{File: file, Err: ErrNotYetValid,
			Msg: fmt.Sprintf("is not valid until %s (NotBefore)", c.NotBefore.UTC().Format(timeFormat))}
	}
	return nil
}

// keyMismatch reports whether certFile and keyFile each parse, but the key
// is not the certificate's.
func keyMismatch(certFile, keyFile string) bool {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return false
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return false
	}
	var leaf *x509.Certificate
	for block, rest := pem.Decode(certPEM); block != nil && leaf == nil; block, rest = pem.Decode(rest) {
		if block.Type == "CERTIFICATE" {
			leaf, _ = x509.ParseCertificate(block.Bytes)
		}
	}
	var key crypto.Signer
	for block, rest := pem.Decode(keyPEM); block != nil && key == nil; block, rest = pem.Decode(rest) {
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			key = parsePrivateKey(block.Bytes)
		}
	}
	if leaf == nil || key == nil {
		return false
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && !pub.Equal(key.Public())
}

// parsePrivateKey parses the key forms crypto/tls takes: PKCS#8, PKCS#1
// (RSA) and SEC 1 (EC).
func parsePrivateKey(der []byte) crypto.Signer {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, _ := k.(crypto.Signer)
		return s
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k
	}
	return nil
}

// sans lists a certificate's DNS and IP SANs for a message.
func sans(c *x509.Certificate) string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
