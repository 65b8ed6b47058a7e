// Command dckeys extracts every dynamic-config setting registered by
// go.temporal.io/server and writes them to a JSON file that devcluster embeds
// (dynamicconfig/settings.json by default).
//
// It statically parses (go/parser, no type checking, no build) every non-test
// .go file of the server module, finds calls to the setting constructors of
// go.temporal.io/server/common/dynamicconfig (NewGlobalBoolSetting,
// dynamicconfig.NewNamespaceIntSetting, NewTaskQueueTypedSettingWithConverter,
// ...) and records, for each setting: its key, precedence, value type, the
// source text of its default, its description, the package that registers it,
// and whether the description says a restart is required.
//
// Regenerate after bumping go.temporal.io/server (run from the repo root):
//
//	go run ./internal/gen/dckeys
//
// or, equivalently, through a directive such as
//
//	//go:generate go run ./internal/gen/dckeys
//
// Flags:
//
//	-src DIR   server module directory (default: output of
//	           `go list -m -f '{{.Dir}}' go.temporal.io/server`)
//	-out FILE  output file (default dynamicconfig/settings.json)
//
// A summary (settings found, calls skipped and why, duplicate keys) is
// printed to stderr.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	serverModule  = "go.temporal.io/server"
	dcImportPath  = serverModule + "/common/dynamicconfig"
	dcPackageName = "dynamicconfig"
	maxDefaultLen = 200
)

// ctorRE matches every setting constructor generated in
// common/dynamicconfig/setting_gen.go:
// New<Precedence><Type>Setting[WithConstrainedDefault|WithConverter].
// Alternatives are tried in full, so "Namespace" vs "NamespaceID" is unambiguous.
var ctorRE = regexp.MustCompile(`^New(Global|Namespace|NamespaceID|TaskQueue|ShardID|TaskType|Destination|ChasmTaskType)(Bool|Int|Float|String|Duration|Map|Typed)Setting(WithConstrainedDefault|WithConverter)?$`)

// skipDirs are directory names that are never walked.
var skipDirs = map[string]bool{
	"testdata": true,
	"tests":    true,
	"tools":    true,
	"cmd":      true,
	"develop":  true,
}

// wrapperReason is the skip reason for calls inside constructor wrappers
// (the key is a parameter of the enclosing function); these are not
// registrations of their own, so their positions are not listed.
const wrapperReason = "constructor wrapper: key is a parameter of the enclosing function (not a registration)"

var restartRE = regexp.MustCompile(`(?i)restart`)

// Setting is one element of the output JSON array.
type Setting struct {
	Key         string `json:"key"`
	Precedence  string `json:"precedence"`
	Type        string `json:"type"`
	Default     string `json:"default"`
	Description string `json:"description"`
	Package     string `json:"package"`
	Restart     bool   `json:"restart"`
}

type pkgFile struct {
	path string
	file *ast.File
}

type stats struct {
	found   int
	skipped map[string][]string // reason -> positions
	dups    []string
}

func (s *stats) skip(reason, pos string) {
	s.skipped[reason] = append(s.skipped[reason], pos)
}

func main() {
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "dckeys: "+format+"\n", args...) }

	src := flag.String("src", "", "server module directory (default: `go list -m -f '{{.Dir}}' "+serverModule+"`)")
	out := flag.String("out", filepath.Join("dynamicconfig", "settings.json"), "output JSON file")
	flag.Parse()

	if *src == "" {
		dir, err := moduleDir(serverModule)
		if err != nil {
			log("locating %s: %v", serverModule, err)
			os.Exit(1)
		}
		*src = dir
	}

	settings, st, err := extract(*src)
	if err != nil {
		log("%v", err)
		os.Exit(1)
	}

	if err := write(*out, settings); err != nil {
		log("writing %s: %v", *out, err)
		os.Exit(1)
	}

	log("source: %s", *src)
	log("found %d setting registrations, wrote %d unique settings to %s", st.found, len(settings), *out)
	if len(st.dups) > 0 {
		log("dropped %d duplicate key(s) (kept first):", len(st.dups))
		for _, d := range st.dups {
			log("  %s", d)
		}
	}
	skipped, warned := 0, 0
	reasons := make([]string, 0, len(st.skipped))
	for r, ps := range st.skipped {
		reasons = append(reasons, r)
		if strings.HasPrefix(r, "(kept") {
			warned += len(ps)
		} else {
			skipped += len(ps)
		}
	}
	sort.Strings(reasons)
	log("skipped %d matching call(s); %d kept with warnings", skipped, warned)
	for _, r := range reasons {
		log("  %d: %s", len(st.skipped[r]), r)
		if r == wrapperReason {
			continue
		}
		for _, p := range st.skipped[r] {
			log("    %s", p)
		}
	}
}

