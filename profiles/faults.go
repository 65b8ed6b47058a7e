package profiles

// Faults configures failures injected on purpose (see package faults).
type Faults struct {
	// File holds fault rules (YAML: an optional seed and rules), applied
	// to the running cluster and reloaded on every save; a bad edit keeps
	// the last good rules.
	File string `koanf:"file" json:"file"`
	// Seed starts the rules' draws (0: one from the clock, printed in the
	// banner); the file's own seed takes over.
	Seed int64 `koanf:"seed" json:"seed"`
	// Rules are rules in force for the cluster's whole run, in the file's
	// form (checked at start).
	Rules []map[string]any `koanf:"rules" json:"rules"`
	// Persistence puts the server's persistence fault injection in place
	// even without File or Rules, for rules added while the cluster runs
	// (testutil.WithFaults); it is on with File or Rules. Off, the store
	// calls skip that layer and persistence rules are refused.
	Persistence bool `koanf:"persistence" json:"persistence"`
}

// PersistenceFaults reports whether the server's data stores obey fault
// rules (see Faults.Persistence).
func (f Faults) PersistenceFaults() bool { return f.Persistence || f.File != "" || len(f.Rules) > 0 }
