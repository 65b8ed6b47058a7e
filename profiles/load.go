package profiles

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/v2"
	toml "github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"

	"github.com/devcluster/devcluster/internal/suggest"
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

// Loaded is the composed configuration and where each key came from.
type Loaded struct {
	Config   Config
	Profiles []string
	// Sources maps each flattened key (e.g. "services.frontend.grpc-port",
	// "dynamic-config.values.limit.maxIDLength", "namespaces") to the layer
	// that set it last: "default", "profile ci", "file x.yaml",
	// "env DEVCLUSTER_…" or "flag --…".
	Sources map[string]string
}

// Origin returns where key (or the nearest enclosing key that was set) came
// from; "namespaces[1].name" is answered by "namespaces".
func (l *Loaded) Origin(key string) string {
	key = mapIndex.ReplaceAllString(key, ".$1") // persistence.pragmas[journal_mode]
	for k := key; k != ""; {
		if o, ok := l.Sources[k]; ok {
			return o
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

// mapIndex matches a map entry in a decoder's key: "[journal_mode]".
var mapIndex = regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`)

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

// ErrConfig marks every error of Load, so front ends exit with the usage code.
var ErrConfig = errors.New("configuration error")

// layer is one source's nested map and the origin of each of its keys.
type layer struct {
	data    map[string]any
	origins map[string]string // flattened key -> origin; missing: name
	name    string
}

// Load composes built-in defaults < profiles < file < environment <
// settings, decodes the result into a Config and validates it. Every problem
// is reported at once as *FieldError values that name the key, the value and
// its origin.
func Load(o LoadOptions) (*Loaded, error) {
	var errs []*FieldError
	var layers []layer

	layers = append(layers, layer{data: ToMap(Default()), name: "default"})

	names := o.Profiles
	if len(names) == 0 {
		names = []string{DefaultProfile}
	}
	for _, name := range append([]string{BaseProfile}, names...) {
		name = strings.TrimSpace(name)
		src, ok := BuiltinSource(name)
		if !ok {
			errs = append(errs, &FieldError{Key: "profile", Value: fmt.Sprintf("%q", name), Origin: o.ProfilesOrigin,
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
		l := layer{data: map[string]any{}, origins: map[string]string{}, name: "flags"}
		for _, s := range o.Settings {
			setPath(l.data, s.Path, s.Value)
			l.origins[strings.Join(s.Path, ".")] = s.Origin
		}
		layers = append(layers, l)
	}

	for _, l := range layers[1:] {
		dropNil(l.data) // an empty section ("log:") sets nothing
		for _, fe := range checkKeys(l.data, l.name) {
			if o, ok := l.origins[fe.Key]; ok {
				fe.Origin = o
			}
			errs = append(errs, fe)
		}
	}
	// Problems found so far do not stop here: the layers that could be read
	// are decoded and validated too, so that one run reports every problem.
	// An unknown key is left out by the decoder, a layer that could not be
	// read is missing, and a key with an error is not reported twice.

	k := koanf.New(".")
	sources := map[string]string{}
	for _, l := range layers {
		if err := k.Load(rawMap(l.data), nil); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrConfig, l.name, err)
		}
		flat, _ := maps.Flatten(l.data, nil, ".")
		for key := range flat {
			origin := l.name
			if o, ok := l.origins[key]; ok {
				origin = o
			}
			sources[key] = origin
			// A value set under a key a lower layer set as a whole (a map
			// under "temporal", a map where a scalar was) makes the
			// enclosing key this layer's too.
			for p := key; ; {
				i := strings.LastIndexByte(p, '.')
				if i < 0 {
					break
				}
				p = p[:i]
				if _, ok := sources[p]; ok {
					sources[p] = origin
				}
			}
		}
		// A layer that sets a whole list or map replaces what was below.
		for key, v := range l.data {
			if _, isList := v.([]any); isList {
				sources[key] = l.name
			}
		}
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

// appendNewKeys appends the FieldErrors of err whose keys errs does not
// name yet, itself or through an enclosing key: a value the decoder refused
// is zero afterwards (a section given a scalar is empty), and validation
// would refuse it again.
func appendNewKeys(errs []*FieldError, err error) []*FieldError {
	fes := FieldErrors(err)
	if len(fes) == 0 {
		return append(errs, &FieldError{Key: "config", Msg: err.Error()})
	}
	known := make([]string, 0, len(errs))
	for _, fe := range errs {
		known = append(known, fe.Key)
	}
	covered := func(key string) bool {
		for _, k := range known {
			if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
				return true
			}
		}
		return false
	}
	for _, fe := range fes {
		if !covered(fe.Key) {
			errs = append(errs, fe)
		}
	}
	return errs
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

// decode turns the merged map into a Config; type errors become
// FieldErrors keyed like the schema ("namespaces[0].retention").
func decode(k *koanf.Koanf, out *Config) error {
	err := k.UnmarshalWithConf("", out, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:       mapstructure.ComposeDecodeHookFunc(durationHook, wholeNumberHook),
			WeaklyTypedInput: true,
			Result:           out,
			TagName:          "koanf",
		},
	})
	if err == nil {
		return nil
	}
	var fes []*FieldError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *mapstructure.DecodeError:
			fes = append(fes, &FieldError{Key: x.Name(), Msg: typeMessage(x.Unwrap())})
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		default:
			fes = append(fes, &FieldError{Key: "config", Msg: e.Error()})
		}
	}
	walk(err)
	return joinFieldErrors(fes)
}

// durationHook accepts durations written as strings ("30s", "24h").
func durationHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		if _, isDuration := data.(time.Duration); isDuration {
			return data, nil // set by a flag
		}
		return nil, fmt.Errorf("%v has no unit; write e.g. 30s, 5m or 24h", data)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration; write e.g. 30s, 5m or 24h", s)
	}
	return d, nil
}

// wholeNumberHook refuses a fractional number for an integer key (ports,
// shards): the weakly typed decoder would silently truncate 7300.9 to 7300.
func wholeNumberHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to.Kind() < reflect.Int || to.Kind() > reflect.Uint64 || to == durationType {
		return data, nil
	}
	if f, ok := data.(float64); ok && f != math.Trunc(f) {
		return nil, fmt.Errorf("%v is not a whole number", f)
	}
	return data, nil
}

// typeMessage rewrites mapstructure's wording into what a user should write.
func typeMessage(err error) string {
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("%s is not %s", describeValue(pe.Value), want(pe.Expected.Type()))
	case errors.As(err, &ue):
		return fmt.Sprintf("%s is not %s", describeValue(ue.Value), want(ue.Expected.Type()))
	}
	return err.Error()
}

func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration; write e.g. 30s, 5m or 24h"
	case t.Kind() == reflect.Bool:
		return "a boolean; write true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a map of keys"
	}
	return "a " + t.String()
}

// withOrigins fills in the origin of each FieldError from the sources.
func withOrigins(err error, l *Loaded) error {
	fes := FieldErrors(err)
	if len(fes) == 0 {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for _, fe := range fes {
		if fe.Origin == "" {
			fe.Origin = l.Origin(fe.Key)
		}
	}
	return joinFieldErrors(fes)
}

// configErrors is a joined list of FieldErrors that is also ErrConfig.
type configErrors struct{ errs []error }

func (c *configErrors) Error() string {
	lines := make([]string, len(c.errs))
	for i, e := range c.errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
func (c *configErrors) Unwrap() []error { return append(append([]error(nil), c.errs...), ErrConfig) }

func joinFieldErrors(fes []*FieldError) error {
	sort.SliceStable(fes, func(i, j int) bool {
		if fes[i].Key != fes[j].Key {
			return fes[i].Key < fes[j].Key
		}
		return fmt.Sprint(fes[i].Value) < fmt.Sprint(fes[j].Value)
	})
	out := &configErrors{}
	for _, fe := range fes {
		out.errs = append(out.errs, fe)
	}
	return out
}

// readFile parses a user config file by its extension.
func readFile(path, origin string) (map[string]any, *FieldError) {
	fe := func(msg string) *FieldError {
		return &FieldError{Key: "config file", Value: path, Msg: msg, Origin: origin}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fe(fmt.Sprintf("cannot be read: %v; check the path", err))
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

// envLayer reads DEVCLUSTER_* variables; unknown ones are errors.
func envLayer(environ, ignore []string) (*layer, []*FieldError) {
	known := envKeys()
	var names []string
	for n := range known {
		names = append(names, n)
	}
	names = append(names, ignore...)
	l := &layer{data: map[string]any{}, origins: map[string]string{}, name: "environment"}
	var errs []*FieldError
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || contains(ignore, name) {
			continue
		}
		path, ok := known[name]
		if !ok {
			errs = append(errs, &FieldError{Key: name, Origin: "environment",
				Msg: "is not a devcluster variable" + envHint(name, names)})
			continue
		}
		setPath(l.data, path, value)
		l.origins[strings.Join(path, ".")] = "env " + name
	}
	if len(l.data) == 0 {
		return nil, errs
	}
	return l, errs
}

func envHint(name string, names []string) string {
	if h := suggest.Hint(name, names); h != "" {
		return h + " (unset it, or see `devcluster config show --sources`)"
	}
	return "; unset it (variables are DEVCLUSTER_ plus a key in capitals, e.g. DEVCLUSTER_LOG_LEVEL)"
}

// Normalized returns a copy of c with what Load fills in filled in (see
// normalize): bootstrap.Start normalizes every config it is given, so a
// Go caller's config needs no "default" namespace or resolved paths.
// Normalizing a normalized config changes nothing.
func (c Config) Normalized() Config {
	out := c.Clone()
	out.normalize()
	return out
}

// normalize fills what layering cannot express: the namespace "default"
// always exists and comes first, a namespace without retention gets 24h,
// and relative paths are resolved under data-dir.
func (c *Config) normalize() {
	hasDefault := false
	for i := range c.Namespaces {
		if c.Namespaces[i].Retention == 0 {
			c.Namespaces[i].Retention = DefaultRetention
		}
		if c.Namespaces[i].Name == DefaultNamespace {
			hasDefault = true
			if i != 0 {
				def := c.Namespaces[i]
				rest := append(append([]Namespace(nil), c.Namespaces[:i]...), c.Namespaces[i+1:]...)
				c.Namespaces = append([]Namespace{def}, rest...)
			}
		}
	}
	if !hasDefault {
		c.Namespaces = append([]Namespace{{Name: DefaultNamespace, Retention: DefaultRetention}}, c.Namespaces...)
	}
	c.Persistence.File = c.underDataDir(c.Persistence.File)
	c.Visibility.File = c.underDataDir(c.Visibility.File)
	c.Archival.History.Dir = c.underDataDir(c.Archival.History.Dir)
	c.Archival.Visibility.Dir = c.underDataDir(c.Archival.Visibility.Dir)
}

// underDataDir puts a relative path under data-dir, unless it is already
// there (normalize may run on a config it normalized before): "data/x.db"
// and "./data/x.db" under data-dir "data" both stay data/x.db.
func (c *Config) underDataDir(p string) string {
	if p == "" || c.DataDir == "" || filepath.IsAbs(p) {
		return p
	}
	if clean := filepath.Clean(p); strings.HasPrefix(clean, filepath.Clean(c.DataDir)+string(filepath.Separator)) {
		return clean
	}
	return filepath.Join(c.DataDir, p)
}

// DefaultRetention is the retention of a namespace that names none.
const DefaultRetention = 24 * time.Hour
