package services

import (
	"context"
	"slices"
	"time"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	persistencesql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// LiveFrontendHosts reads, before this process starts anything, the
// addresses of the live frontend members of cfg's cluster from the shared
// database (nil when it has none yet, or no membership table): where a new
// node looks for the running cluster (bootstrap's check that it shares its
// CA). Ringpop on PostgreSQL only; ctx bounds it.
func LiveFrontendHosts(ctx context.Context, cfg profiles.Config) []string {
	if !cfg.Ringpop() || !cfg.Persistence.Postgres() {
		return nil
	}
	sqlCfg, err := persistence.MainSQLConfig(cfg)
	if err != nil {
		return nil
	}
	c := *sqlCfg
	c.MaxConns, c.MaxIdleConns = 1, 1
	db, err := persistencesql.NewSQLDB(sqlplugin.DbKindMain, &c, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return nil
	}
	defer func() { _ = db.Close() }()
	rows, err := liveMemberRows(ctx, db)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rows {
		if roleName(r.Role) == profiles.Frontend && !slices.Contains(out, r.RPCAddress) {
			out = append(out, r.RPCAddress)
		}
	}
	return out
}

// liveMemberRows reads the members whose heartbeat the database holds from
// the last memberHeartbeatCutoff.
func liveMemberRows(ctx context.Context, db sqlplugin.DB) ([]sqlplugin.ClusterMembershipRow, error) {
	return db.GetClusterMembers(ctx, &sqlplugin.ClusterMembershipFilter{
		LastHeartbeatAfter: time.Now().Add(-memberHeartbeatCutoff), MaxRecordCount: 1000})
}
