package testutil_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/testutil"
)

// leakAllowList names goroutines the pinned server (v1.32.2) leaves behind
// at every Stop, which devcluster cannot reach. Each entry is a frame that
// appears in the leaked goroutine's stack.
var leakAllowList = []string{
	// gRPC client connections the server opens between its services and
	// never closes (about 27 per cluster): each keeps a callback serializer
	// and, for the one that reconnects, an addrConn loop.
	"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
	"google.golang.org/grpc.(*addrConn).resetTransportAndUnlock",
	// The SQLite plugin pools one *sql.DB per database and never closes it
	// (conn_pool.go), so each in-memory database keeps its opener.
	"database/sql.(*DB).connectionOpener",
}

// counts returns the goroutines outside the allow-list, those on it, and
// the open file descriptors.
func counts() (other, allowed, fds int) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.TrimSpace(g) == "" {
			continue
		}
		listed := false
		for _, frame := range leakAllowList {
			if strings.Contains(g, frame) {
				listed = true
				break
			}
		}
		if listed {
			allowed++
		} else {
			other++
		}
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	return other, allowed, len(entries)
}

// TestLeakFreeRestarts starts and stops a test-profile cluster 20 times:
// goroutines outside the allow-list and file descriptors come back to the
// level after the first cycle, and the allow-listed ones grow by no more
// than the server's known per-cluster amount.
func TestLeakFreeRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 21 clusters")
	}
	cfg, err := testutil.Config()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cycle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // warm-up: process-wide state (registries, pools) settles
	// settle polls until goroutines stop winding down.
	settle := func(limit int) (other, allowed, fds int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			other, allowed, fds = counts()
			if other <= limit || time.Now().After(deadline) {
				return
			}
			<-time.After(20 * time.Millisecond)
		}
	}
	baseOther, baseAllowed, baseFDs := settle(0)
	baseHeap := heapInUse()
	const cycles = 20
	for i := 0; i < cycles; i++ {
		cycle()
	}
	other, allowed, fds := settle(baseOther + 2)
	heap := heapInUse()
	perCycleHeap := float64(heap-baseHeap) / cycles / (1 << 20)
	t.Logf("heap in use %.1f MiB -> %.1f MiB (+%.2f MiB per cycle)", float64(baseHeap)/(1<<20), float64(heap)/(1<<20), perCycleHeap)
	if perCycleHeap > maxHeapPerCycleMiB {
		t.Errorf("heap grows by %.2f MiB per start/stop cycle; the pinned server's never-closed in-memory databases account for about %v MiB", perCycleHeap, maxHeapPerCycleMiB)
	}
	t.Logf("after %d cycles: goroutines %d (baseline %d), allow-listed %d (baseline %d, +%.1f per cycle), fds %d (baseline %d)",
		cycles, other, baseOther, allowed, baseAllowed, float64(allowed-baseAllowed)/cycles, fds, baseFDs)
	if other > baseOther+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines outside the allow-list grew from %d to %d over %d cycles:\n%s", baseOther, other, cycles, buf[:runtime.Stack(buf, true)])
	}
	if fds > baseFDs+2 {
		t.Errorf("file descriptors grew from %d to %d over %d cycles", baseFDs, fds, cycles)
	}
	if perCycle := float64(allowed-baseAllowed) / cycles; perCycle > 35 {
		t.Errorf("allow-listed goroutines grow by %.1f per cycle; the pinned server's known leak is about 29", perCycle)
	}
}

// maxHeapPerCycleMiB bounds heap growth per cycle: each stopped in-memory
// cluster keeps its SQLite database (the plugin's pool is never closed) and
// the leaked gRPC connections above.
const maxHeapPerCycleMiB = 4.0

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
