package portsfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := Read(write("one.json", `{"frontend":"127.0.0.1:7233","services":{"history":"127.0.0.1:1"},"namespaces":["default"]}`))
	if err != nil || p.Frontend != "127.0.0.1:7233" || p.Services["history"] != "127.0.0.1:1" {
		t.Fatalf("Read = %+v, %v", p, err)
	}
	if p, err := Read(write("node.json", `{"frontend":"","node":{"runs":["history"]}}`)); err != nil || p.Node == nil || p.Node.Runs[0] != "history" {
		t.Fatalf("a node without a frontend: %+v, %v", p, err)
	}
	for name, body := range map[string]string{"half.json": `{"frontend":"127.0.0.1:72`, "empty.json": `{}`} {
		if _, err := Read(write(name, body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v; want an error naming the file", name, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v; want not-exist", err)
	}
}
