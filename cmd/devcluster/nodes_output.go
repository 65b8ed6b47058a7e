package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// writePorts writes --ports-file (NodesPorts) from what the nodes wrote.
func (s *supervisor) writePorts() error {
	f := s.first.parsed
	out := NodesPorts{Frontend: f.Frontend, HTTP: f.HTTP, UI: f.UI, Namespaces: f.Namespaces}
	for _, n := range s.nodes {
		pid := 0
		if n.run != nil && n.run.ready {
			pid = n.pid()
		}
		out.Nodes = append(out.Nodes, NodesPortsOf{Name: n.Name, Runs: n.Roles, PID: pid, Restarts: n.restarts, Exited: n.exited, Ports: n.ports})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.cfg.PortsFile, append(b, '\n'))
}

// rewritePorts updates the ports file after a node exited or restarted;
// a failure is reported, not fatal.
func (s *supervisor) rewritePorts() {
	if s.cfg.PortsFile == "" {
		return
	}
	if err := s.writePorts(); err != nil {
		fmt.Fprintf(s.stderr, "devcluster: ports-file %s: %v\n", s.cfg.PortsFile, err)
	}
}

// writeFileAtomic writes a ports file whole or not at all.
func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("cannot be written: %v; choose a path in a writable directory", oserr.Cause(err))
	}
	return nil
}

// printBanner is the one banner of all the nodes (theirs are filtered out).
func (s *supervisor) printBanner(w io.Writer, took time.Duration) {
	f := s.first.parsed
	fmt.Fprintf(w, "devcluster ready in %s: %d nodes of one cluster, Temporal server %s\n\n", took.Round(time.Millisecond), len(s.nodes), bootstrap.ServerVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, n := range s.nodes {
		var addrs []string
		for _, role := range n.Roles {
			addrs = append(addrs, role+" "+n.parsed.Services[role])
		}
		fmt.Fprintf(tw, "  %s\t%s\tpid %d\t%s\n", n.Name, n.runs(), n.pid(), strings.Join(addrs, ", "))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var fronts []string
	for _, n := range s.nodes {
		if n.has(profiles.Frontend) {
			fronts = append(fronts, fmt.Sprintf("%s (%s)", n.parsed.Frontend, n.Name))
		}
	}
	fmt.Fprintf(tw, "  Frontend (gRPC)\t%s\n", strings.Join(fronts, ", "))
	if f.HTTP != "" {
		fmt.Fprintf(tw, "  HTTP API\thttp://%s\n", f.HTTP)
	}
	fmt.Fprintf(tw, "  Namespaces\t%s\n", strings.Join(f.Namespaces, ", "))
	fmt.Fprintf(tw, "  Profiles\t%s\n", strings.Join(s.loaded.Profiles, ", "))
	if f.UI != "" {
		fmt.Fprintf(tw, "  Web UI\t%s\n", f.UI)
	}
	if s.cfg.PortsFile != "" {
		fmt.Fprintf(tw, "  Ports file\t%s\n", s.cfg.PortsFile)
	}
	if s.clientProfile != "" {
		fmt.Fprintf(tw, "  Client profile\t%s, written by %s: temporal --profile %s workflow list\n", s.clientProfile, s.first.Name, s.clientProfile)
	}
	if main, vis, err := s.cfg.Databases(); err == nil {
		fmt.Fprintf(tw, "  Database\tPostgreSQL %s (visibility: %s)\n", main, vis.Database)
	}
	restart := "off: a node that exits stays down (--restart starts it again)"
	if s.restart {
		restart = "on: a node that exits is started again on its ports"
	}
	fmt.Fprintf(tw, "  Restart\t%s\n", restart)
	_ = tw.Flush()
	ns := profiles.DefaultNamespace
	if len(f.Namespaces) > 0 {
		ns = f.Namespaces[0]
	}
	fmt.Fprintf(w, "\nConnect with the temporal CLI:\n")
	fmt.Fprintf(w, "  export TEMPORAL_ADDRESS=%s\n", f.Frontend)
	fmt.Fprintf(w, "  export TEMPORAL_NAMESPACE=%s\n", ns)
	fmt.Fprintf(w, "  temporal workflow list\n")
	fmt.Fprintf(w, "Connect with the Go SDK:\n")
	fmt.Fprintf(w, "  client.Dial(client.Options{HostPort: %q, Namespace: %q})\n", f.Frontend, ns)
	fmt.Fprintf(w, "\nPress Ctrl+C to stop.\n")
}

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
