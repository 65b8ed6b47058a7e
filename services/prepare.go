package services

import (
	"context"
	"errors"
	"fmt"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// The data stores of a PostgreSQL cluster: the main database and the SQL
// visibility store (the server's advanced visibility on PostgreSQL).
const (
	postgresStoreName           = "postgres-default"
	postgresVisibilityStoreName = "postgres-visibility"
)

// prepareDatabase readies the database before the server starts: on
// PostgreSQL see preparePostgres; a database file is locked, inspected
// (and refused, changed in nothing, if devcluster cannot vouch for it),
// checked against the config, created if new, and marked running; then
// the namespaces are inserted that do not exist yet, and the visibility
// indexes set as visibility.indexes says. The database work itself is
// package persistence's; this is its order.
func (s *Server) prepareDatabase(ctx context.Context) error {
	if s.cfg.Persistence.Postgres() {
		return s.preparePostgres(ctx)
	}
	s.sqlCfg = persistence.SQLiteConfig(s.cfg.Persistence)
	// Build the server config once before touching any file: a temporal:
	// section the server rejects stops the start here, and one that tunes
	// the SQL store does so before the schema is set up.
	if err := s.buildStatic(); err != nil {
		return err
	}
	if err := persistence.MakeDirs(s.cfg); err != nil {
		return err
	}
	if s.cfg.Persistence.InMemory() {
		s.db = persistence.NoFile
	} else {
		files := persistence.NewFiles(s.cfg)
		s.mu.Lock()
		s.files = files
		s.mu.Unlock()
		if err := files.Lock(); err != nil {
			return err
		}
		state, info, err := persistence.InspectFile(s.cfg.Persistence.File, "persistence.file", s.cfg.Cluster.Name)
		if err != nil {
			return err
		}
		if state == persistence.ExistingFile {
			if info.Shards > 0 && int(info.Shards) != s.cfg.Persistence.Shards {
				return &profiles.FieldError{Key: "persistence.shards", Value: s.cfg.Persistence.Shards,
					Msg: fmt.Sprintf("differs from the %d shard(s) %s was created with; a file's shard count is fixed: use %d, or a new file",
						info.Shards, s.cfg.Persistence.File, info.Shards)}
			}
			if err := persistence.CheckSearchAttributes(s.cfg, info); err != nil {
				return err
			}
		}
		visState := persistence.ExistingFile
		if f := s.cfg.Visibility.File; f != "" {
			// Checked before anything is written to either file.
			if visState, _, err = persistence.InspectFile(f, "visibility.file", s.cfg.Cluster.Name); err != nil {
				return err
			}
		}
		s.db = state
		if state == persistence.NewFile {
			if err := persistence.SetupSchema(s.cfg.Persistence.File, "persistence.file"); err != nil {
				return err
			}
			s.logger.Info("database created", "file", s.cfg.Persistence.File)
		}
		if visState == persistence.NewFile {
			if err := persistence.SetupSchema(s.cfg.Visibility.File, "visibility.file"); err != nil {
				return err
			}
		}
		if err := files.Lock(); err != nil { // the files just created
			return err
		}
		if err := files.Mark(); err != nil {
			return err
		}
	}
	nsConfigs, err := persistence.NamespaceConfigs(s.cfg)
	if r := s.opts.Replication; r != nil {
		nsConfigs, err = r.namespaces, nil // the group's rows, the same in every cluster
	}
	if err != nil {
		return err
	}
	// In memory, the first connection creates the schema (the plugin does it).
	if err := persistence.CreateNamespaces(s.sqlCfg, nsConfigs); err != nil {
		return fmt.Errorf("register namespaces: %w", err)
	}
	visCfg := s.sqlCfg
	if s.cfg.Visibility.File != "" {
		visCfg = persistence.VisibilityFileConfig(s.cfg)
	}
	return persistence.ApplyVisibilityIndexes(visCfg, s.cfg.Visibility.Indexes)
}

// preparePostgres readies both databases before the server starts: the
// password file is read, both databases inspected (and refused, with
// nothing changed in either, if one is newer or foreign), created, set up
// or upgraded as needed; on an existing database the shard count and the
// search attributes are checked against the config, the visibility
// table's indexes set as visibility.indexes says, then the namespaces
// inserted that do not exist yet.
func (s *Server) preparePostgres(ctx context.Context) error {
	main, vis, err := persistence.Databases(s.cfg)
	if err != nil {
		return err
	}
	s.sqlCfg = main.SQL
	if err := s.buildStatic(); err != nil {
		return err
	}
	if err := persistence.MakeDirs(s.cfg); err != nil {
		return err
	}
	// Nodes of one cluster may start at once: one of them sets the
	// schema up and registers namespaces, the others then find it done.
	// Until this cluster's metadata row exists the lock is kept past
	// preparation, through the server's construction, which writes the
	// row (see holdDBLock): else a node that prepared next could read the
	// database between the schema and the row, and two nodes could both
	// find the row absent and both insert it (one then fails to start).
	unlock, err := persistence.Lock(ctx, main)
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
	dbs := []persistence.Database{main, vis}
	states := make([]persistence.Status, len(dbs))
	for i, d := range dbs {
		if states[i], err = persistence.Inspect(ctx, d); err != nil {
			return err
		}
		if err := persistence.Check(d, states[i], true, true); err != nil {
			return err
		}
	}
	// Both databases are checked before either is touched: a visibility
	// database the user may not create must not leave the main one set up.
	for i, d := range dbs {
		if err := persistence.Preflight(ctx, d, states[i]); err != nil {
			return err
		}
	}
	s.db, hold = persistence.NewFile, true
	if st := states[0].State; st == persistence.Older || st == persistence.Current {
		s.db = persistence.ExistingFile // an existing database, as for a file
		info, err := persistence.PostgresInfo(ctx, s.sqlCfg, s.cfg.Cluster.Name)
		if err != nil {
			return err
		}
		hold = !info.HasCluster
		if info.Shards > 0 && int(info.Shards) != s.cfg.Persistence.Shards {
			return &profiles.FieldError{Key: "persistence.shards", Value: s.cfg.Persistence.Shards,
				Msg: fmt.Sprintf("differs from the %d shard(s) database %s was created with; a database's shard count is fixed: use %d, or a new database",
					info.Shards, s.sqlCfg.DatabaseName, info.Shards)}
		}
		if err := persistence.CheckSearchAttributes(s.cfg, info); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		before, err := persistence.Prepare(ctx, d)
		if err != nil {
			return err
		}
		if before.State != persistence.Current {
			s.logger.Info("database schema ready", "database", d.SQL.DatabaseName, "kind", d.Kind.String(),
				"was", before.State.String(), "version", d.Kind.Want())
		}
	}
	switch err := persistence.ApplyPostgresVisibilityIndexes(ctx, vis, s.cfg.Visibility.Indexes); {
	case errors.Is(err, persistence.ErrNotOwner), errors.Is(err, persistence.ErrTableBusy):
		s.logger.Warn("visibility indexes left as they are", "visibility.indexes", s.cfg.Visibility.Indexes,
			"database", vis.SQL.DatabaseName, "reason", err.Error())
	case err != nil:
		return err
	}
	if s.cfg.Ringpop() {
		if err := s.checkMemberAddresses(ctx); err != nil {
			return err
		}
	}
	nsConfigs, err := persistence.NamespaceConfigs(s.cfg)
	if err != nil {
		return err
	}
	if err := persistence.RunCtx(ctx, func() error { return persistence.CreateNamespaces(s.sqlCfg, nsConfigs) }); err != nil {
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
