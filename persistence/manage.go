package persistence

import (
	"context"
	"fmt"

	"github.com/devcluster/devcluster/profiles"
)

// Op is what `devcluster db` does to the databases of a config.
type Op int

const (
	// OpStatus inspects and changes nothing.
	OpStatus Op = iota
	// OpSetup creates missing databases and installs the schema on empty
	// ones.
	OpSetup
	// OpUpgrade is OpSetup, and upgrades an older schema too (as start
	// does).
	OpUpgrade
)

// Manage inspects both databases of cfg, then (unless OpStatus) checks
// both before changing either (refusing, as FieldErrors, one that is newer
// or not a Temporal database), and sets them up or upgrades them. It
// returns a line per database: its state, or what was done to it; current
// reports whether both were current before.
func Manage(ctx context.Context, cfg profiles.Config, op Op) (lines []string, current bool, err error) {
	main, vis, err := Databases(cfg)
	if err != nil {
		return nil, false, err
	}
	dbs := []Database{main, vis}
	states := make([]Status, len(dbs))
	current = true
	for i, d := range dbs {
		if states[i], err = Inspect(ctx, d); err != nil {
			return nil, false, err
		}
		current = current && states[i].State == Current
	}
	if op == OpStatus {
		for _, st := range states {
			lines = append(lines, st.String())
		}
		return lines, current, nil
	}
	for i, d := range dbs {
		if err := Check(d, states[i], true, op == OpUpgrade); err != nil {
			return nil, current, err
		}
	}
	for i, d := range dbs {
		if err := Preflight(ctx, d, states[i]); err != nil {
			return nil, current, err
		}
	}
	action := Setup
	if op == OpUpgrade {
		action = Prepare
	}
	for _, d := range dbs {
		before, err := action(ctx, d)
		if err != nil {
			return lines, current, err
		}
		lines = append(lines, done(before))
	}
	return lines, current, nil
}

// done says what was done to a database that was in state before.
func done(before Status) string {
	switch before.State {
	case Missing:
		return fmt.Sprintf("%s (%s): created, schema %s installed", before.Database, before.Kind, before.Want)
	case Empty, Interrupted:
		return fmt.Sprintf("%s (%s): schema %s installed", before.Database, before.Kind, before.Want)
	case Older:
		return fmt.Sprintf("%s (%s): schema upgraded from %s to %s", before.Database, before.Kind, before.Version, before.Want)
	}
	return fmt.Sprintf("%s (%s): schema %s, current; nothing to do", before.Database, before.Kind, before.Version)
}
