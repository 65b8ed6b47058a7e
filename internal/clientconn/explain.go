package clientconn

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CheckAddress reports an address no client can dial: a frontend address
// is HOST:PORT with a port of 1-65535.
func CheckAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (for example 127.0.0.1:7233)", addr)
	}
	if host == "" {
		return fmt.Errorf("%q names no host; use HOST:PORT (for example 127.0.0.1:7233)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has port %q; use 1-65535", addr, port)
	}
	return nil
}

// ErrPermanent marks a failed call that waiting will not mend (see
// Permanent): the address, TLS or credentials are wrong.
var ErrPermanent = errors.New("will not change by waiting")

// Permanent reports whether err, from a call to a frontend, will not go
// away by calling again: the server refused the credentials, or the TLS
// handshake cannot succeed (a certificate that does not verify, TLS
// against a plaintext port or the other way round), or the host does not
// resolve. A refused connection is not: the cluster may still be starting.
func Permanent(err error) bool {
	switch kind(err) {
	case kindAuth, kindPermission, kindNotTLS, kindNeedsTLS, kindCertificate, kindNoHost:
		return true
	}
	return false
}

type failure int

const (
	kindOther failure = iota
	kindRefused
	kindNoHost
	kindNotTLS
	kindNeedsTLS
	kindCertificate
	kindAuth
	kindPermission
	kindDeadline
)

func kind(err error) failure {
	if err == nil {
		return kindOther
	}
	msg := err.Error()
	switch st, _ := status.FromError(unwrapStatus(err)); {
	case st.Code() == codes.Unauthenticated:
		return kindAuth
	case st.Code() == codes.PermissionDenied:
		return kindPermission
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return kindNotTLS
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: ") && strings.Contains(msg, "certificate"):
		return kindCertificate
	case strings.Contains(msg, "connection closed before server preface received") ||
		strings.Contains(msg, "error reading server preface"):
		return kindNeedsTLS
	case strings.Contains(msg, "no such host") || strings.Contains(msg, "produced zero addresses"):
		return kindNoHost
	case strings.Contains(msg, "connection refused"):
		return kindRefused
	case st.Code() == codes.DeadlineExceeded:
		return kindDeadline
	}
	return kindOther
}

// unwrapStatus finds the gRPC status error inside err's chain (status's
// own FromError takes a wrapped error's whole text as the message).
func unwrapStatus(err error) error {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.(error)
	}
	return err
}

// Explain words a failed call to the frontend at addr for a person: what
// went wrong and what to change, instead of the gRPC status text (which
// stays in the chain for errors.Is and errors.As). A permanent failure
// (see Permanent) also matches ErrPermanent. Other errors come back as
// they are.
func Explain(addr string, err error) error {
	var why string
	switch kind(err) {
	case kindRefused:
		why = "nothing listens at " + addr + " (connection refused): start the cluster, or fix the address"
	case kindNoHost:
		why = "the host of " + addr + " does not resolve: fix the address"
	case kindNotTLS:
		why = addr + " does not speak TLS: leave out the TLS files, or fix the address"
	case kindNeedsTLS:
		why = addr + " closed the connection before answering: it may require TLS (give the client certificate, key and CA the cluster's banner prints), or it is not a Temporal frontend"
	case kindCertificate:
		why = "the TLS handshake with " + addr + " failed (" + tlsReason(err.Error()) + "): give the CA and client certificate of this cluster (its banner prints them), and its server name"
	case kindAuth:
		why = addr + " refused the call as unauthenticated: give a token the cluster accepts (its banner prints an admin token; devcluster token mints others)"
	case kindPermission:
		why = addr + " refused the call (" + strings.TrimSuffix(status.Convert(unwrapStatus(err)).Message(), ".") +
			"): give a token whose role allows it (the cluster's banner prints an admin token; devcluster token mints others)"
	default:
		return err
	}
	return &explained{msg: why, err: err, permanent: Permanent(err)}
}

type explained struct {
	msg       string
	err       error
	permanent bool
}

func (e *explained) Error() string        { return e.msg }
func (e *explained) Unwrap() error        { return e.err }
func (e *explained) Is(target error) bool { return target == ErrPermanent && e.permanent }

// tlsReason cuts a TLS error down to its cause.
func tlsReason(msg string) string {
	for _, p := range []string{"x509: ", "tls: "} {
		if i := strings.LastIndex(msg, p); i >= 0 {
			return strings.TrimSuffix(msg[i:], "\"")
		}
	}
	return msg
}
