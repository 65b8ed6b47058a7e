package bootstrap_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

// TestShardCountFixedInFile: a database file keeps the shard count it was
// created with; asking for another is an error, not silently ignored.
func TestShardCountFixedInFile(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Persistence.File = filepath.Join(t.TempDir(), "dev.db")
	cfg.Persistence.Shards = 2
	c := startCluster(t, cfg)
	stopCluster(t, c)

	cfg.Persistence.Shards = 1
	_, err := bootstrap.Start(context.Background(), cfg, bootstrap.WithLogger(testLogger(t)))
	fes := profiles.FieldErrors(err)
	if len(fes) != 1 || fes[0].Key != "persistence.shards" || !strings.Contains(err.Error(), "2 shard(s)") {
		t.Fatalf("error %v; want persistence.shards naming the file's 2 shards", err)
	}
	cfg.Persistence.Shards = 2
	stopCluster(t, startCluster(t, cfg))
}