func moduleDir(mod string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(b))
	if dir == "" {
		return "", fmt.Errorf("module %s not downloaded (run `go mod download %s`)", mod, mod)
	}
	return dir, nil
}

func extract(root string) ([]Setting, *stats, error) {
	root = filepath.Clean(root)
	fset := token.NewFileSet()
	pkgs := map[string][]pkgFile{} // dir -> files
	var dirs []string

	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (skipDirs[name] || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		dir := filepath.Dir(path)
		if _, ok := pkgs[dir]; !ok {
			dirs = append(dirs, dir)
		}
		pkgs[dir] = append(pkgs[dir], pkgFile{path: path, file: f})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}

	st := &stats{skipped: map[string][]string{}}
	var all []Setting
	for _, dir := range dirs { // WalkDir order: lexical, deterministic
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return nil, nil, err
		}
		rel = filepath.ToSlash(rel)
		files := pkgs[dir]
		consts := stringConsts(files)
		isDC := rel == "common/dynamicconfig"
		for _, pf := range files {
			all = append(all, scanFile(fset, root, pf, rel, isDC, consts, st)...)
		}
	}
	st.found = len(all)

	// Deduplicate by lower-cased key, keeping the first, then sort.
	seen := map[string]Setting{}
	var uniq []Setting
	for _, s := range all {
		lk := strings.ToLower(s.Key)
		if prev, ok := seen[lk]; ok {
			st.dups = append(st.dups, fmt.Sprintf("%q in %s (first seen as %q in %s)", s.Key, s.Package, prev.Key, prev.Package))
			continue
		}
		seen[lk] = s
		uniq = append(uniq, s)
	}
	sort.SliceStable(uniq, func(i, j int) bool {
		a, b := strings.ToLower(uniq[i].Key), strings.ToLower(uniq[j].Key)
		if a != b {
			return a < b
		}
		return uniq[i].Key < uniq[j].Key
	})
	return uniq, st, nil
}

