package nodes

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/profiles"
)

// TestChaosKillsAndRestarts: with chaos on, the supervisor kills nodes
// without a frontend on schedule, restarts them and reports each one ready
// again; the frontend node is never killed. The nodes are stand-ins that
// write their ports file at once (no server needed).
func TestChaosKillsAndRestarts(t *testing.T) {
	t.Parallel()
	// A node ready at once: its ports file is its second argument.
	exe := standIn(t, "printf '{\"frontend\":\"127.0.0.1:1\",\"services\":{}}' > \"$2.tmp\" && mv \"$2.tmp\" \"$2\"\nexec sleep 300\n")
	out := &syncbuf.Buffer{}
	s := &Supervisor{Restart: true, StartupTimeout: 10 * time.Second, ShutdownTimeout: time.Second,
		Chaos: &Chaos{Every: 150 * time.Millisecond, Seed: 3}, Stdout: out, Stderr: out}
	dir := t.TempDir()
	for _, spec := range []Spec{{"node1", []string{profiles.Frontend, profiles.Worker}}, {"node2", []string{profiles.History}}, {"node3", []string{profiles.Matching}}} {
		ports := filepath.Join(dir, spec.Name+".json")
		s.Nodes = append(s.Nodes, &Node{Spec: spec, Exe: exe, Args: []string{"start", ports}, PortsFile: ports})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Supervise(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), "after its kill") < 3 && time.Now().Before(deadline) {
		<-time.After(20 * time.Millisecond) // polling interval
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Stop()
	log := out.String()
	t.Log(log)
	if n := strings.Count(log, "after its kill (rejoined the ring)"); n < 3 {
		t.Errorf("%d killed nodes reported ready again, want at least 3", n)
	}
	if strings.Contains(log, "killed node1") {
		t.Error("chaos killed the frontend node")
	}
	if !strings.Contains(log, "seed 3") {
		t.Error("the chaos seed is not reported")
	}
}

// TestParseChaos covers the --chaos spec.
func TestParseChaos(t *testing.T) {
	c, err := ParseChaos("kill-every=30s,seed=7")
	if err != nil || c.Every != 30*time.Second || c.Seed != 7 {
		t.Errorf("got %+v, %v", c, err)
	}
	for spec, want := range map[string]string{
		"kill-every=0s":        "not a positive duration",
		"kill-every=often":     "not a positive duration",
		"seed=7":               "says no kill-every",
		"kill-every=1s,when=x": `"when" is not a chaos setting`,
		"kill-every":           "is not KEY=VALUE",
	} {
		if _, err := ParseChaos(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}
