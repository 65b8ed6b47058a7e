package testutil

import (
	"testing"
	"time"
)

// WaitFor calls f until it returns nil, and fails t (with f's last error
// and what) when it has not within d or when t's context ends. It polls
// every 10 ms at first, backing off to 200 ms: use it instead of a sleep
// for anything a test waits on (a workflow's state, a visibility record,
// a port).
func WaitFor(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	step := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: last error: %v", what, d, err)
		}
		select {
		case <-time.After(step):
		case <-t.Context().Done():
			t.Fatalf("%s: %v (last error: %v)", what, t.Context().Err(), err)
		}
		step = min(step*2, 200*time.Millisecond)
	}
}
