package filewatch

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestWatch: the first load comes at Watch (an absent file is said to be
// absent), a write and a rename-over are each loaded once, the same
// contents are not loaded again, and a missing directory is a DirError.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.yaml")
	var mu sync.Mutex
	var got []Contents
	load := func(c Contents) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
		return nil
	}
	w, err := Watch(path, load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	waitLoads := func(n int) []Contents {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			c := append([]Contents(nil), got...)
			mu.Unlock()
			if len(c) >= n {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d loads, want %d: %+v", len(c), n, c)
			}
			<-time.After(5 * time.Millisecond) // polling interval
		}
	}
	if c := waitLoads(1); c[0].Exists || !c[0].First || c[0].Path != path {
		t.Fatalf("first load %+v, want an absent file at %s", c[0], path)
	}
	if err := os.WriteFile(path, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := waitLoads(2); !c[1].Exists || string(c[1].Bytes) != "a: 1\n" || c[1].First {
		t.Fatalf("after a write: %+v", c[1])
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(tmp, []byte("a: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if c := waitLoads(3); string(c[2].Bytes) != "a: 2\n" {
		t.Fatalf("after a rename over: %+v", c[2])
	}
	// The same contents again (a touch, then a poll round): no load.
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		t.Fatal(err)
	}
	if err := w.reload(false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 3 {
		t.Errorf("%d loads after an unchanged file, want 3", n)
	}

	_, err = Watch(filepath.Join(dir, "no", "f.yaml"), load, slog.Default())
	var de *DirError
	if !errors.As(err, &de) {
		t.Errorf("want a DirError for a missing directory, got %v", err)
	}
}
