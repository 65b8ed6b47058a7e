package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/devcluster/devcluster"

// serverAllowed lists the packages that may import go.temporal.io/server,
// and which of its packages: "*" for any. services owns the server (its
// config, its start); persistence uses the server's schema files, SQL tooling and SQLite plugin;
// dynamicconfig implements the server's dynamic-config client over its
// settings; metrics gives the server its metrics handler; auth implements
// the server's claim mapper and authorizer. bootstrap and testutil take
// the user's own claim mapper and authorizer, which are the server's
// interfaces, and nothing else of it.
var serverAllowed = map[string][]string{
	"services":      {"*"},
	"persistence":   {"*"},
	"dynamicconfig": {"*"},
	"metrics":       {"*"},
	"auth":          {"*"},
	"bootstrap":     {"go.temporal.io/server/common/authorization"},
	"testutil":      {"go.temporal.io/server/common/authorization"},
}

// leaves import no devcluster package but internal/ ones.
var leaves = []string{"profiles", "certs", "dynamicconfig", "timeskip", "webui", "faults"}

// frontDoors are imported by nothing but tests, and bench/, which
// measures testutil.
var frontDoors = []string{"cmd/", "testutil"}

// below maps packages to the packages they must not import: the CLI is
// flags, printing and exit codes over bootstrap and nodes, not the server's
// parts; nodes starts processes, which run the server themselves.
var below = map[string][]string{
	"cmd/":  {"services", "persistence"},
	"nodes": {"services", "bootstrap"},
}

// imports maps each package of the module (relative to it) to the
// packages its non-test files import.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		m[pkg] = f[1:]
	}
	if len(m) < 10 {
		t.Fatalf("go list found only %d packages:\n%s", len(m), out)
	}
	return m
}

func ours(imp string) (string, bool) {
	if imp == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(imp, module+"/")
	return rel, ok
}

func under(pkg, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(pkg, prefix)
	}
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

func TestImportDirections(t *testing.T) {
	for pkg, imps := range imports(t) {
		for _, imp := range imps {
			if rel, ok := ours(imp); ok {
				for _, door := range frontDoors {
					if under(rel, door) && !under(pkg, door) && pkg != "bench" {
						t.Errorf("%s imports %s: only tests and bench/ may import %s", pkg, rel, door)
					}
				}
				if slices.Contains(leaves, pkg) && !under(rel, "internal") {
					t.Errorf("%s imports %s: %s is a leaf and imports nothing of devcluster's but internal/", pkg, rel, pkg)
				}
				if under(pkg, "internal") && !under(rel, "internal") {
					t.Errorf("%s imports %s: internal/ packages are the bottom layer and import only internal/ ones", pkg, rel)
				}
				for from, banned := range below {
					for _, b := range banned {
						if under(pkg, from) && under(rel, b) {
							t.Errorf("%s imports %s: %s must not import %s; reach it through bootstrap (see bootstrap/frontdoor.go)", pkg, rel, from, b)
						}
					}
				}
				if pkg == "services" && under(rel, "bootstrap") {
					t.Errorf("services imports bootstrap: bootstrap assembles services, never the other way")
				}
				continue
			}
			if !strings.HasPrefix(imp, "go.temporal.io/server") {
				continue
			}
			allowed := serverAllowed[pkg]
			if !slices.Contains(allowed, "*") && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s: of the Temporal server, %s may import %s (see serverAllowed)", pkg, imp, pkg, allowedText(allowed))
			}
		}
	}
}

func allowedText(allowed []string) string {
	if len(allowed) == 0 {
		return "nothing: move the code that needs it to services (or a package serverAllowed names)"
	}
	return "only " + strings.Join(allowed, ", ")
}

// TestUnderIsByPathElement keeps the rules from matching by text: "cmd/"
// covers cmd/devcluster, "testutil" does not cover "testutilx".
func TestUnderIsByPathElement(t *testing.T) {
	for _, tc := range []struct {
		pkg, prefix string
		want        bool
	}{
		{"cmd/devcluster", "cmd/", true},
		{"cmd", "cmd/", false},
		{"testutil", "testutil", true},
		{"testutilx", "testutil", false},
		{path.Join("internal", "pgtest"), "internal", true},
	} {
		if got := under(tc.pkg, tc.prefix); got != tc.want {
			t.Errorf("under(%q, %q) = %v, want %v", tc.pkg, tc.prefix, got, tc.want)
		}
	}
}
