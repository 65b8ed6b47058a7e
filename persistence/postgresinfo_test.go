package persistence

import (
	"strings"
	"testing"

	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"

	"github.com/devcluster/devcluster/profiles"
)

// clusterRow is a cluster_metadata_info row as the server writes it, read
// back through the plugin's list (which leaves ClusterName empty).
func clusterRow(t *testing.T, name string, shards int32) sqlplugin.ClusterMetadataRow {
	t.Helper()
	blob, err := serialization.Encode(&persistencespb.ClusterMetadata{ClusterName: name, HistoryShardCount: shards})
	if err != nil {
		t.Fatal(err)
	}
	return sqlplugin.ClusterMetadataRow{Data: blob.Data, DataEncoding: blob.EncodingType.String()}
}

// TestOwnClusterRow: the cluster-name check of an existing PostgreSQL
// database. A row with our own name, written by another node between our
// read of our row and the list, is ours (the race that refused a node of
// --nodes with `"active" is not the cluster database belongs to
// ("active")`); only rows naming other clusters refuse the start, and the
// refusal never names our own cluster.
func TestOwnClusterRow(t *testing.T) {
	t.Parallel()
	unreadable := sqlplugin.ClusterMetadataRow{Data: []byte("half"), DataEncoding: "Proto3"}
	for _, tc := range []struct {
		name       string
		rows       []sqlplugin.ClusterMetadataRow
		wantShards int32
		wantFound  bool
		wantErr    string // "" for none
	}{
		{"no rows", nil, 0, false, ""},
		{"our row appeared meanwhile", []sqlplugin.ClusterMetadataRow{clusterRow(t, "active", 4)}, 4, true, ""},
		{"ours among others", []sqlplugin.ClusterMetadataRow{clusterRow(t, "a", 1), clusterRow(t, "active", 8)}, 8, true, ""},
		{"another cluster's", []sqlplugin.ClusterMetadataRow{clusterRow(t, "standby", 1)}, 0, false, `cluster.name: "active" is not the cluster database t_db belongs to ("standby")`},
		{"unreadable row names nobody", []sqlplugin.ClusterMetadataRow{unreadable}, 0, false, ""},
		{"unreadable and another", []sqlplugin.ClusterMetadataRow{unreadable, clusterRow(t, "other", 1)}, 0, false, `belongs to ("other");`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			shards, found, err := ownClusterRow(tc.rows, "active", "t_db")
			if shards != tc.wantShards || found != tc.wantFound {
				t.Errorf("shards %d, found %v; want %d, %v", shards, found, tc.wantShards, tc.wantFound)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			case err != nil:
				if fes := profiles.FieldErrors(err); len(fes) != 1 || fes[0].Key != "cluster.name" {
					t.Errorf("want one cluster.name FieldError, got %#v", err)
				}
				if strings.Count(err.Error(), `"active"`) != 1 {
					t.Errorf("the refusal names our own cluster in the list: %v", err)
				}
			}
		})
	}
}
