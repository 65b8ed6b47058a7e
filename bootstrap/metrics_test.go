package bootstrap_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/testutil"
)

// scrape parses a cluster's /metrics with the Prometheus text parser.
func scrape(t *testing.T, c *bootstrap.Cluster) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + c.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// counter sums a family's samples whose labels include want.
func counter(f *dto.MetricFamily, want map[string]string) float64 {
	var sum float64
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		if m.Counter != nil {
			sum += m.Counter.GetValue()
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	// A records with the default framework (tally), B with OpenTelemetry:
	// the same server metrics under each framework's names.
	cfgA, cfgB := testConfig(), testConfig()
	cfgA.Metrics.Address = "127.0.0.1:0"
	cfgB.Metrics.Address = "127.0.0.1:0"
	cfgB.Metrics.Framework = "opentelemetry"
	a, b := startCluster(t, cfgA), startCluster(t, cfgB)
	if a.MetricsAddr() == b.MetricsAddr() {
		t.Fatalf("two clusters share %s", a.MetricsAddr())
	}
	resp, err := http.Get("http://" + a.MetricsAddr() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz of a ready cluster: %v %v", resp, err)
	}
	_ = resp.Body.Close()

	cl := dial(t, a, "default")
	runWorker(t, cl, "metrics")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "metrics"}, WaitForSignal)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SignalWorkflow(ctx, run.GetID(), "", signalGo, "x"); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	start := map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}
	testutil.WaitFor(t, 10*time.Second, "cluster A counts the StartWorkflowExecution request", func() error {
		if n := counter(scrape(t, a)["service_requests"], start); n < 1 {
			return fmt.Errorf("service_requests{operation=StartWorkflowExecution} = %v", n)
		}
		return nil
	})
	famsA, famsB := scrape(t, a), scrape(t, b)
	if n := counter(famsB["service_requests_total"], start) + counter(famsB["service_requests"], start); n != 0 {
		t.Errorf("cluster B counts %v StartWorkflowExecution requests; it served none", n)
	}
	// Timers: tally reports histograms in seconds, OpenTelemetry in ms.
	if f := famsA["service_latency"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("tally: service_latency is %v, want a histogram", f.GetType())
	}
	if f := famsA["service_requests_total"]; f != nil {
		t.Errorf("tally: an OpenTelemetry name service_requests_total is served")
	}

	clB := dial(t, b, "default")
	if _, err := clB.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "metrics-b"}, WaitForSignal); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "cluster B (OpenTelemetry) counts its StartWorkflowExecution request", func() error {
		fams := scrape(t, b)
		if n := counter(fams["service_requests_total"], start); n < 1 {
			return fmt.Errorf("service_requests_total{operation=StartWorkflowExecution} = %v", n)
		}
		if f := fams["service_latency_milliseconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			return fmt.Errorf("service_latency_milliseconds is %v, want a histogram", f.GetType())
		}
		return nil
	})
	for _, name := range []string{"devcluster_ready", "devcluster_start_duration_seconds", "devcluster_build_info"} {
		if famsA[name] == nil || famsB[name] == nil {
			t.Errorf("%s missing from a cluster's metrics", name)
		}
	}
	if g := famsA["devcluster_ready"].Metric[0].Gauge.GetValue(); g != 1 {
		t.Errorf("devcluster_ready = %v, want 1", g)
	}

	addr := b.MetricsAddr()
	stopCluster(t, b)
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("%s still answers after its cluster stopped", addr)
	}
}
