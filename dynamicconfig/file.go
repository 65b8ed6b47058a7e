package dynamicconfig

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/devcluster/devcluster/internal/oserr"
	dc "go.temporal.io/server/common/dynamicconfig"
)

// ErrBadFile marks a dynamic-config file that cannot be used as a whole.
var ErrBadFile = errors.New("invalid dynamic config file")

// FileError is one problem in a dynamic-config file, with its line.
type FileError struct {
	Path string
	Line int    // 0 when unknown
	Key  string // "" for a syntax error
	Msg  string
	Err  error // ErrUnknownKey, ErrBadValue or nil
}

func (e *FileError) Error() string {
	// One line per problem, whatever a key or value holds.
	return strings.ReplaceAll(e.render(), "\n", `\n`)
}

func (e *FileError) render() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FileError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadFile, e.Err}
	}
	return []error{ErrBadFile}
}

// ParseFile checks a dynamic-config file in Temporal's own format (each key
// a list of {value, constraints}) against the server's registered settings
// and returns its values. Every problem is reported, each with its line: a
// file with any problem is rejected whole.
func ParseFile(path string, contents []byte) (dc.ConfigValueMap, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(contents, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if line := yamlLine(err); line > 0 {
			msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		}
		return nil, &FileError{Path: path, Line: yamlLine(err), Msg: "is not valid YAML: " + msg}
	}
	out := dc.ConfigValueMap{}
	if len(doc.Content) == 0 {
		return out, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FileError{Path: path, Line: root.Line, Msg: "must be a map of setting keys to lists of {value, constraints}"}
	}
	var errs []error
	seen := map[dc.Key]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		key := kn.Value
		s, ok := Lookup(key)
		if !ok {
			errs = append(errs, &FileError{Path: path, Line: kn.Line, Key: key, Err: ErrUnknownKey,
				Msg: "is not a setting of this server" + hint(key)})
			continue
		}
		k := dc.MakeKey(s.Key)
		if prev, dup := seen[k]; dup {
			errs = append(errs, &FileError{Path: path, Line: kn.Line, Key: key, Msg: fmt.Sprintf("is set twice (also on line %d)", prev)})
			continue
		}
		seen[k] = kn.Line
		if vn.Kind != yaml.SequenceNode {
			errs = append(errs, &FileError{Path: path, Line: vn.Line, Key: key, Err: ErrBadValue,
				Msg: "must be a list of {value, constraints}, e.g. " + s.Key + ": [{value: ...}]"})
			continue
		}
		shapeOK := true
		for _, item := range vn.Content {
			if fe := checkItem(path, s, item); fe != nil {
				errs = append(errs, fe)
				shapeOK = false
			}
		}
		if !shapeOK {
			continue // the server's loader would only repeat the problem
		}
		raw, err := yaml.Marshal(vn)
		if err != nil {
			errs = append(errs, &FileError{Path: path, Line: vn.Line, Key: key, Msg: err.Error()})
			continue
		}
		var lr dc.YamlLoader
		lr.LoadValue(k, raw)
		typeOK := true
		for _, e := range append(lr.Errors, lr.Warnings...) {
			if strings.Contains(e.Error(), "unregistered key") {
				continue // registered by a package this binary does not link; our registry knows it
			}
			typeOK = false
			errs = append(errs, &FileError{Path: path, Line: vn.Line, Key: key, Err: ErrBadValue,
				Msg: fmt.Sprintf("%s (want %s, default %s)", cleanLoaderError(e), article(s.Type), s.Default)})
		}
		if cvs := lr.Map[k]; typeOK && len(cvs) == len(vn.Content) {
			for i, cv := range cvs {
				if msg := checkRange(s, cv.Value); msg != "" {
					errs = append(errs, &FileError{Path: path, Line: vn.Content[i].Line, Key: key, Err: ErrBadValue,
						Msg: describeValue(cv.Value) + " " + msg})
				}
			}
		}
		out[k] = lr.Map[k]
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].(*FileError).Line < errs[j].(*FileError).Line })
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// constraintNames are the constraint keys Temporal's format accepts.
var constraintNames = []string{"namespace", "namespaceId", "taskQueueName", "taskType", "shardId", "destination", "taskQueueType", "chasmTaskType"}

// checkItem checks the shape of one {value, constraints} entry.
func checkItem(path string, s Setting, item *yaml.Node) *FileError {
	if item.Kind != yaml.MappingNode {
		return &FileError{Path: path, Line: item.Line, Key: s.Key, Err: ErrBadValue, Msg: "each entry must be a map with value (and optionally constraints)"}
	}
	hasValue := false
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		switch strings.ToLower(k.Value) {
		case "value":
			hasValue = true
		case "constraints":
			if v.Kind != yaml.MappingNode {
				return &FileError{Path: path, Line: v.Line, Key: s.Key, Err: ErrBadValue, Msg: "constraints must be a map, e.g. {namespace: default}"}
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				name := v.Content[j].Value
				if !containsFold(constraintNames, name) {
					return &FileError{Path: path, Line: v.Content[j].Line, Key: s.Key, Err: ErrBadValue,
						Msg: fmt.Sprintf("%q is not a constraint; use %s", name, strings.Join(constraintNames, ", "))}
				}
			}
		default:
			return &FileError{Path: path, Line: k.Line, Key: s.Key, Err: ErrBadValue,
				Msg: fmt.Sprintf("%q is not a field of an entry; use value and constraints", k.Value)}
		}
	}
	if !hasValue {
		return &FileError{Path: path, Line: item.Line, Key: s.Key, Err: ErrBadValue, Msg: "entry has no value"}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func hint(key string) string {
	if sug := Suggest(key); len(sug) > 0 {
		return "; did you mean " + strings.Join(sug, ", ") + "?"
	}
	return "; list them with `devcluster dynamicconfig keys`"
}

// cleanLoaderError shortens the server loader's wording.
func cleanLoaderError(e error) string {
	msg := e.Error()
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "validation failed") && i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// yamlLine extracts "line N" from a yaml.v3 error.
func yamlLine(err error) int {
	var n int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		_, _ = fmt.Sscanf(msg[i:], "line %d", &n)
	}
	return n
}

// ReadFile reads and parses a dynamic-config file. A missing file is not an
// error: it sets nothing (the file may appear later).
func ReadFile(path string) (dc.ConfigValueMap, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return dc.ConfigValueMap{}, false, nil
	}
	if err != nil {
		return nil, false, &FileError{Path: path, Msg: fmt.Sprintf("cannot be read: %v", oserr.Cause(err))}
	}
	m, err := ParseFile(path, b)
	return m, true, err
}
