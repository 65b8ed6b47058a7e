package nodes

import (
	"context"
	"fmt"
	"time"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// NodeConnections is about how many PostgreSQL connections a full node
// holds (measured with pools of 4, persistence's maxConns: 16 at rest, 18
// after make bench's load, on PostgreSQL 15); with each role in a process
// of its own it differs.
const NodeConnections = 18

// ConnectionsWarning reads the database server's connection limit and
// returns a warning when nodes full nodes would likely exhaust it (they
// would then fail with "too many clients", at start or later under load);
// "" when they fit or the server cannot be asked (the nodes report why).
// It is a warning, not a refusal: the figure per node is an estimate.
func ConnectionsWarning(ctx context.Context, cfg profiles.Config, nodes int) string {
	main, _, err := persistence.Databases(cfg)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := persistence.Connections(ctx, main)
	if err != nil || nodes*NodeConnections <= l.Free() {
		return ""
	}
	return fmt.Sprintf("--nodes: %d nodes hold about %d database connections (about %d each), and the PostgreSQL server at %s has %d free (max_connections %d, %d reserved, %d in use); nodes may fail with \"too many clients\": start fewer nodes, or raise max_connections",
		nodes, nodes*NodeConnections, NodeConnections, main.SQL.ConnectAddr, max(l.Free(), 0), l.Max, l.Reserved, l.InUse)
}
