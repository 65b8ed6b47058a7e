package profiles

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/oserr"
)

// A node file hands one process of a multi-process cluster its config: a
// Config its supervisor has already composed and validated (see package
// nodes), with every key and where each came from. The process reads it as
// its only layer, so it neither composes the layers again (its environment
// and the built-in profiles are not read) nor loses the origins its errors
// name ("from flag --dynamic-config-value").
type nodeFile struct {
	Profiles []string          `yaml:"profiles"`
	Sources  map[string]string `yaml:"sources"`
	Config   map[string]any    `yaml:"config"`
}

// WriteNodeFile writes cfg, with the profiles and origins of loaded (which
// may be nil), to path, whole or not at all, readable by its owner only: it
// may hold a database password.
func WriteNodeFile(path string, cfg Config, loaded *Loaded) error {
	f := nodeFile{Config: ToMap(cfg)}
	if loaded != nil {
		f.Profiles, f.Sources = loaded.Profiles, loaded.Sources
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("node file %s: %w", path, err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("node file %s cannot be written: %v", path, oserr.Cause(err))
	}
	return nil
}

// LoadNodeFile reads a file WriteNodeFile wrote, and decodes, normalizes
// and validates its config as Load does.
func LoadNodeFile(path string) (*Loaded, error) {
	origin := "node file " + path
	bad := func(msg string) error {
		return joinFieldErrors([]*FieldError{{Key: "config file", Value: path, Origin: origin, Msg: msg}})
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, bad(fmt.Sprintf("cannot be read: %v", oserr.Cause(err)))
	}
	var f nodeFile
	if err := yaml.Unmarshal(b, &f); err != nil || f.Config == nil {
		return nil, bad(fmt.Sprintf("is not a node file (profiles, sources, config): %v", err))
	}
	l := layer{data: stringKeys(f.Config), name: origin}
	errs := checkLayers([]layer{l})
	k, sources, err := mergeLayers([]layer{l})
	if err != nil {
		return nil, err
	}
	for key, o := range f.Sources {
		sources[key] = o
	}
	loaded := &Loaded{Profiles: f.Profiles, Sources: sources}
	if err := decode(k, &loaded.Config); err != nil {
		errs = appendNewKeys(errs, withOrigins(err, loaded))
	}
	loaded.Config.normalize()
	if err := loaded.Config.Validate(); err != nil {
		errs = appendNewKeys(errs, withOrigins(err, loaded))
	}
	if len(errs) > 0 {
		return nil, joinFieldErrors(errs)
	}
	return loaded, nil
}
