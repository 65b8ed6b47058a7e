package container

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// BenchmarkImageRunToFirstCall times, per run, from `podman run -d` (the
// image's default command, a port published on loopback) to the first
// successful SDK call (a connected client that described the default
// namespace), and the part of it podman takes itself: until `podman run
// -d` returns, the container's process started. Medians are reported
// (make bench: -benchtime 5x).
func BenchmarkImageRunToFirstCall(b *testing.B) {
	img := testImage(b)
	var first, own []float64
	for b.Loop() {
		port := freePort(b)
		name := randomName("dcbench-")
		b.Cleanup(func() { _, _, _ = podmanErr("rm", "-f", "-v", "-t", "0", name) })
		began := time.Now()
		podman(b, "run", "-d", "--name", name, "-p", "127.0.0.1:"+strconv.Itoa(port)+":7233", img)
		own = append(own, float64(time.Since(began).Milliseconds()))
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		// Every 5 ms, not backing off: the figure is when the call first
		// succeeds.
		deadline, cancelAll := context.WithTimeout(b.Context(), time.Minute)
		err := poll(deadline, 5*time.Millisecond, 5*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(deadline, 2*time.Second)
			defer cancel()
			c, err := client.DialContext(ctx, client.Options{HostPort: addr})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.WorkflowService().DescribeNamespace(ctx, describe(client.DefaultNamespace))
			return err
		})
		cancelAll()
		if err != nil {
			b.Fatalf("no successful call to %s within a minute: %v", addr, err)
		}
		first = append(first, float64(time.Since(began).Milliseconds()))
		b.StopTimer()
		_, _, _ = podmanErr("rm", "-f", "-v", "-t", "0", name)
		b.StartTimer()
	}
	b.ReportMetric(median(first), "ms-to-first-call")
	b.ReportMetric(median(own), "ms-podman-run")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}
