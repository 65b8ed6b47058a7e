package dynamicconfig

import (
	"fmt"
	"sort"
	"strings"
)

// Legacy is a dynamic-config key that documentation, samples and SDK test
// harnesses still pass but the pinned server no longer registers: renamed
// (NewKey set) or removed because its feature is now always on.
type Legacy struct {
	// Key is the old key, as people write it.
	Key string
	// NewKey is the server's current name for the setting; "" when the
	// setting was removed.
	NewKey string
	// What says what the server did to it.
	What string
}

// legacyKeys is the one table of such keys. Each row was checked against
// the pinned server's source (the settings it registers, settings.json)
// and against what public SDK test suites pass to `temporal server
// start-dev`.
var legacyKeys = []Legacy{
	{Key: "frontend.TimeSkippingEnabled", NewKey: "frontend.WorkflowTimeSkippingEnabled",
		What: "renamed when time skipping became a workflow API"},
	{Key: "component.callbacks.allowedAddresses", NewKey: "callback.allowedAddresses",
		What: "renamed when callbacks moved to the server's CHASM library (chasm/lib/callback); the value has the same shape"},
	{Key: "system.enableNexus",
		What: "removed: Nexus is always on"},
	{Key: "frontend.enableExecuteMultiOperation",
		What: "removed: ExecuteMultiOperation (update-with-start) is always on"},
}

// LegacyKeys returns the table of renamed and removed keys.
func LegacyKeys() []Legacy { return append([]Legacy(nil), legacyKeys...) }

// LookupLegacy returns the row for key (case-insensitive, as the server
// matches keys), if the table has one.
func LookupLegacy(key string) (Legacy, bool) {
	for _, l := range legacyKeys {
		if strings.EqualFold(l.Key, key) {
			return l, true
		}
	}
	return Legacy{}, false
}

// String says what became of the key, for a warning or an error.
func (l Legacy) String() string {
	if l.NewKey != "" {
		return fmt.Sprintf("%s is now %s (%s)", l.Key, l.NewKey, l.What)
	}
	return fmt.Sprintf("%s is no longer a setting (%s)", l.Key, l.What)
}

// UpgradeLegacy rewrites values that use legacy keys the way
// `devcluster server start-dev` accepts them: a renamed key becomes its new
// name (a value given under the new name too wins), a removed one is
// dropped. It returns the rewritten values and one warning per legacy key.
// values is not changed.
func UpgradeLegacy(values map[string]any) (map[string]any, []string) {
	out := make(map[string]any, len(values))
	var warnings []string
	for k, v := range values {
		if _, known := Lookup(k); known {
			out[k] = v
		}
	}
	for k, v := range values {
		if _, known := Lookup(k); known {
			continue
		}
		l, ok := LookupLegacy(k)
		if !ok {
			out[k] = v // unknown: validation names it
			continue
		}
		if l.NewKey == "" {
			warnings = append(warnings, fmt.Sprintf("dynamic config %s; ignored", l))
			continue
		}
		if hasKey(out, l.NewKey) {
			warnings = append(warnings, fmt.Sprintf("dynamic config %s; ignored, as %s is given too", l, l.NewKey))
			continue
		}
		out[l.NewKey] = v
		warnings = append(warnings, fmt.Sprintf("dynamic config %s; applied as %s", l, l.NewKey))
	}
	sort.Strings(warnings)
	return out, warnings
}

func hasKey(m map[string]any, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
