package profiles

import (
	"errors"
	"fmt"

	"github.com/knadh/koanf/v2"
)

// layer is one source's nested map and the origin of each of its keys.
type layer struct {
	data    map[string]any
	origins map[string]string // flattened key -> origin; missing: name
	name    string
}

// dropNil removes keys whose value is null, recursively.
func dropNil(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNil(x)
		}
	}
}

// checkLayers drops the null values of every layer but the defaults and
// returns the keys that are not in the schema, with their origins.
func checkLayers(layers []layer) []*FieldError {
	var errs []*FieldError
	for _, l := range layers[1:] {
		dropNil(l.data) // an empty section ("log:") sets nothing
		for _, fe := range checkKeys(l.data, l.name) {
			if o, ok := l.origins[fe.Key]; ok {
				fe.Origin = o
			}
			errs = append(errs, fe)
		}
	}
	return errs
}

// mergeLayers loads the layers, lowest first, into a fresh koanf instance
// and records which layer set each key last.
func mergeLayers(layers []layer) (*koanf.Koanf, map[string]string, error) {
	k := koanf.New(".")
	sources := map[string]string{}
	for _, l := range layers {
		if err := k.Load(rawMap(l.data), nil); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrConfig, l.name, err)
		}
		recordSources(sources, l)
	}
	return k, sources, nil
}

// rawMap is a koanf provider for an already-parsed nested map.
type rawMap map[string]any

func (r rawMap) ReadBytes() ([]byte, error) { return nil, errors.New("not supported") }
func (r rawMap) Read() (map[string]any, error) {
	return deepCopy(r), nil
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
