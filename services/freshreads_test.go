package services

import (
	"context"
	"sync"
	"testing"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"
	"google.golang.org/grpc"

	"github.com/devcluster/devcluster/dynamicconfig"
)

// forced is what the server reads for the setting right now.
func forced(c *dynamicconfig.Client) bool {
	v := c.GetValue(dc.MakeKey(FreshReadsKey))
	return len(v) == 1 && v[0].Value == true
}

// TestFreshReads: the configured true reaches the server only while a
// namespace or search-attribute change runs and for the window after the
// last one; other calls change nothing.
func TestFreshReads(t *testing.T) {
	t.Parallel()
	c := dynamicconfig.NewClient(dc.ConfigValueMap{dc.MakeKey(FreshReadsKey): {{Value: true}}})
	const window = 100 * time.Millisecond
	f := newFreshReads(c, window)
	if forced(c) {
		t.Fatal("forced before any change")
	}
	call := func(method string, during func()) time.Time {
		_, _ = f.intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
			during()
			return nil, nil
		})
		return time.Now()
	}
	call("/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution", func() {
		if forced(c) {
			t.Error("forced during a call that changes nothing")
		}
	})
	// Overlapping changes: forced throughout, and until the window after
	// the last ends.
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Go(func() {
		call("/temporal.api.operatorservice.v1.OperatorService/AddSearchAttributes", func() { <-release })
	})
	for _, m := range []string{
		"/temporal.api.workflowservice.v1.WorkflowService/UpdateNamespace",
		"/temporal.api.workflowservice.v1.WorkflowService/RegisterNamespace",
	} {
		call(m, func() {
			if !forced(c) {
				t.Errorf("%s: not forced while it runs", m)
			}
		})
	}
	<-time.After(2 * window) // longer than the window: the first change still runs
	if !forced(c) {
		t.Fatal("not forced while a change runs")
	}
	released := time.Now() // the last change ends after this
	close(release)
	wg.Wait()
	deadline := released.Add(10 * window)
	for forced(c) {
		if time.Now().After(deadline) {
			t.Fatal("still forced long after the last change")
		}
		<-time.After(10 * time.Millisecond) // polling interval
	}
	if d := time.Since(released); d < window {
		t.Errorf("forced for %s after the last change, want at least %s", d, window)
	}
	// Configured false: never forced.
	c.Set(dc.ConfigValueMap{dc.MakeKey(FreshReadsKey): {{Value: false}}})
	call("/temporal.api.workflowservice.v1.WorkflowService/UpdateNamespace", func() {
		if forced(c) {
			t.Error("forced although configured false")
		}
	})
}

func TestFreshReadsWindow(t *testing.T) {
	t.Parallel()
	if got := freshReadsWindow(nil); got != 5*time.Second {
		t.Errorf("default window %s, want 5s", got)
	}
	if got := freshReadsWindow(map[string]any{"system.namespaceCacheRefreshInterval": "10s"}); got != 21*time.Second {
		t.Errorf("window with a 10s refresh %s, want 21s", got)
	}
}
