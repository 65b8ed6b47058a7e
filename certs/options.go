package certs

import (
	"errors"
	"fmt"
	"github.com/devcluster/devcluster/internal/oserr"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
)

// OptionError is a problem with one Options field. Its message names the
// field the Go way ("certs: Options.Dir /x is a file, ..."); front ends that
// take the field from a flag or a config key render Value and Msg under
// their own name instead ("flag --dir: /x is a file, ...").
type OptionError struct {
	// Field is the Options field: "Dir", "Hosts" or "Validity".
	Field string
	// Value is the offending value (a path, a host, a duration); may be "".
	Value string
	// Msg says what is wrong and how to fix it without naming the field,
	// e.g. "is a file, not a directory; remove it or choose a directory".
	Msg string
	// Err is the underlying error, if any.
	Err error
}

func (e *OptionError) Error() string {
	if e.Value == "" {
		return "certs: Options." + e.Field + " " + e.Msg
	}
	return "certs: Options." + e.Field + " " + e.Value + " " + e.Msg
}

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }

// dirError is an OptionError about Options.Dir.
func dirError(dir string, err error, format string, args ...any) *OptionError {
	return &OptionError{Field: "Dir", Value: dir, Msg: fmt.Sprintf(format, args...), Err: err}
}

// checkDir reports whether dir exists, failing if it exists but is not a
// directory.
func checkDir(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, dirError(dir, err, "cannot be accessed: %v; "+
			"fix the path (is a parent a file?) or its permissions, or choose another location", oserr.Cause(err))
	case !fi.IsDir():
		return false, dirError(dir, nil, "is a file, not a directory; remove it or choose a directory")
	}
	return true, nil
}

// normalizeHosts returns DefaultHosts followed by extra, deduplicated, with
// IPs in canonical form and DNS names lower-cased.
func normalizeHosts(extra []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), DefaultHosts...), extra...) {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if !validDNSName(h) {
				return nil, &OptionError{Field: "Hosts", Value: strconv.Quote(h),
					Msg: "is not a host: want a DNS name or an IP address, without port"}
			}
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '*':
		default:
			return false
		}
	}
	return true
}
