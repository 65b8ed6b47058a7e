package profiles

import (
	"embed"
	"sort"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// DefaultProfile is used when no profile is named.
const DefaultProfile = "dev"

// BaseProfile is composed under every other profile: it turns on the
// SDK-facing features the server leaves off by default.
const BaseProfile = "features"

// Builtin returns the names of the built-in profiles, sorted.
func Builtin() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// BuiltinSource returns the YAML text of a built-in profile.
func BuiltinSource(name string) ([]byte, bool) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	return b, err == nil
}
