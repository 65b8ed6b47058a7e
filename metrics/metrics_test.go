package metrics

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/log"
	servermetrics "go.temporal.io/server/common/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	m := New("test", "1.32.2")
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	m.Serve()
	base := "http://" + m.Addr()
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready = %d, want 503", code)
	}
	m.SetReady(true, 300*time.Millisecond)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after ready = %d, want 200", code)
	}
	m.DynamicConfigLoaded(true)
	m.DynamicConfigLoaded(false)
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		"devcluster_ready 1", "devcluster_start_duration_seconds 0.3",
		`devcluster_dynamicconfig_reloads_total{result="ok"} 1`, `devcluster_dynamicconfig_reloads_total{result="error"} 1`,
		`devcluster_build_info{go_version=`, "go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	m.SetReady(false, 0)
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while stopping = %d, want 503", code)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the port still answers after Stop")
	}
}

func TestListenReportsTakenPort(t *testing.T) {
	a := New("test", "1.32.2")
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	b := New("test", "1.32.2")
	err := b.Listen(a.Addr())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second Listen on %s: %v; want address already in use", a.Addr(), err)
	}
}

// TestServerHandlerFrameworks records one request through the handler of
// each framework, finds it on /metrics under that framework's names, and
// checks that stopping the tally handler ends its reporting goroutine.
func TestServerHandlerFrameworks(t *testing.T) {
	for _, tc := range []struct{ framework, counter, timer string }{
		{"tally", "test_requests{", "test_latency_bucket{"},
		{"opentelemetry", "test_requests_total{", "test_latency_milliseconds_bucket{"},
	} {
		t.Run(tc.framework, func(t *testing.T) {
			m := New("test", "1.32.2")
			if err := m.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			m.Serve()
			defer func() { _ = m.Stop(context.Background()) }()
			logger := log.NewNoopLogger()
			h, err := m.ServerHandler(tc.framework)(logger)
			if err != nil {
				t.Fatal(err)
			}
			tagged := h.WithTags(servermetrics.OperationTag("Start"))
			tagged.Counter("test_requests").Record(1)
			tagged.Timer("test_latency").Record(20 * time.Millisecond)
			deadline := time.Now().Add(5 * time.Second) // tally reports every second
			for {
				_, body := get(t, "http://"+m.Addr()+"/metrics")
				if strings.Contains(body, tc.counter) && strings.Contains(body, tc.timer) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/metrics lacks %s and %s:\n%s", tc.counter, tc.timer, body)
				}
				<-time.After(50 * time.Millisecond) // polling interval
			}
			h.Stop(logger)
			for deadline := time.Now().Add(5 * time.Second); ; {
				buf := make([]byte, 1<<20)
				stacks := string(buf[:runtime.Stack(buf, true)])
				if !strings.Contains(stacks, "uber-go/tally") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a tally goroutine runs after Stop:\n%s", stacks)
				}
				<-time.After(20 * time.Millisecond) // polling interval
			}
		})
	}
}
