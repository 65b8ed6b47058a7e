//go:build !unix

package main

import "syscall"

// nodeProcAttr is nil where there are no process groups (Windows): a
// console's Ctrl+C reaches the nodes directly too.
func nodeProcAttr() *syscall.SysProcAttr { return nil }
