package bootstrap

import (
	"context"

	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// The CLI (cmd/devcluster) imports bootstrap and nodes, never services or
// persistence (internal/archtest): what it needs of them is named here.

// NamespaceInfo is a namespace as Cluster.ListNamespaces reports it.
type NamespaceInfo = services.NamespaceInfo

// Member is a live member of a ringpop cluster (Cluster.Members).
type Member = services.Member

// MissingRoles returns the serving roles (frontend, history, matching) that
// members has none of.
func MissingRoles(members map[string][]Member) []string { return services.MissingRoles(members) }

// Export renders cfg as the server's own static config and dynamic-config
// file (`config export`): see services.Export.
func Export(cfg profiles.Config, dynamicFile string) (static, dynamic []byte, err error) {
	return services.Export(cfg, dynamicFile)
}

// ExportDynamicConfigFile is the dynamic-config file an exported static
// config reads when the caller names none.
const ExportDynamicConfigFile = services.ExportDynamicConfigFile

// StaticDynamicConfig is the static layer of a cluster's dynamic config.
type StaticDynamicConfig = services.StaticDynamicConfig

// EffectiveDynamicConfig returns the static dynamic-config values a
// cluster for cfg serves, the one place that decides them: the server,
// `config export` and `dynamicconfig show` all read them from here.
func EffectiveDynamicConfig(cfg profiles.Config) StaticDynamicConfig {
	return services.EffectiveDynamicConfig(cfg)
}

// HTTPAddressPlaceholder in a dynamic-config string is replaced by the
// frontend's HTTP address once ports are chosen.
const HTTPAddressPlaceholder = services.HTTPAddressPlaceholder

// FreshReadsKey is the dynamic-config key server.fresh-reads-after-change
// switches around namespace and search-attribute changes.
const FreshReadsKey = services.FreshReadsKey

// AcceptLoss makes a database file that start refuses usable again (`db
// accept-loss`) and says what it did: see persistence.AcceptLoss.
func AcceptLoss(path, key string) (string, error) { return persistence.AcceptLoss(path, key) }

// DatabaseOp is what `devcluster db` does to the PostgreSQL databases of a
// config.
type DatabaseOp = persistence.Op

// The database operations of `devcluster db`.
const (
	DatabaseStatus  = persistence.OpStatus
	DatabaseSetup   = persistence.OpSetup
	DatabaseUpgrade = persistence.OpUpgrade
)

// ManageDatabases inspects, sets up or upgrades cfg's PostgreSQL databases
// without starting a cluster: see persistence.Manage.
func ManageDatabases(ctx context.Context, cfg profiles.Config, op DatabaseOp) (lines []string, current bool, err error) {
	return persistence.Manage(ctx, cfg, op)
}
