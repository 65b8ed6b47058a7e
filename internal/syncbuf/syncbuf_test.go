package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 400 {
		t.Fatalf("kept %d bytes, want 400", got)
	}

	limited := Buffer{Limit: 10}
	_, _ = limited.Write([]byte(strings.Repeat("a", 11)))
	_, _ = limited.Write([]byte("b"))
	if got := limited.String(); got != "b" {
		t.Fatalf("over the limit: kept %q, want %q", got, "b")
	}
}
