//go:build unix && !linux

package nodes

import "syscall"

// procAttr is the Linux one (procattr_linux.go) without Pdeathsig, which
// these systems lack: a node outlives a supervisor that is killed
// (SIGKILL) rather than stopped.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
