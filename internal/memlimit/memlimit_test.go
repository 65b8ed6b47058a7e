package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// Not parallel: the limit is process-wide.

func TestStartFollowsLiveHeap(t *testing.T) {
	if FromEnvironment() {
		t.Skip("GOMEMLIMIT or GOGC is set: Start leaves the collector alone")
	}
	before := Limit()
	const floor = 64 << 20
	stop, ok := Start(floor)
	if !ok {
		t.Fatal("Start(64 MiB) did not start")
	}
	t.Cleanup(stop) // a failure must not leave the next test a tuner

	runtime.GC()
	if got := Limit(); got != floor {
		t.Fatalf("with a small live heap the limit is %d, want the floor %d", got, floor)
	}

	// A live heap of 96 MiB: the floor would make the collector run
	// without pause; after the next collection the limit follows the heap.
	ballast := make([][]byte, 96)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
		ballast[i][0] = 1
	}
	runtime.GC()
	current.update() // the finalizer's call, made now rather than waited for
	if got, want := Limit(), int64(2*96<<20); got < want {
		t.Fatalf("with 96 MiB live the limit is %d MiB, want at least %d MiB", got>>20, want>>20)
	}
	runtime.KeepAlive(ballast)
	ballast = nil
	runtime.GC()
	current.update()
	if got := Limit(); got != floor {
		t.Fatalf("after the heap shrank the limit is %d MiB, want the floor again", got>>20)
	}

	// A second Start shares the first; the limit stays until the last stop.
	stop2, ok := Start(32 << 20)
	if !ok {
		t.Fatal("second Start did not start")
	}
	stop2()
	stop2() // a second call of the same stop counts once
	if got := Limit(); got != floor {
		t.Fatalf("after one of two stops the limit is %d, want %d", got, floor)
	}
	stop()
	if got := Limit(); got != before {
		t.Fatalf("after the last stop the limit is %d, want the one before Start, %d", got, before)
	}
	if current != nil {
		t.Fatal("tuner still installed after the last stop")
	}
}

func TestStartArmsAfterCollections(t *testing.T) {
	if FromEnvironment() {
		t.Skip("GOMEMLIMIT or GOGC is set")
	}
	stop, ok := Start(64 << 20)
	if !ok {
		t.Fatal("Start did not start")
	}
	defer stop()
	// Three times: the finalizer must re-arm itself after each collection.
	for round := range 3 {
		debug.SetMemoryLimit(math.MaxInt64 - 1) // changed behind the tuner's back
		// The finalizer runs on its own goroutine after a collection:
		// collect until it has put the floor back, bounded by the cycles.
		for i := 0; i < 1000 && Limit() != 64<<20; i++ {
			runtime.GC()
			runtime.Gosched()
		}
		if got := Limit(); got != 64<<20 {
			t.Fatalf("round %d: after collections the limit is %d, want the floor set again by the finalizer", round, got)
		}
	}
}

func TestStartLeavesProgramsSettings(t *testing.T) {
	if FromEnvironment() {
		t.Skip("GOMEMLIMIT or GOGC is set")
	}
	old := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(old)
	stop, ok := Start(64 << 20)
	defer stop()
	if ok || Limit() != 1<<30 {
		t.Fatalf("with a limit set by the program Start started=%v and the limit is %d", ok, Limit())
	}
	debug.SetMemoryLimit(old)
	gogc := debug.SetGCPercent(50)
	defer debug.SetGCPercent(gogc)
	if stop, ok := Start(64 << 20); ok {
		stop()
		t.Fatal("with GOGC set by the program Start started")
	}
}

func TestStartLeavesUsersSettings(t *testing.T) {
	before := Limit()
	t.Setenv("GOMEMLIMIT", "1GiB")
	stop, ok := Start(64 << 20)
	defer stop()
	if ok || Limit() != before {
		t.Fatalf("with GOMEMLIMIT set Start started=%v and the limit went %d -> %d", ok, before, Limit())
	}
	t.Setenv("GOMEMLIMIT", "")
	if _, ok := Start(0); ok {
		t.Fatal("Start(0) started")
	}
}
