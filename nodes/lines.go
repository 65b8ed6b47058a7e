package nodes

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// lockedWriter serialises writes from several nodes' output, so that
// their lines never interleave mid-line.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter copies a node's output line by line to out, each line behind
// prefix, and remembers the last lines.
type lineWriter struct {
	out    io.Writer
	prefix string

	mu      sync.Mutex
	partial []byte
	last    []string
}

const tailLines = 10

func newLineWriter(out io.Writer, prefix string) *lineWriter {
	return &lineWriter{out: out, prefix: prefix}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) line(s string) {
	_, _ = io.WriteString(l.out, l.prefix+s+"\n")
	l.last = append(l.last, s)
	if len(l.last) > tailLines {
		l.last = l.last[len(l.last)-tailLines:]
	}
}

// flush writes a last line that has no newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

// lastLines is the last lines written, prefixed and indented.
func (l *lineWriter) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return "  " + l.prefix + "(no output)"
	}
	lines := make([]string, len(l.last))
	for i, s := range l.last {
		lines[i] = "  " + l.prefix + s
	}
	return strings.Join(lines, "\n")
}
