package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/knadh/koanf/maps"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

func configCommand() *cli.Command {
	withLayers := func(extra ...cli.Flag) []cli.Flag { return append(startFlags(), extra...) }
	return &cli.Command{
		Name:  "config",
		Usage: "show, check or export the configuration `start` would use",
		Subcommands: []*cli.Command{
			{
				Name:  "show",
				Usage: "print the effective config (defaults < profiles < --config file < DEVCLUSTER_* < flags)",
				Flags: withLayers(
					&cli.StringFlag{Name: "format", Value: "yaml", Usage: "yaml or json"},
					&cli.BoolFlag{Name: "sources", Usage: "print every key with the layer it came from"},
				),
				Action:       configShowAction,
				OnUsageError: onUsageError,
			},
			{
				Name:         "validate",
				Usage:        "check the config and report every problem at once (exit 2 if any)",
				Flags:        withLayers(),
				Action:       configValidateAction,
				OnUsageError: onUsageError,
			},
			{
				Name:  "export",
				Usage: "print the equivalent Temporal server static config (and dynamic config) for a real cluster",
				Flags: withLayers(
					&cli.StringFlag{Name: "dynamic-config-out", Usage: "also write the dynamic-config YAML to this file"},
				),
				Action:       configExportAction,
				OnUsageError: onUsageError,
			},
		},
	}
}

// staticNote is printed with the effective config.
const staticNote = "static configuration: read once at start; restart devcluster to apply a change"

func configShowAction(c *cli.Context) error {
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	w := c.App.Writer
	shown := loaded.Config.Clone()
	// Database passwords stay out of what is printed.
	if shown.Persistence.URL != "" {
		shown.Persistence.URL = profiles.RedactURL(shown.Persistence.URL)
	}
	if shown.Visibility.URL != "" {
		shown.Visibility.URL = profiles.RedactURL(shown.Visibility.URL)
	}
	tree := profiles.ToMap(shown)
	if c.Bool("sources") {
		flat, _ := maps.Flatten(tree, nil, ".")
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "# profiles: %s; %s\n# key = value  # where it came from\n", strings.Join(loaded.Profiles, ", "), staticNote)
		for _, k := range keys {
			list, isList := flat[k].([]any)
			// Values under dynamic-config and temporal are the server's,
			// shown whole.
			opaque := strings.HasPrefix(k, "dynamic-config.") || strings.HasPrefix(k, "temporal.")
			if !isList || len(list) == 0 || opaque {
				v, _ := json.Marshal(flat[k])
				fmt.Fprintf(w, "%s = %s  # %s\n", k, v, loaded.Origin(k))
				continue
			}
			// A list entry by entry: entries may come from different
			// layers (a --namespace flag adds to the file's namespaces).
			for i, e := range list {
				ek := fmt.Sprintf("%s[%d]", k, i)
				v, _ := json.Marshal(e)
				fmt.Fprintf(w, "%s = %s  # %s\n", ek, v, loaded.Origin(ek))
			}
		}
		return nil
	}
	switch f := c.String("format"); f {
	case "yaml":
		fmt.Fprintf(w, "# devcluster config; profiles: %s\n# %s\n", strings.Join(loaded.Profiles, ", "), staticNote)
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(tree); err != nil {
			return err
		}
		return enc.Close()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	default:
		return cli.Exit(fmt.Sprintf("flag --format: %q is not a format; use yaml or json", f), exitUsage)
	}
}

func configValidateAction(c *cli.Context) error {
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	if _, err := dynamicconfig.Parse(loaded.Config.DynamicConfig.Values); err != nil {
		return configExit(err, loaded)
	}
	if _, _, err := bootstrap.Export(loaded.Config, ""); err != nil {
		return configExit(err, loaded)
	}
	fmt.Fprintf(c.App.Writer, "config is valid (profiles: %s)\n", strings.Join(loaded.Profiles, ", "))
	return nil
}

func configExportAction(c *cli.Context) error {
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	out := c.String("dynamic-config-out")
	static, dynamic, err := bootstrap.Export(loaded.Config, out)
	if err != nil {
		return configExit(err, loaded)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "# Temporal server %s static config, exported by devcluster (profiles: %s).\n", bootstrap.ServerVersion, strings.Join(loaded.Profiles, ", "))
	fmt.Fprintf(w, "# Ports devcluster picks at start have Temporal's conventional numbers here.\n")
	if cfg := loaded.Config; cfg.Ringpop() {
		var svc []string
		for _, r := range cfg.Roles() {
			svc = append(svc, "--service "+r)
		}
		fmt.Fprintf(w, "# One node of a cluster spread over processes, running %s; its roles find the others through ringpop\n", strings.Join(cfg.Roles(), ", "))
		fmt.Fprintf(w, "# on the membership ports, seeded from the shared database: temporal-server --config-file FILE start %s\n", strings.Join(svc, " "))
	}
	if loaded.Config.Persistence.Postgres() {
		fmt.Fprintf(w, "# The PostgreSQL databases must hold the server's schema: devcluster db setup --db-url ... installs it.\n")
	}
	if out == "" {
		fmt.Fprintf(w, "# dynamicConfigClient reads %s: write it with --dynamic-config-out %s.\n", bootstrap.ExportDynamicConfigFile, bootstrap.ExportDynamicConfigFile)
	}
	if _, err := w.Write(static); err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, dynamic, 0o644); err != nil {
			return cli.Exit(fmt.Sprintf("flag --dynamic-config-out: %s cannot be written: %v", out, oserr.Cause(err)), exitUsage)
		}
	} else if len(dynamic) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "# dynamic config (Temporal's file format; --dynamic-config-out FILE writes it):\n%s", dynamic)
	}
	return nil
}
