package profiles

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/knadh/koanf/maps"
)

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

// recordSources marks every key l sets as l's in sources.
func recordSources(sources map[string]string, l layer) {
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
