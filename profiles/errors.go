package profiles

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// FieldError is a problem with one configuration key. Front ends add where
// the value came from (a flag, a variable, a file) through Origin.
type FieldError struct {
	// Key is the dotted config key, e.g. "services.frontend.grpc-port".
	Key string
	// Value is the offending value as the user wrote it, if any.
	Value any
	// Msg says what is wrong and, where obvious, how to fix it.
	Msg string
	// Origin names where the value came from, e.g. "flag --port"; empty
	// when unknown. Front ends fill it in.
	Origin string
	// Err is an underlying sentinel (such as ErrPortInUse), if any.
	Err error
}

// Error renders "key: value msg (from origin)".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Key)
	b.WriteString(": ")
	if e.Value != nil && fmt.Sprint(e.Value) != "" {
		fmt.Fprintf(&b, "%v ", e.Value)
	}
	b.WriteString(e.Msg)
	if e.Origin != "" {
		fmt.Fprintf(&b, " (from %s)", e.Origin)
	}
	return b.String()
}

// Unwrap returns the underlying sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// ErrPortInUse reports a port that another process holds.
var ErrPortInUse = errors.New("port already in use")

// FieldErrors returns every *FieldError in err's tree (joined or wrapped).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// ErrConfig marks every error of Load, so front ends exit with the usage code.
var ErrConfig = errors.New("configuration error")

// appendNewKeys appends the FieldErrors of err whose keys errs does not
// name yet, itself or through an enclosing key: a value the decoder refused
// is zero afterwards (a section given a scalar is empty), and validation
// would refuse it again.
func appendNewKeys(errs []*FieldError, err error) []*FieldError {
	fes := FieldErrors(err)
	if len(fes) == 0 {
		return append(errs, &FieldError{Key: "config", Msg: err.Error()})
	}
	known := make([]string, 0, len(errs))
	for _, fe := range errs {
		known = append(known, fe.Key)
	}
	covered := func(key string) bool {
		for _, k := range known {
			if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
				return true
			}
		}
		return false
	}
	for _, fe := range fes {
		if !covered(fe.Key) {
			errs = append(errs, fe)
		}
	}
	return errs
}

// configErrors is a joined list of FieldErrors that is also ErrConfig.
type configErrors struct{ errs []error }

func (c *configErrors) Error() string {
	lines := make([]string, len(c.errs))
	for i, e := range c.errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
func (c *configErrors) Unwrap() []error { return append(append([]error(nil), c.errs...), ErrConfig) }

func joinFieldErrors(fes []*FieldError) error {
	sort.SliceStable(fes, func(i, j int) bool {
		if fes[i].Key != fes[j].Key {
			return fes[i].Key < fes[j].Key
		}
		return fmt.Sprint(fes[i].Value) < fmt.Sprint(fes[j].Value)
	})
	out := &configErrors{}
	for _, fe := range fes {
		out.errs = append(out.errs, fe)
	}
	return out
}
