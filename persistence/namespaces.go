package persistence

import (
	"fmt"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/devcluster/devcluster/profiles"
)

// The namespaces' rows, the same on SQLite and PostgreSQL: built from the
// config and inserted before the server starts (no registration race).

// NamespaceConfigs builds the rows CreateNamespaces inserts for the
// configured namespaces. Existing namespaces are left as they are;
// registerSearchAttributes adds missing attributes after start.
func NamespaceConfigs(cfg profiles.Config) ([]*sqliteschema.NamespaceConfig, error) {
	out := make([]*sqliteschema.NamespaceConfig, 0, len(cfg.Namespaces))
	for i, ns := range cfg.Namespaces {
		sas := make(map[string]enumspb.IndexedValueType, len(ns.SearchAttributes))
		for name, typ := range ns.SearchAttributes {
			v, err := IndexedValueType(typ)
			if err != nil {
				return nil, err
			}
			sas[name] = v
		}
		nc, err := sqliteschema.NewNamespaceConfig(cfg.Cluster.Name, ns.Name, false, sas)
		if err != nil {
			return nil, &profiles.FieldError{Key: fmt.Sprintf("namespaces[%d].search-attributes", i), Msg: err.Error()}
		}
		nc.Detail.Config.Retention = timestamp.DurationPtr(Retention(ns))
		// NewNamespaceConfig leaves archival off whatever the cluster says.
		if a := cfg.Archival.History; a.Enabled {
			nc.Detail.Config.HistoryArchivalState = enumspb.ARCHIVAL_STATE_ENABLED
			nc.Detail.Config.HistoryArchivalUri = ArchivalURI(a.Dir)
		}
		if a := cfg.Archival.Visibility; a.Enabled {
			nc.Detail.Config.VisibilityArchivalState = enumspb.ARCHIVAL_STATE_ENABLED
			nc.Detail.Config.VisibilityArchivalUri = ArchivalURI(a.Dir)
		}
		out = append(out, nc)
	}
	return out, nil
}

// Retention is a namespace's retention; the server's one day when unset.
func Retention(ns profiles.Namespace) time.Duration {
	if ns.Retention <= 0 {
		return 24 * time.Hour
	}
	return ns.Retention
}

// IndexedValueType is the server's type of a search attribute type name
// ("Keyword", "int", ...).
func IndexedValueType(typ string) (enumspb.IndexedValueType, error) {
	canon, ok := profiles.CanonicalSearchAttributeType(typ)
	if !ok {
		return 0, fmt.Errorf("unknown search attribute type %q", typ)
	}
	return enumspb.IndexedValueTypeFromString(canon)
}

// CreateNamespaces inserts the namespaces that do not exist yet.
func CreateNamespaces(sqlCfg *config.SQL, nss []*sqliteschema.NamespaceConfig) error {
	return sqliteschema.CreateNamespaces(sqlCfg, nss...)
}

// ArchivalURI is the filestore URI of an archive directory.
func ArchivalURI(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return "file://" + filepath.ToSlash(abs)
}
