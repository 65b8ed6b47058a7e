package services

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

	"github.com/devcluster/devcluster/dbschema"
	"github.com/devcluster/devcluster/profiles"
)

// The data stores of a PostgreSQL cluster: the main database and the SQL
// visibility store (the server's advanced visibility on PostgreSQL).
const (
	postgresStoreName           = "postgres-default"
	postgresVisibilityStoreName = "postgres-visibility"
)

// preparePostgres readies both databases before the server starts: the
// password file is read, both databases inspected (and refused, with
// nothing changed in either, if one is newer or foreign), created, set up
// or upgraded as needed; on an existing database the shard count and the
// search attributes are checked against the config, then the namespaces
// inserted that do not exist yet.
func (s *Server) preparePostgres(ctx context.Context) error {
	main, vis, err := dbschema.Databases(s.cfg)
	if err != nil {
		return err
	}
	s.sqlCfg = main.SQL
	if err := s.buildStatic(); err != nil {
		return err
	}
	if err := makeDirs(s.cfg); err != nil {
		return err
	}
	// Nodes of one cluster may start at once: one of them sets the
	// schema up and registers namespaces, the others then find it done.
	// Until this cluster's metadata row exists the lock is kept past
	// preparation, through the server's construction, which writes the
	// row (see holdDBLock): else a node that prepared next could read the
	// database between the schema and the row, and two nodes could both
	// find the row absent and both insert it (one then fails to start).
	unlock, err := dbschema.Lock(ctx, main)
	if err != nil {
		return err
	}
	hold := false
	defer func() {
		if hold {
			s.holdDBLock(unlock)
		} else {
			unlock()
		}
	}()
	dbs := []dbschema.Database{main, vis}
	states := make([]dbschema.Status, len(dbs))
	for i, d := range dbs {
		if states[i], err = dbschema.Inspect(ctx, d); err != nil {
			return err
		}
		if err := dbschema.Check(d, states[i], true, true); err != nil {
			return err
		}
	}
	// Both databases are checked before either is touched: a visibility
	// database the user may not create must not leave the main one set up.
	for i, d := range dbs {
		if err := dbschema.Preflight(ctx, d, states[i]); err != nil {
			return err
		}
	}
	s.db, hold = dbNewFile, true
	if st := states[0].State; st == dbschema.Older || st == dbschema.Current {
		s.db = dbExistingFile // an existing database, as for a file
		info, err := postgresInfo(ctx, s.sqlCfg, s.cfg.Cluster.Name)
		if err != nil {
			return err
		}
		hold = !info.hasCluster
		if info.shards > 0 && int(info.shards) != s.cfg.Persistence.Shards {
			return &profiles.FieldError{Key: "persistence.shards", Value: s.cfg.Persistence.Shards,
				Msg: fmt.Sprintf("differs from the %d shard(s) database %s was created with; a database's shard count is fixed: use %d, or a new database",
					info.shards, s.sqlCfg.DatabaseName, info.shards)}
		}
		if err := checkSearchAttributes(s.cfg, info); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		before, err := dbschema.Prepare(ctx, d)
		if err != nil {
			return err
		}
		if before.State != dbschema.Current {
			s.logger.Info("database schema ready", "database", d.SQL.DatabaseName, "kind", d.Kind.String(),
				"was", before.State.String(), "version", d.Kind.Want())
		}
	}
	if s.cfg.Ringpop() {
		if err := s.checkMemberAddresses(ctx); err != nil {
			return err
		}
	}
	nsConfigs, err := namespaceConfigs(s.cfg)
	if err != nil {
		return err
	}
	if err := runCtx(ctx, func() error { return createNamespaces(s.sqlCfg, nsConfigs) }); err != nil {
		return fmt.Errorf("register namespaces: %w", err)
	}
	return nil
}

// holdDBLock keeps the database's preparation lock until the server has
// been constructed (releaseDBLock), which writes this cluster's metadata
// row if it is absent.
func (s *Server) holdDBLock(unlock func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dbUnlock = unlock
}

// releaseDBLock releases a lock kept by holdDBLock; it is idempotent.
func (s *Server) releaseDBLock() {
	s.mu.Lock()
	unlock := s.dbUnlock
	s.dbUnlock = nil
	s.mu.Unlock()
	if unlock != nil {
		unlock()
	}
}

// postgresInfo reads the shard count and the namespaces' search attributes
// of an existing database through the server's SQL layer.
func postgresInfo(ctx context.Context, c *config.SQL, clusterName string) (fileInfo, error) {
	info := fileInfo{searchAttributes: map[string]map[string]string{}}
	err := runCtx(ctx, func() error {
		db, err := persistencesql.NewSQLDB(sqlplugin.DbKindMain, c, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
		if err != nil {
			return err
		}
		defer func() { _ = db.Close() }()
		pageSize := 100
		row, err := db.GetClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{ClusterName: clusterName})
		switch {
		case err == nil:
			info.shards, info.hasCluster = decodeShards(row.Data, row.DataEncoding), true
		case errors.Is(err, sql.ErrNoRows):
			rows, err := db.ListClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{PageSize: &pageSize})
			if err != nil {
				return fmt.Errorf("read cluster metadata of database %s: %w", c.DatabaseName, err)
			}
			if info.shards, info.hasCluster, err = ownClusterRow(rows, clusterName, c.DatabaseName); err != nil {
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
					info.searchAttributes[r.Name] = sas
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

// runCtx runs f, which takes no context, and stops waiting for it when ctx
// ends (f then finishes on its own).
func runCtx(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("the database did not answer in time"))
	}
}
