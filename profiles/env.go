package profiles

import (
	"strings"

	"github.com/devcluster/devcluster/internal/suggest"
)

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
