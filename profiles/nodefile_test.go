package profiles

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNodeFileRoundTrip: a node's config is the supervisor's, key for key,
// and its errors still name where a value came from.
func TestNodeFileRoundTrip(t *testing.T) {
	loaded, err := Load(LoadOptions{Profiles: []string{"ci"}, Settings: []Setting{
		{Path: []string{"persistence", "url"}, Value: "postgres://u:secret@127.0.0.1:5432/x", Origin: "flag --db-url"},
		{Path: []string{"dynamic-config", "values", "limit.maxIDLength"}, Value: 300, Origin: "flag --dynamic-config-value"},
		{Path: []string{"shutdown", "timeout"}, Value: "7s", Origin: "flag --shutdown-timeout"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node1.yaml")
	if err := WriteNodeFile(path, loaded.Config, loaded); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ToMap(got.Config), ToMap(loaded.Config)) {
		t.Errorf("config changed on the way:\n got %v\nwant %v", ToMap(got.Config), ToMap(loaded.Config))
	}
	if got.Config.Shutdown.Timeout != 7*time.Second || !reflect.DeepEqual(got.Profiles, loaded.Profiles) {
		t.Errorf("shutdown.timeout %s, profiles %v", got.Config.Shutdown.Timeout, got.Profiles)
	}
	if o := got.Origin("dynamic-config.values.limit.maxIDLength"); o != "flag --dynamic-config-value" {
		t.Errorf("origin %q, want the supervisor's flag", o)
	}

	bad := loaded.Config.Clone()
	bad.Shutdown.Timeout = -time.Second
	if err := WriteNodeFile(path, bad, loaded); err != nil {
		t.Fatal(err)
	}
	_, err = LoadNodeFile(path)
	if err == nil || !strings.Contains(err.Error(), "shutdown.timeout") || !strings.Contains(err.Error(), "flag --shutdown-timeout") {
		t.Errorf("want shutdown.timeout refused naming its flag, got %v", err)
	}
	if _, err := LoadNodeFile(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("want a missing node file named, got %v", err)
	}
}
