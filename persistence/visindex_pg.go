package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ApplyPostgresVisibilityIndexes makes the indexes of the visibility table
// in d (the visibility database) match mode, as ApplyVisibilityIndexes
// does for SQLite: "lean" drops every index but leanVisibilityIndexes and
// the primary key (74 -> 9 in server v1.32.2), first recording each
// dropped index's definition in devcluster_dropped_indexes; "full"
// recreates them from there, exactly as the server's schema made them. It
// runs in one transaction under an advisory lock of its own (nodes of one
// cluster, or clusters sharing a visibility database, take turns); when
// there is nothing to change it takes no table lock.
//
// Lean is an optimization, so where it cannot be done it is skipped, not
// a failed start: a user who does not own the table (ErrNotOwner), or a
// table that running nodes keep busy beyond a few seconds (ErrTableBusy).
// The caller logs those and starts as it is.
func ApplyPostgresVisibilityIndexes(ctx context.Context, d Database, mode string) (err error) {
	conn, err := d.connect(ctx, d.SQL.DatabaseName)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return d.queryError("visibility.indexes "+mode, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.Background())
			var pg *pgconn.PgError
			switch {
			case errors.Is(err, ErrNotOwner):
			case errors.As(err, &pg) && pg.Code == "55P03": // lock_not_available
				err = fmt.Errorf("%w: %v", ErrTableBusy, err)
			default:
				err = d.queryError("set visibility.indexes "+mode, err)
			}
		}
	}()
	// A DROP INDEX waits for every open query on the table: bounded, so a
	// start next to busy nodes skips lean rather than stalling them.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('devcluster:visibility-indexes'))`); err != nil {
		return err
	}
	var owner bool
	if err := tx.QueryRow(ctx, `SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'public.executions_visibility'::regclass`).Scan(&owner); err != nil {
		return err
	}
	if !owner {
		return ErrNotOwner
	}
	if mode == "full" {
		err = restorePostgresIndexes(ctx, tx)
	} else {
		err = dropPostgresIndexes(ctx, tx)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Why ApplyPostgresVisibilityIndexes left the indexes as they were.
var (
	ErrNotOwner  = errors.New("the user does not own executions_visibility (indexes can only be changed by the table's owner)")
	ErrTableBusy = errors.New("executions_visibility stayed locked by running queries for 5 s")
)

// dropPostgresIndexes drops the visibility table's indexes lean does not
// keep, recording their definitions for restorePostgresIndexes.
func dropPostgresIndexes(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT i.relname, pg_get_indexdef(i.oid)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		WHERE x.indrelid = 'public.executions_visibility'::regclass
			AND NOT x.indisprimary AND NOT x.indisunique
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`)
	if err != nil {
		return err
	}
	type index struct{ name, sql string }
	var drop []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return err
		}
		if !leanVisibilityIndexes[ix.name] {
			drop = append(drop, ix)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(drop) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.`+droppedIndexTable+` (name TEXT PRIMARY KEY, sql TEXT NOT NULL)`); err != nil {
		return err
	}
	for _, ix := range drop {
		if _, err := tx.Exec(ctx, `INSERT INTO public.`+droppedIndexTable+` (name, sql) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET sql = EXCLUDED.sql`, ix.name, ix.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DROP INDEX IF EXISTS public.`+quoteIdent(ix.name)); err != nil {
			return err
		}
	}
	return nil
}

// restorePostgresIndexes recreates the indexes a lean start dropped.
func restorePostgresIndexes(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+droppedIndexTable).Scan(&exists); err != nil || !exists {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT sql FROM public.`+droppedIndexTable)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range stmts {
		s = strings.Replace(s, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `DROP TABLE public.`+droppedIndexTable)
	return err
}
