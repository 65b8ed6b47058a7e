// Package memlimit gives a devcluster process a soft memory limit that
// follows its live heap, so that a small cluster returns the memory its
// collector would otherwise keep, and a busy one is never held to a limit
// its heap has outgrown.
//
// Go's default collector lets the heap grow to twice what was live at the
// last collection and returns freed pages to the system slowly. Right after
// make bench's load a devcluster process has ~50 MB live but ~125 MB of heap
// in use and ~165 MB of private memory. A limit of 128 MiB brings that to
// ~135 MB at no measurable CPU cost; a lower one makes the collector run
// much more often (100 MiB: +20% CPU per workflow).
//
// A fixed limit would make the collector run without pause once the live
// heap grows near it (a cluster holding thousands of workflows' state), so
// after every collection the limit is raised to twice the live heap when
// that is more than the floor. That is a little below where Go's default
// pacing would let the process grow (its goal for the heap alone is twice
// the live heap plus the stacks and globals it scans, and the limit counts
// all of the runtime's memory), so a big heap is collected somewhat more
// often than by default, but never without pause. Twice the live heap plus
// 32 MiB (a limit that binds nothing while the heap grows) kept RSS after
// the bench's load within 2-4% of no limit at all.
package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const liveMetric = "/gc/heap/live:bytes"

var (
	mu      sync.Mutex
	current *tuner
	refs    int
)

type tuner struct {
	floor    int64
	previous int64
	mu       sync.Mutex // held by update and by the last stop
	stopped  bool
	sample   []metrics.Sample
}

// FromEnvironment reports whether GOMEMLIMIT or GOGC is set: the user's
// own settings for the collector, which Start then leaves alone.
func FromEnvironment() bool {
	return os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != ""
}

// setByProgram reports whether the program (one embedding devcluster) has
// set a memory limit or a GC percentage of its own.
func setByProgram() bool {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	gogc := s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() != 100
	return gogc || debug.SetMemoryLimit(-1) != math.MaxInt64
}

// Start sets the process's soft memory limit to floor bytes and keeps it
// at max(floor, 2*live heap) after every collection, until the
// returned stop is called (the last stop restores the limit that was set
// before). It returns false and does nothing when floor <= 0, when
// FromEnvironment is true, or when the program set a memory limit or GC
// percentage of its own before the first Start. The limit is process-wide:
// a second Start while one runs keeps the first one's floor.
func Start(floor int64) (stop func(), started bool) {
	if floor <= 0 || FromEnvironment() {
		return func() {}, false
	}
	mu.Lock()
	defer mu.Unlock()
	if current == nil && setByProgram() {
		return func() {}, false
	}
	if current == nil {
		t := &tuner{floor: floor, previous: debug.SetMemoryLimit(-1), sample: []metrics.Sample{{Name: liveMetric}}}
		current = t
		t.update()
		t.arm()
	}
	refs++
	var once sync.Once
	return func() { once.Do(release) }, true
}

func release() {
	mu.Lock()
	defer mu.Unlock()
	refs--
	if refs > 0 || current == nil {
		return
	}
	t := current
	current = nil
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetMemoryLimit(t.previous)
}

// Limit is the soft memory limit in force (math.MaxInt64: none).
func Limit() int64 { return debug.SetMemoryLimit(-1) }

// update sets the limit from the live heap of the last collection and
// reports whether the tuner still runs.
func (t *tuner) update() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	limit := t.floor
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live := t.sample[0].Value.Uint64()
		if live < math.MaxInt64/4 {
			limit = max(limit, 2*int64(live))
		}
	}
	debug.SetMemoryLimit(limit)
	return true
}

// arm calls update after the next collection: a finalizer runs once the
// collector has found its object unreachable, and re-arms itself. The
// sentinel is 16 bytes: smaller pointer-free objects share a block with
// others (the tiny allocator) and might never be finalized.
func (t *tuner) arm() {
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) {
		if t.update() {
			t.arm()
		}
	})
}
