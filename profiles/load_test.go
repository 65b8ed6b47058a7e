package profiles_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	cases := []profiles.LoadOptions{
		{File: w("a.yaml", "servics:\n  frontend: {}\n"), FileOrigin: "flag --config"},
		{File: w("b.yaml", "log: {levle: x}\n")},
		{File: w("c.yaml", "persistence: {shards: many}\n")},
		{File: w("d.yaml", "startup: {timeout: 3 days}\n")},
		{File: w("e.yaml", "ip: 300.1.2.3\nservices: {frontend: {grpc-port: 70000}, history: {grpc-port: 7300}, matching: {grpc-port: 7300}}\n")},
		{Profiles: []string{"cii"}, ProfilesOrigin: "flag --profile"},
		{File: filepath.Join(dir, "missing.yaml")},
		{File: w("f.yaml", "log:\n  level: x\n bad: 1\n")},
		{File: w("g.toml", "[log]\nlevel = \n")},
		{File: w("h.json", "{\n\"log\": {\n\"level\": x}}")},
		{File: w("h2.json", "{\n\"log\": {\n")},
		{File: w("h3.json", "{\"ip\": \"1.2.3.4\"} trailing garbage")},
		{File: w("i.ini", "x")},
		{Environ: []string{"DEVCLUSTER_LOG_LEVLE=debug", "DEVCLUSTER_FOO=1"}},
		{File: w("j.yaml", "archival: {history: {enabled: true}}\npersistence: {shards: 0}\n")},
		{File: w("k.yaml", "log: 3\n")},
		{File: w("l.yaml", "namespaces: [{name: a}, {name: b}, {name: default, retention: 48h}]\n")},
		{File: w("m.yaml", "data-dir: data\npersistence: {file: ./data/x.db}\n")},
		{File: w("n.yaml", "namespaces: orders\n")},
		{File: w("o.yaml", "dynamic-config: {values: 3}\n")},
		{File: w("p.yaml", "temporal: 3\n")},
		{File: w("q.yaml", "- a\n- b\n")},
		{Environ: []string{"DEVCLUSTER_SERVICES_FRONTEND_GRPC_PORT=abc", "DEVCLUSTER_ARCHIVAL_HISTORY_ENABLED=yes"}},
		{Environ: []string{"DEVCLUSTER_NAMESPACES=a"}},
		{File: w("r.yaml", "namespaces: [{name: a, retntion: 1h}]\n")},
		{File: w("s.yaml", "persistence: {pragmas: {journal_mode: [1,2]}}\n")},
		{File: w("t.yaml", "services: {frontend: {grpc-port: 1.5}}\n")},
		{File: w("u.yaml", "log: {level: 3}\n")},
		{File: w("v.yaml", "persistence: {shards: 4.7}\n")},
	}
	for i, o := range cases {
		l, err := profiles.Load(o)
		fmt.Printf("--- case %d\n", i)
		if err != nil {
			for _, fe := range profiles.FieldErrors(err) {
				fmt.Printf("  key=%q value=%#v origin=%q\n   => %s\n", fe.Key, fe.Value, fe.Origin, fe.Error())
			}
			if len(profiles.FieldErrors(err)) == 0 {
				fmt.Println("  plain:", err)
			}
			continue
		}
		fmt.Printf("  ok: ns=%+v file=%q ip=%q sources[namespaces]=%q\n", l.Config.Namespaces, l.Config.Persistence.File, l.Config.IP, l.Sources["namespaces"])
	}
}
