//go:build unix && !linux

package main

import "syscall"

// nodeProcAttr is the Linux one (nodes_linux.go) without Pdeathsig, which
// these systems lack: a node outlives a supervisor that is killed
// (SIGKILL) rather than stopped.
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