// scanFile returns the settings registered in one file.
func scanFile(fset *token.FileSet, root string, pf pkgFile, rel string, isDC bool, consts map[string]string, st *stats) []Setting {
	// Local names under which common/dynamicconfig is imported in this file.
	dcNames := map[string]bool{}
	dotImport := false
	for _, imp := range pf.file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != dcImportPath {
			continue
		}
		switch {
		case imp.Name == nil:
			dcNames[dcPackageName] = true
		case imp.Name.Name == ".":
			dotImport = true
		case imp.Name.Name != "_":
			dcNames[imp.Name.Name] = true
		}
	}
	if !isDC && !dotImport && len(dcNames) == 0 {
		return nil
	}

	var out []Setting
	params := map[string]bool{} // parameter names of the enclosing top-level function
	visit := func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		name, ok := ctorName(call.Fun, isDC || dotImport, dcNames)
		if !ok {
			return true
		}
		m := ctorRE.FindStringSubmatch(name)
		if m == nil {
			return true
		}
		pos := fset.Position(call.Pos())
		if r, err := filepath.Rel(root, pos.Filename); err == nil {
			pos.Filename = filepath.ToSlash(r)
		}
		where := fmt.Sprintf("%s:%d %s", pos.Filename, pos.Line, name)

		if len(call.Args) < 3 {
			st.skip("fewer than 3 arguments", where)
			return true
		}
		key, ok := stringValue(call.Args[0], consts)
		if !ok {
			if id, isID := call.Args[0].(*ast.Ident); isID && params[id.Name] {
				// e.g. NewGlobalTypedSetting delegating to ...WithConverter in setting_gen.go.
				st.skip(wrapperReason, where)
				return true
			}
			st.skip("key is not a string literal or resolvable string constant", where+"("+exprText(fset, call.Args[0])+", ...)")
			return true
		}
		if key == "" {
			st.skip("empty key", where)
			return true
		}

		// The default is always the second-to-last argument: (key, def, desc),
		// (key, cdef, desc), (key, convert, def, desc), (key, convert, cdef, desc).
		def := collapse(exprText(fset, call.Args[len(call.Args)-2]))

		// The description is always the last argument.
		desc, ok := stringValue(call.Args[len(call.Args)-1], consts)
		if !ok {
			st.skip("(kept, empty description) description is not a string literal or constant", where)
		}
		desc = collapse(desc)

		out = append(out, Setting{
			Key:         key,
			Precedence:  m[1],
			Type:        strings.ToLower(m[2]),
			Default:     truncate(def, maxDefaultLen),
			Description: desc,
			Package:     rel,
			Restart:     restartRE.MatchString(desc),
		})
		return true
	}
	for _, decl := range pf.file.Decls {
		clear(params)
		if fd, ok := decl.(*ast.FuncDecl); ok {
			for _, fl := range []*ast.FieldList{fd.Recv, fd.Type.Params} {
				if fl == nil {
					continue
				}
				for _, field := range fl.List {
					for _, name := range field.Names {
						params[name.Name] = true
					}
				}
			}
		}
		ast.Inspect(decl, visit)
	}
	return out
}

// ctorName returns the called function name if fun is a (possibly
// generic-instantiated) reference to a function of package dynamicconfig.
func ctorName(fun ast.Expr, bare bool, dcNames map[string]bool) (string, bool) {
	switch f := fun.(type) {
	case *ast.IndexExpr:
		return ctorName(f.X, bare, dcNames)
	case *ast.IndexListExpr:
		return ctorName(f.X, bare, dcNames)
	case *ast.ParenExpr:
		return ctorName(f.X, bare, dcNames)
	case *ast.Ident:
		if bare {
			return f.Name, true
		}
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok && dcNames[x.Name] {
			return f.Sel.Name, true
		}
	}
	return "", false
}

// stringConsts collects the package-level string constants of a package, resolving constants defined in terms of other constants.
func stringConsts(files []pkgFile) map[string]string {
	exprs := map[string]ast.Expr{}
	for _, pf := range files {
		for _, decl := range pf.file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						exprs[name.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	consts := map[string]string{}
	// Iterate to a fixed point so constants may reference each other.
	for changed := true; changed; {
		changed = false
		for name, e := range exprs {
			if _, done := consts[name]; done {
				continue
			}
			if s, ok := stringValue(e, consts); ok {
				consts[name] = s
				changed = true
			}
		}
	}
	return consts
}

// stringValue evaluates string literals, parenthesised expressions,
// concatenations ("a" + "b") and identifiers naming known string constants.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.ParenExpr:
		return stringValue(x.X, consts)
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok := stringValue(x.X, consts)
		if !ok {
			return "", false
		}
		b, ok := stringValue(x.Y, consts)
		if !ok {
			return "", false
		}
		return a + b, true
	case *ast.Ident:
		s, ok := consts[x.Name]
		return s, ok
	}
	return "", false
}

func exprText(fset *token.FileSet, e ast.Expr) string {
	var buf bytes.Buffer
	if err := printer.Fprint(&buf, fset, e); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return buf.String()
}

// collapse replaces every run of whitespace with a single space and trims.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate shortens s to at most n bytes (on a rune boundary), marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func write(path string, settings []Setting) error {
	if settings == nil {
		settings = []Setting{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(settings); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
