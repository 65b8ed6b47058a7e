package nodes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/profiles"
)

// TestParseSpec covers the accepted --nodes values.
func TestParseSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec  string
		want        []string // each node's roles, joined by +
		wantWarning bool
	}{
		{"a number", "3", []string{"frontend+history+matching+worker", "frontend+history+matching+worker", "frontend+history+matching+worker"}, false},
		{"one full node", " 1 ", []string{"frontend+history+matching+worker"}, false},
		{"role sets in any order and case", "Worker+frontend, history ,matching", []string{"frontend+worker", "history", "matching"}, false},
		{"two of a role", "frontend+worker,history,history,matching", []string{"frontend+worker", "history", "history", "matching"}, false},
		{"no worker", "frontend,history+matching", []string{"frontend", "history+matching"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nodes, warning, err := ParseSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, n := range nodes {
				if want := "node" + string(rune('1'+i)); n.Name != want {
					t.Errorf("node %d is named %q, want %q", i, n.Name, want)
				}
				got = append(got, n.Runs())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("nodes %v, want %v", got, tc.want)
			}
			if (warning != "") != tc.wantWarning || (tc.wantWarning && !strings.Contains(warning, "runs no worker role")) {
				t.Errorf("warning %q, want one: %v", warning, tc.wantWarning)
			}
		})
	}
}

// TestRestartDelay: a node that keeps failing is restarted ever
// later, but never more than 30 s later (and never at once: no overflow).
func TestRestartDelay(t *testing.T) {
	t.Parallel()
	for failures, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 4: 4 * time.Second, 7: 30 * time.Second, 1000: 30 * time.Second} {
		if got := RestartDelay(failures); got != want {
			t.Errorf("RestartDelay(%d) = %s, want %s", failures, got, want)
		}
	}
}

// TestConnectionsWarning: before launching, ConnectionsWarning compares
// what the nodes would hold (NodeConnections each) with the free
// connections of the PostgreSQL server (the test server allows 300) and
// warns, naming max_connections, when they would not fit.
func TestConnectionsWarning(t *testing.T) {
	t.Parallel()
	pg := pgtest.Shared(t)
	_, dbURL := pg.NewDatabase(t)
	cfg := profiles.Default()
	cfg.Persistence.URL = dbURL
	ctx := context.Background()
	if w := ConnectionsWarning(ctx, cfg, 2); w != "" {
		t.Errorf("2 nodes on a server of 300 connections: warning %q, want none", w)
	}
	many := 300/NodeConnections + 1
	w := ConnectionsWarning(ctx, cfg, many)
	for _, want := range []string{fmt.Sprintf("--nodes: %d nodes hold about %d database connections", many, many*NodeConnections), "max_connections 300", "raise max_connections"} {
		if !strings.Contains(w, want) {
			t.Errorf("%d nodes: warning %q lacks %q", many, w, want)
		}
	}
	cfg.Persistence.URL = "postgres://devcluster@127.0.0.1:1/nodes"
	if w := ConnectionsWarning(ctx, cfg, many); w != "" {
		t.Errorf("no server to ask: warning %q, want none (the nodes report the database's error)", w)
	}
}
