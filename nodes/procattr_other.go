//go:build !unix

package nodes

import "syscall"

// procAttr is nil where there are no process groups (Windows): a
// console's Ctrl+C reaches the nodes directly too.
func procAttr() *syscall.SysProcAttr { return nil }
