// Package syncbuf is a byte buffer that one goroutine may write (a logger,
// a child process's output) while another reads it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent Write and String. The zero value is ready
// to use and keeps everything written.
type Buffer struct {
	// Limit, when positive, bounds the kept bytes roughly: a write that
	// finds more than Limit bytes kept discards them first.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len() > b.Limit {
		b.b.Reset()
	}
	return b.b.Write(p)
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
