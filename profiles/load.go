package profiles

import (
	"fmt"
	"strings"

	"github.com/devcluster/devcluster/internal/suggest"
)

// Setting is one value set by a flag (or any front end) on top of every
// other layer. Path is the key split into its parts; a dynamic-config key
// keeps its dots: {"dynamic-config", "values", "limit.maxIDLength"}.
type Setting struct {
	Path   []string
	Value  any
	Origin string // e.g. "flag --port"
}

// KeyPath splits a dotted schema key into a Path.
func KeyPath(key string) []string { return strings.Split(key, ".") }

// LoadOptions says which layers to compose.
type LoadOptions struct {
	// Profiles in the order given; nil means DefaultProfile.
	Profiles []string
	// ProfilesOrigin says where the list came from ("flag --profile").
	ProfilesOrigin string
	// File is the user config file (YAML, TOML or JSON by extension).
	File string
	// FileOrigin says where the file name came from ("flag --config").
	FileOrigin string
	// Environ is the environment (os.Environ()); only DEVCLUSTER_* entries
	// are read. Variables in Ignore (e.g. DEVCLUSTER_PROFILE, read by the
	// front end itself) are skipped.
	Environ []string
	Ignore  []string
	// Settings are applied last, in order.
	Settings []Setting
	// Adjust, when set, changes the decoded config before validation (for
	// flags that add to lists, such as --namespace) and returns the origin
	// of each key it set.
	Adjust func(*Config) map[string]string
}

// Load composes built-in defaults < profiles < file < environment <
// settings, decodes the result into a Config and validates it. Every problem
// is reported at once as *FieldError values that name the key, the value and
// its origin.
func Load(o LoadOptions) (*Loaded, error) {
	names := o.Profiles
	if len(names) == 0 {
		names = []string{DefaultProfile}
	}
	layers, errs := readLayers(o, names)
	errs = append(errs, checkLayers(layers)...)
	// Problems found so far do not stop here: the layers that could be read
	// are decoded and validated too, so that one run reports every problem.
	// An unknown key is left out by the decoder, a layer that could not be
	// read is missing, and a key with an error is not reported twice.

	k, sources, err := mergeLayers(layers)
	if err != nil {
		return nil, err
	}
	loaded := &Loaded{Profiles: names, Sources: sources}
	if err := decode(k, &loaded.Config); err != nil {
		errs = appendNewKeys(errs, withOrigins(err, loaded))
	}
	loaded.Config.normalize()
	if o.Adjust != nil {
		for key, origin := range o.Adjust(&loaded.Config) {
			sources[key] = origin
		}
	}
	if err := loaded.Config.Validate(); err != nil {
		errs = appendNewKeys(errs, withOrigins(err, loaded))
	}
	if len(errs) > 0 {
		return nil, joinFieldErrors(errs)
	}
	return loaded, nil
}

// readLayers reads the layers, lowest first: defaults, the base profile
// and names, o.File, the environment and o.Settings. A layer that cannot be
// read is left out, and its problems are returned.
func readLayers(o LoadOptions, names []string) ([]layer, []*FieldError) {
	layers := []layer{{data: ToMap(Default()), name: "default"}}

	fromProfiles, errs := profileLayers(names, o.ProfilesOrigin)
	layers = append(layers, fromProfiles...)

	if o.File != "" {
		m, fe := readFile(o.File, o.FileOrigin)
		if fe != nil {
			errs = append(errs, fe)
		} else {
			layers = append(layers, layer{data: m, name: "file " + o.File})
		}
	}

	if env, fes := envLayer(o.Environ, o.Ignore); len(fes) > 0 {
		errs = append(errs, fes...)
	} else if env != nil {
		layers = append(layers, *env)
	}

	if len(o.Settings) > 0 {
		layers = append(layers, settingsLayer(o.Settings))
	}
	return layers, errs
}

// profileLayers reads BaseProfile and then the named built-in profiles;
// origin says where the names came from.
func profileLayers(names []string, origin string) ([]layer, []*FieldError) {
	var layers []layer
	var errs []*FieldError
	for _, name := range append([]string{BaseProfile}, names...) {
		name = strings.TrimSpace(name)
		src, ok := BuiltinSource(name)
		if !ok {
			errs = append(errs, &FieldError{Key: "profile", Value: fmt.Sprintf("%q", name), Origin: origin,
				Msg: "is not a built-in profile; use one of " + strings.Join(Builtin(), ", ") + suggest.Hint(name, Builtin())})
			continue
		}
		m, err := parseYAML(src)
		if err != nil {
			errs = append(errs, &FieldError{Key: "profile", Value: name, Msg: "is corrupt: " + err.Error()})
			continue
		}
		layers = append(layers, layer{data: m, name: "profile " + name})
	}
	return layers, errs
}

// settingsLayer puts the settings into one layer, each key with its own
// origin.
func settingsLayer(settings []Setting) layer {
	l := layer{data: map[string]any{}, origins: map[string]string{}, name: "flags"}
	for _, s := range settings {
		setPath(l.data, s.Path, s.Value)
		l.origins[strings.Join(s.Path, ".")] = s.Origin
	}
	return l
}
