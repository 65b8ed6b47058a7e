package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/dbschema"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// dbCommand manages the PostgreSQL databases of persistence.url without
// starting a cluster: what `start` does to them, one step at a time.
func dbCommand() *cli.Command {
	sub := func(name, usage string, action func(context.Context, dbschema.Database) (dbschema.Status, error)) *cli.Command {
		return &cli.Command{
			Name:         name,
			Usage:        usage,
			Flags:        startFlags(),
			Action:       func(c *cli.Context) error { return dbAction(c, name, action) },
			OnUsageError: onUsageError,
		}
	}
	return &cli.Command{
		Name:  "db",
		Usage: "set up, upgrade or inspect the PostgreSQL databases of --db-url (start does both as needed), or accept the loss in a damaged database file",
		Subcommands: []*cli.Command{
			sub("setup", "create missing databases and install the embedded server's schema on empty ones", dbschema.Setup),
			sub("upgrade", "upgrade databases with an older schema to the embedded server's (and set up missing or empty ones, as start does)", dbschema.Prepare),
			sub("status", "print each database's schema state; exit 0 when both are current, 1 when start would change or refuse one", nil),
			{
				Name:         "accept-loss",
				Usage:        "make a database file that start refuses for a damaged or missing -wal usable again: keep what comes before the damage (the log is kept as PATH-wal.damaged) and say what is dropped; run it only while devcluster is stopped",
				Flags:        startFlags(),
				Action:       acceptLossAction,
				OnUsageError: onUsageError,
			},
		},
	}
}

// dbAction inspects both databases (refusing before any change when one
// is newer or not a Temporal database), then runs action on each.
func dbAction(c *cli.Context, name string, action func(context.Context, dbschema.Database) (dbschema.Status, error)) error {
	if c.Args().Len() > 0 {
		return cli.Exit(fmt.Sprintf("db %s takes no arguments, got %q; flags start with --", name, c.Args().First()), exitUsage)
	}
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	cfg := loaded.Config
	if !cfg.Persistence.Postgres() {
		return configExit(&profiles.FieldError{Key: "persistence.url", Msg: fmt.Sprintf(
			"is not set; db %s manages PostgreSQL databases: pass --%s postgres://USER[:PASSWORD]@HOST[:PORT]/DB", name, flagDBURL)}, loaded)
	}
	if err := cfg.Validate(); err != nil {
		return configExit(err, loaded)
	}
	main, vis, err := dbschema.Databases(cfg)
	if err != nil {
		return configExit(err, loaded)
	}
	ctx, cancel := context.WithTimeout(c.Context, cfg.Startup.Timeout)
	defer cancel()
	dbs := []dbschema.Database{main, vis}
	states := make([]dbschema.Status, len(dbs))
	for i, d := range dbs {
		if states[i], err = dbschema.Inspect(ctx, d); err != nil {
			return configExit(err, loaded)
		}
	}
	w := c.App.Writer
	if action == nil {
		current := true
		for _, st := range states {
			fmt.Fprintln(w, st)
			current = current && st.State == dbschema.Current
		}
		if !current {
			return cli.Exit("", exitRuntime)
		}
		return nil
	}
	setup, upgrade := true, name == "upgrade"
	for i, d := range dbs {
		if err := dbschema.Check(d, states[i], setup, upgrade); err != nil {
			return configExit(err, loaded)
		}
	}
	for i, d := range dbs {
		if err := dbschema.Preflight(ctx, d, states[i]); err != nil {
			return configExit(err, loaded)
		}
	}
	for _, d := range dbs {
		before, err := action(ctx, d)
		if err != nil {
			return configExit(err, loaded)
		}
		fmt.Fprintln(w, dbDone(before))
	}
	return nil
}

// dbDone says what was done to a database that was in state before.
func dbDone(before dbschema.Status) string {
	switch before.State {
	case dbschema.Missing:
		return fmt.Sprintf("%s (%s): created, schema %s installed", before.Database, before.Kind, before.Want)
	case dbschema.Empty, dbschema.Interrupted:
		return fmt.Sprintf("%s (%s): schema %s installed", before.Database, before.Kind, before.Want)
	case dbschema.Older:
		return fmt.Sprintf("%s (%s): schema upgraded from %s to %s", before.Database, before.Kind, before.Version, before.Want)
	}
	return fmt.Sprintf("%s (%s): schema %s, current; nothing to do", before.Database, before.Kind, before.Version)
}

// acceptLossAction runs services.AcceptLoss on persistence.file and
// visibility.file, and prints what it did to each.
func acceptLossAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return cli.Exit(fmt.Sprintf("db accept-loss takes no arguments, got %q; flags start with --", c.Args().First()), exitUsage)
	}
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	cfg := loaded.Config
	if cfg.Persistence.File == "" {
		return configExit(&profiles.FieldError{Key: "persistence.file", Msg: fmt.Sprintf(
			"is not set; db accept-loss works on a database file: pass --%s PATH", flagDBFile)}, loaded)
	}
	files := []struct{ key, path string }{{"persistence.file", cfg.Persistence.File}}
	if cfg.Visibility.File != "" {
		files = append(files, struct{ key, path string }{"visibility.file", cfg.Visibility.File})
	}
	for _, f := range files {
		what, err := services.AcceptLoss(f.path, f.key)
		if err != nil {
			if len(profiles.FieldErrors(err)) > 0 {
				return configExit(err, loaded)
			}
			return cli.Exit(err.Error(), exitRuntime)
		}
		fmt.Fprintln(c.App.Writer, what)
	}
	return nil
}
