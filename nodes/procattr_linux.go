package nodes

import "syscall"

// procAttr puts a node in its own process group, so that a Ctrl+C in the
// terminal reaches only the supervisor, which then sends the node one
// SIGINT (a second one would make the node exit at once); and has the
// kernel send it SIGTERM if the supervisor dies without stopping it.
// Pdeathsig fires when the thread that started the node exits: the Go
// runtime never ends its threads unless a goroutine exits while locked to
// one, which nothing here does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
