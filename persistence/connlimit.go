package persistence

import (
	"context"
	"fmt"
)

// ConnectionLimit is how many client connections a PostgreSQL server
// takes, as seen by one connection to it.
type ConnectionLimit struct {
	Max      int // max_connections
	Reserved int // superuser_reserved_connections (and reserved_connections, on 16+)
	InUse    int // client connections open now, this one included
}

// Free is how many more connections an ordinary user may open now.
func (l ConnectionLimit) Free() int { return l.Max - l.Reserved - l.InUse }

// Connections reads the connection limit of d's server through a
// maintenance database (d's own may not exist yet). It opens and closes
// one connection and changes nothing.
func Connections(ctx context.Context, d Database) (ConnectionLimit, error) {
	var lastErr error
	for _, maint := range maintenanceDatabases {
		if maint == "template1" {
			continue // a session there would block CREATE DATABASE
		}
		conn, err := d.connect(ctx, maint)
		if err != nil {
			lastErr = err
			continue
		}
		defer func() { _ = conn.Close(context.Background()) }()
		var l ConnectionLimit
		// reserved_connections exists from PostgreSQL 16 on: current_setting
		// with missing_ok gives NULL before.
		err = conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
			current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0),
			(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int`).Scan(&l.Max, &l.Reserved, &l.InUse)
		if err != nil {
			return ConnectionLimit{}, fmt.Errorf("read the connection limit of %s: %w", d.SQL.ConnectAddr, err)
		}
		return l, nil
	}
	return ConnectionLimit{}, lastErr
}
