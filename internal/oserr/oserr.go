// Package oserr words operating-system errors for messages that already
// name the file or address: devcluster's messages say "FILE cannot be
// read: permission denied", not "...: open FILE: permission denied".
package oserr

import (
	"errors"
	"io/fs"
	"net"
)

// Cause drops the operation and path (or address) that an *fs.PathError
// or a *net.OpError in err's chain repeats, and returns what it wraps:
// "permission denied" for "open /x: permission denied", "bind: address
// already in use" for "listen tcp 127.0.0.1:7233: bind: address already in
// use". Any other error is returned as it is.
func Cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
