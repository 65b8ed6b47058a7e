package profiles_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

// FuzzLoadConfigFile feeds arbitrary bytes to Load as a --config YAML file.
// Load must never panic; an error must say something, be a configuration
// error, and name the file or a configuration key in each of its problems.
func FuzzLoadConfigFile(f *testing.F) {
	for _, seed := range []string{
		// valid
		"",
		"log: {level: debug, format: json}\n",
		"services:\n  frontend: {grpc-port: 0, http-port: -1}\n  history: {grpc-port: 0, membership-port: 6934}\n",
		"persistence: {file: dev.db, shards: 4}\nvisibility: {file: visibility.db}\n",
		"namespaces:\n  - {name: orders, retention: 72h, search-attributes: {CustomerId: Keyword}}\n",
		"archival:\n  history: {enabled: true, dir: archive/history}\n",
		"cluster: {name: active, failover-version-increment: 10}\n",
		"dynamic-config:\n  values: {limit.maxIDLength: 255}\n",
		"temporal:\n  global: {membership: {maxJoinDuration: 10s}}\n",
		"startup: {timeout: 30s}\nshutdown: {timeout: 5s}\n",
		"log:\n",
		// invalid
		"log: {level: loud}\n",
		"servics: {}\n",
		"services: {frontend: {grpc-prot: 1}}\n",
		"services: 7233\n",
		"services: {frontend: {grpc-port: seventy}}\n",
		"services: {frontend: {grpc-port: 99999999999999999999}}\n",
		"startup: {timeout: forever}\n",
		"namespaces: orders\n",
		"namespaces:\n  - name: a/b\n  - [1, 2]\n  - retention: -1h\n",
		"persistence: {shards: 0, pragmas: [wal]}\n",
		"- a\n- b\n",
		"just a string\n",
		"log: {level: [1\n",
		"a: &x [*x]\n",
		"? [a, b]\n: c\n",
		"1: 2\ntrue: false\n~: x\n",
		"temporal: 3\n",
		"dynamic-config: {values: {limit.maxIDLength: {a: 1}}}\n",
		"\x00\xff\xfe",
		"ip: '::1'\nmetrics: {address: 'nowhere:x'}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		loaded, err := profiles.Load(profiles.LoadOptions{Profiles: []string{"test"}, File: path, FileOrigin: "flag --config"})
		if err == nil {
			if loaded == nil {
				t.Fatal("Load returned neither a config nor an error")
			}
			return
		}
		if loaded != nil {
			t.Errorf("Load returned a config with its error")
		}
		msg := err.Error()
		if strings.TrimSpace(msg) == "" {
			t.Fatalf("empty error message (%#v)", err)
		}
		if !errors.Is(err, profiles.ErrConfig) {
			t.Errorf("error is not ErrConfig: %q", msg)
		}
		fes := profiles.FieldErrors(err)
		if len(fes) == 0 {
			if !strings.Contains(msg, path) {
				t.Errorf("error names neither the file nor a key: %q", msg)
			}
			return
		}
		for _, fe := range fes {
			if s := fe.Error(); !strings.Contains(s, path) && !namesKey(fe.Key) {
				t.Errorf("problem names neither the file nor a key: %q", s)
			}
		}
	})
}

// namesKey reports whether key is a configuration key: its first part is a
// top-level key of the schema (the rest may be a user's key under a map).
func namesKey(key string) bool {
	root, _, _ := strings.Cut(key, ".")
	root, _, _ = strings.Cut(root, "[")
	if root == "" {
		return false
	}
	for _, k := range profiles.Keys() {
		if r, _, _ := strings.Cut(k, "."); r == root {
			return true
		}
	}
	return false
}
