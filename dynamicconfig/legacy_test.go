package dynamicconfig

import (
	"errors"
	"strings"
	"testing"
)

// TestLegacyTable pins the table to the pinned server: an old key the
// server registers again, or a new key it does not, fails here.
func TestLegacyTable(t *testing.T) {
	t.Parallel()
	for _, l := range LegacyKeys() {
		if _, ok := Lookup(l.Key); ok {
			t.Errorf("%s: the server registers it; drop the row", l.Key)
		}
		if l.NewKey != "" {
			if _, ok := Lookup(l.NewKey); !ok {
				t.Errorf("%s: its new key %s is not a setting of the server", l.Key, l.NewKey)
			}
		}
		if l.What == "" {
			t.Errorf("%s: say what the server did to it", l.Key)
		}
	}
}

func TestUpgradeLegacy(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"system.enableNexus":                   true,
		"component.callbacks.allowedAddresses": []any{map[string]any{"Pattern": "*", "AllowInsecure": true}},
		"FRONTEND.TimeSkippingEnabled":         true,
		"frontend.WorkflowTimeSkippingEnabled": false, // given under the new name too: wins
		"limit.maxIDLength":                    300,
		"no.such.key":                          1,
	}
	out, warnings := UpgradeLegacy(in)
	if _, ok := out["system.enableNexus"]; ok {
		t.Error("a removed key was kept")
	}
	if _, ok := out["callback.allowedAddresses"]; !ok {
		t.Error("a renamed key was not applied under its new name")
	}
	if out["frontend.WorkflowTimeSkippingEnabled"] != false {
		t.Errorf("the new key's own value lost: %v", out["frontend.WorkflowTimeSkippingEnabled"])
	}
	if out["limit.maxIDLength"] != 300 || out["no.such.key"] != 1 {
		t.Errorf("other keys changed: %v", out)
	}
	if len(in) != 6 {
		t.Error("the input was changed")
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{
		"system.enableNexus is no longer a setting (removed: Nexus is always on); ignored",
		"component.callbacks.allowedAddresses is now callback.allowedAddresses",
		"applied as callback.allowedAddresses",
		"ignored, as frontend.WorkflowTimeSkippingEnabled is given too",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings, want one per legacy key:\n%s", len(warnings), joined)
	}
}

// TestParseValueNamesLegacyKeys: devcluster start still refuses an old key,
// and says what it became.
func TestParseValueNamesLegacyKeys(t *testing.T) {
	t.Parallel()
	_, err := ParseValue("system.enableNexus", true)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "Nexus is always on") || !strings.Contains(err.Error(), "drop it") {
		t.Errorf("ParseValue(system.enableNexus) = %v", err)
	}
	_, err = ParseValue("frontend.TimeSkippingEnabled", true)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "use frontend.WorkflowTimeSkippingEnabled") {
		t.Errorf("ParseValue(frontend.TimeSkippingEnabled) = %v", err)
	}
}
