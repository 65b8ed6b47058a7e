package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/knadh/koanf/maps"
	toml "github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// readFile parses a user config file by its extension.
func readFile(path, origin string) (map[string]any, *FieldError) {
	fe := func(msg string) *FieldError {
		return &FieldError{Key: "config file", Value: path, Msg: msg, Origin: origin}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fe(fmt.Sprintf("cannot be read: %v; check the path", oserr.Cause(err)))
	}
	var m map[string]any
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		m, err = parseYAML(b)
	case ".toml":
		m, err = parseTOML(b)
	case ".json":
		m, err = parseJSON(b)
	default:
		return nil, fe(fmt.Sprintf("has extension %q; use .yaml, .yml, .toml or .json", ext))
	}
	if err != nil {
		return nil, fe("is malformed: " + err.Error())
	}
	return m, nil
}

func parseYAML(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return stringKeys(m), nil
}

func parseTOML(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("line %d column %d: %v", row, col, de)
		}
		return nil, err
	}
	return m, nil
}

func parseJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(off, int64(len(b)))], []byte("\n")) }
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("line %d: %v", lineAt(se.Offset), se)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("line %d: unexpected end of file; a } or ] is missing", lineAt(int64(len(b))))
		}
		return nil, err
	}
	// One object per file: anything after it but space is a mistake.
	rest := b[dec.InputOffset():]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		return nil, fmt.Errorf("line %d: text after the closing }", lineAt(int64(len(b)-len(trimmed))))
	}
	return m, nil
}

// stringKeys converts map[any]any that YAML may produce for odd keys.
func stringKeys(m map[string]any) map[string]any {
	maps.IntfaceKeysToStrings(m)
	return m
}
