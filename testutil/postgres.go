package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// PostgresEnv is the environment variable that runs every in-memory
// cluster of the test binary (NewCluster and the NewNamespace cluster) on
// a PostgreSQL server instead:
//
//	DEVCLUSTER_TEST_POSTGRES_URL=postgres://USER:PASSWORD@HOST:5432/postgres go test ./...
//
// The URL's user must be allowed to create databases; its database part is
// not used. Each cluster gets a fresh database (and its _visibility
// sibling), dropped when the cluster stops, so tests stay isolated. A
// cluster configured with a database file stays on that file.
const PostgresEnv = "DEVCLUSTER_TEST_POSTGRES_URL"

// WithPostgres runs the cluster on the PostgreSQL server of serverURL
// (postgres://USER[:PASSWORD]@HOST[:PORT][/any][?sslmode=...]) in a fresh
// database, dropped when the test ends. See PostgresEnv to do this for
// every cluster of a test binary.
func WithPostgres(serverURL string) Option {
	return func(o *options) { o.postgres = serverURL }
}

// applyPostgres points cfg at a fresh database on the server of
// WithPostgres, or of PostgresEnv for a cluster that would be in memory.
func (o *options) applyPostgres(cfg *profiles.Config) error {
	server, origin := o.postgres, "testutil.WithPostgres"
	if server == "" && cfg.Persistence.InMemory() {
		server, origin = os.Getenv(PostgresEnv), PostgresEnv
	}
	if server == "" {
		return nil
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s: %q is not a postgres:// URL", origin, profiles.RedactURL(server))
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	u.Path = "/devcluster_test_" + hex.EncodeToString(b)
	cfg.Persistence.URL = u.String()
	o.freshDB = cfg.Persistence.URL
	return nil
}

// dropPostgres drops the databases applyPostgres made for cfg; nothing for
// other clusters (a database the test named itself is left alone).
func (o *options) dropPostgres(cfg profiles.Config) error {
	if o.freshDB == "" || cfg.Persistence.URL != o.freshDB {
		return nil
	}
	main, vis, err := persistence.Databases(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(persistence.Drop(ctx, main), persistence.Drop(ctx, vis))
}
