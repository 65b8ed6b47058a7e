package main

import (
	"context"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
)

// otlpReceiver is an OTLP/gRPC trace collector on loopback that records
// the service names of the spans it receives.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	services map[string]int
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		name := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				name = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.services[name] += len(ss.GetSpans())
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name := range r.services {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func startOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{services: map[string]int{}}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return r, ln.Addr().String()
}

// TestServerTracesExported: with the standard OTEL variables the server's
// spans reach an OTLP receiver, in both front doors, as with the Temporal
// CLI; without them nothing is exported.
func TestServerTracesExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devcluster; skipped with -short")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"start", []string{"start", "--profile", "test"}},
		{"server start-dev", []string{"server", "start-dev", "--port", "0", "--headless"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, addr := startOTLPReceiver(t)
			p := startProcEnv(t, []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr,
				"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_BSP_SCHEDULE_DELAY=100"}, tc.args...)
			frontend := waitFrontend(t, p, 30*time.Second)
			c, err := client.Dial(client.Options{HostPort: frontend})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			cancel()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(strings.Join(r.seen(), " "), "io.temporal.frontend") {
				if time.Now().After(deadline) {
					t.Fatalf("no frontend span exported within 20s; services seen: %v", r.seen())
				}
				<-time.After(50 * time.Millisecond) // poll interval, bounded by the deadline
			}
			_ = p.cmd.Process.Signal(os.Interrupt)
			if code := p.exitCode(t, 20*time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
		})
	}
	t.Run("off without the variables", func(t *testing.T) {
		r, addr := startOTLPReceiver(t)
		// The endpoint alone asks for nothing.
		p := startProcEnv(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr, "OTEL_EXPORTER_OTLP_INSECURE=true"}, "start", "--profile", "test")
		waitFrontend(t, p, 30*time.Second)
		_ = p.cmd.Process.Signal(os.Interrupt)
		if code := p.exitCode(t, 20*time.Second); code != 0 {
			t.Errorf("exit %d", code)
		}
		if seen := r.seen(); len(seen) > 0 {
			t.Errorf("spans exported without OTEL_TRACES_EXPORTER: %v", seen)
		}
	})
}

// waitFrontend waits for either front door's ready lines and returns the
// frontend address.
func waitFrontend(t *testing.T, p *proc, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := frontendLine.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		if l := startDevLines(p.stdout.String()); l["Temporal Server:"] != "" {
			return strings.Replace(l["Temporal Server:"], "localhost", "127.0.0.1", 1)
		}
		select {
		case <-p.done:
			t.Fatalf("devcluster exited before it was ready: %v\n%s", p.err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within %s", d)
		}
	}
}
