package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
