package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

// dbCommand manages the PostgreSQL databases of persistence.url without
// starting a cluster: what `start` does to them, one step at a time.
func dbCommand() *cli.Command {
	sub := func(name, usage string, op bootstrap.DatabaseOp) *cli.Command {
		return &cli.Command{
			Name:         name,
			Usage:        usage,
			Flags:        startFlags(),
			Action:       func(c *cli.Context) error { return dbAction(c, name, op) },
			OnUsageError: onUsageError,
		}
	}
	return &cli.Command{
		Name:  "db",
		Usage: "set up, upgrade or inspect the PostgreSQL databases of --db-url (start does both as needed), or accept the loss in a damaged database file",
		Subcommands: []*cli.Command{
			sub("setup", "create missing databases and install the embedded server's schema on empty ones", bootstrap.DatabaseSetup),
			sub("upgrade", "upgrade databases with an older schema to the embedded server's (and set up missing or empty ones, as start does)", bootstrap.DatabaseUpgrade),
			sub("status", "print each database's schema state; exit 0 when both are current, 1 when start would change or refuse one", bootstrap.DatabaseStatus),
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

// dbAction runs op on both databases of persistence.url (refusing before
// any change when one is newer or not a Temporal database) and prints a
// line per database.
func dbAction(c *cli.Context, name string, op bootstrap.DatabaseOp) error {
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
	ctx, cancel := context.WithTimeout(c.Context, cfg.Startup.Timeout)
	defer cancel()
	lines, current, err := bootstrap.ManageDatabases(ctx, cfg, op)
	for _, l := range lines {
		fmt.Fprintln(c.App.Writer, l)
	}
	switch {
	case err != nil:
		return configExit(err, loaded)
	case op == bootstrap.DatabaseStatus && !current:
		return cli.Exit("", exitRuntime)
	}
	return nil
}

// acceptLossAction runs bootstrap.AcceptLoss on persistence.file and
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
		what, err := bootstrap.AcceptLoss(f.path, f.key)
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
