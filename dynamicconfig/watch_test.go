package dynamicconfig

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"

	"github.com/devcluster/devcluster/internal/syncbuf"
)

var maxIDLength = dc.MakeKey("limit.maxIDLength")

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// servedLimit returns the effective unconstrained value of limit.maxIDLength.
func servedLimit(c *Client) any {
	cvs := c.GetValue(maxIDLength)
	if len(cvs) == 0 {
		return nil
	}
	return cvs[0].Value
}

// eventually polls until the client serves want, for at most 5s.
func eventually(t *testing.T, c *Client, want any, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for servedLimit(c) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: limit.maxIDLength = %v, want %v", what, servedLimit(c), want)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func limitFile(n int) string {
	return "limit.maxIDLength:\n  - value: " + itoa(n) + "\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

// until polls cond for at most 5s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func watch(t *testing.T, path string, c *Client) *Watcher {
	t.Helper()
	w, err := WatchFile(path, c, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestWatchAppliesEveryKindOfReplacement(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dc.yaml")
	c := NewClient(dc.ConfigValueMap{maxIDLength: {{Value: 500}}})
	// The file may be absent at start: the static value serves.
	w := watch(t, path, c)
	if servedLimit(c) != 500 {
		t.Fatalf("static value %v, want 500", servedLimit(c))
	}

	write(t, path, limitFile(101)) // the file appears
	eventually(t, c, 101, "file created")

	write(t, path, limitFile(102)) // written in place
	eventually(t, c, 102, "written in place")

	tmp := filepath.Join(dir, ".dc.yaml.swp")
	write(t, tmp, limitFile(103)) // renamed over (editors, atomic writers)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, 103, "renamed over")

	if err := os.Remove(path); err != nil { // deleted: its values go
		t.Fatal(err)
	}
	eventually(t, c, 500, "deleted")
	write(t, path, limitFile(104)) // and re-created
	eventually(t, c, 104, "re-created")

	// Kubernetes ConfigMap: the file is a symlink through ..data, which is
	// swapped to a new directory.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{105, 106} {
		v := filepath.Join(dir, "..v"+itoa(i))
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(v, "dc.yaml"), limitFile(n))
		link := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(v), link); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(link, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.Symlink(filepath.Join("..data", "dc.yaml"), path); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, c, n, "symlink swap")
	}
	if st := w.Status(); st.LastErr != nil || st.OK < 7 || st.Failed != 0 {
		t.Errorf("status %+v, want no error, at least 7 good loads, no failures", st)
	}
}

func TestWatchKeepsLastGoodConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dc.yaml")
	write(t, path, limitFile(200))
	c := NewClient(nil)
	var mu sync.Mutex
	var loads []bool
	w, err := WatchFile(path, c, quietLogger(), func(ok bool) {
		mu.Lock()
		defer mu.Unlock()
		loads = append(loads, ok)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if servedLimit(c) != 200 {
		t.Fatalf("initial value %v, want 200", servedLimit(c))
	}
	for _, bad := range []string{
		"limit.maxIDLength: [value: 1\n",                 // syntax
		"limit.maxIDLenght:\n  - value: 300\n",           // unknown key
		"limit.maxIDLength:\n  - value: lots\n",          // wrong type
		limitFile(300) + "frontend.rps:\n  - value: x\n", // one bad key rejects the whole file
	} {
		write(t, path, bad)
		until(t, "bad file reported: "+bad, func() bool { return w.Status().LastErr != nil })
		if servedLimit(c) != 200 {
			t.Fatalf("after bad file %q the value is %v; the last good (200) must stay", bad, servedLimit(c))
		}
		write(t, path, limitFile(200)) // fixing the file clears the error
		until(t, "good file re-applied after "+bad, func() bool { return w.Status().LastErr == nil })
	}
	write(t, path, limitFile(201))
	eventually(t, c, 201, "fixed file")
	if st := w.Status(); st.Failed != 4 {
		t.Errorf("status %+v: want 4 rejected reloads", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(loads) == 0 || !loads[0] {
		t.Errorf("onLoad calls %v: want the first load reported as good", loads)
	}
}

func TestWatchRefusesBadFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dc.yaml")
	write(t, path, "limit.maxIDLenght:\n  - value: 10\n")
	_, err := WatchFile(path, NewClient(nil), quietLogger(), nil)
	if !errors.Is(err, ErrBadFile) || !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "dc.yaml:1") {
		t.Fatalf("err = %v; want a bad-file error naming line 1", err)
	}
	_, err = WatchFile(filepath.Join(t.TempDir(), "no", "dc.yaml"), NewClient(nil), quietLogger(), nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v; want the missing directory named", err)
	}
}

// TestWatchLogsChangesAndRestartKeys: a good save logs what changed, and a
// key the server reads only at start gets a warning to restart (not at the
// first load, which the server sees at start).
func TestWatchLogsChangesAndRestartKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dc.yaml")
	write(t, path, limitFile(200))
	var buf syncbuf.Buffer
	c := NewClient(nil)
	w, err := WatchFile(path, c, slog.New(slog.NewTextHandler(&buf, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if strings.Contains(buf.String(), "restart devcluster") {
		t.Fatalf("a restart warning at the first load:\n%s", buf.String())
	}
	write(t, path, limitFile(300)+"history.businessIDReuseLimiterCacheSize:\n  - value: 5\n")
	eventually(t, c, 300, "the save with a restart key")
	until(t, "the change and the restart warning logged", func() bool {
		s := buf.String()
		return strings.Contains(s, "limit.maxIDLength: 200 -> 300") &&
			strings.Contains(s, "restart devcluster to apply them") && strings.Contains(s, "history.businessIDReuseLimiterCacheSize")
	})
}
