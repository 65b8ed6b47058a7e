package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	persistencesql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"

	"github.com/devcluster/devcluster/profiles"
)

// PostgresInfo reads the shard count and the namespaces' search attributes
// of an existing database through the server's SQL layer.
func PostgresInfo(ctx context.Context, c *config.SQL, clusterName string) (Info, error) {
	info := Info{SearchAttributes: map[string]map[string]string{}}
	err := RunCtx(ctx, func() error {
		db, err := persistencesql.NewSQLDB(sqlplugin.DbKindMain, c, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
		if err != nil {
			return err
		}
		defer func() { _ = db.Close() }()
		pageSize := 100
		row, err := db.GetClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{ClusterName: clusterName})
		switch {
		case err == nil:
			info.Shards, info.HasCluster = decodeShards(row.Data, row.DataEncoding), true
		case errors.Is(err, sql.ErrNoRows):
			rows, err := db.ListClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{PageSize: &pageSize})
			if err != nil {
				return fmt.Errorf("read cluster metadata of database %s: %w", c.DatabaseName, err)
			}
			if info.Shards, info.HasCluster, err = ownClusterRow(rows, clusterName, c.DatabaseName); err != nil {
				return err
			}
		default:
			// Only "no such row" means the row is absent: a failed read
			// says nothing about whose database this is.
			return fmt.Errorf("read cluster metadata of database %s: %w", c.DatabaseName, err)
		}
		var after *primitives.UUID
		for {
			filter := sqlplugin.NamespaceFilter{PageSize: &pageSize, GreaterThanID: after}
			rows, err := db.SelectFromNamespace(ctx, filter)
			if err != nil {
				return fmt.Errorf("read namespaces of database %s: %w", c.DatabaseName, err)
			}
			for _, r := range rows {
				if sas, ok := decodeSearchAttributes(r.Data, r.DataEncoding); ok {
					info.SearchAttributes[r.Name] = sas
				}
			}
			if len(rows) < pageSize {
				return nil
			}
			id := rows[len(rows)-1].ID
			after = &id
		}
	})
	return info, err
}

// ownClusterRow judges the cluster metadata rows of a database that had no
// row named clusterName a moment before. A row with our own name is ours:
// another node of this cluster wrote it since (the server writes it when
// its first process starts, after the schema is set up), so its shard
// count is returned and found is true. Only rows naming other clusters
// make it another cluster's database, refused with their names; a row
// whose blob cannot be read names no cluster, so it is not counted as
// another's (the server decides about it).
func ownClusterRow(rows []sqlplugin.ClusterMetadataRow, clusterName, database string) (shards int32, found bool, err error) {
	var others []string
	for _, r := range rows {
		// The plugin's list leaves ClusterName empty: the name is in the
		// row's blob.
		md := decodeClusterMetadata(r.Data, r.DataEncoding)
		switch name := md.GetClusterName(); {
		case md == nil || name == "":
		case name == clusterName:
			return md.GetHistoryShardCount(), true, nil
		default:
			others = append(others, strconv.Quote(name))
		}
	}
	if len(others) == 0 {
		return 0, false, nil
	}
	// Another cluster's database: its metadata names other clusters only.
	// A start would fail in the server, later and less clearly, or worse
	// join the nodes of that cluster.
	return 0, false, &profiles.FieldError{Key: "cluster.name", Value: strconv.Quote(clusterName),
		Msg: fmt.Sprintf("is not the cluster database %s belongs to (%s); point persistence.url at this cluster's own database, or set cluster.name to join that cluster",
			database, strings.Join(others, ", "))}
}

// RunCtx runs f, which takes no context, and stops waiting for it when ctx
// ends (f then finishes on its own).
func RunCtx(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("the database did not answer in time"))
	}
}
