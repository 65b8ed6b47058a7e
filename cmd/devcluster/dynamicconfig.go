package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/dynamicconfig"
	"github.com/devcluster/devcluster/profiles"
)

func dynamicConfigCommand() *cli.Command {
	return &cli.Command{
		Name:    "dynamicconfig",
		Aliases: []string{"dc"},
		Usage:   "inspect the dynamic-config settings of the embedded server",
		Subcommands: []*cli.Command{
			{
				Name:         "show",
				Usage:        "print every dynamic-config value a cluster started with these flags serves, with its constraints and source",
				Flags:        startFlags(),
				Action:       dynamicConfigShowAction,
				OnUsageError: onUsageError,
			},
			{
				Name:         "validate",
				Usage:        "check a dynamic-config file (Temporal's format) against the server's settings; exit 2 if it has problems",
				ArgsUsage:    "FILE",
				Action:       dynamicConfigValidateAction,
				OnUsageError: onUsageError,
			},
			{
				Name:         "keys",
				Usage:        "list the settings the server registers (optionally those containing TEXT)",
				ArgsUsage:    "[TEXT]",
				Flags:        []cli.Flag{&cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "also print each setting's description"}},
				Action:       dynamicConfigKeysAction,
				OnUsageError: onUsageError,
			},
		},
	}
}

func dynamicConfigKeysAction(c *cli.Context) error {
	filter := strings.ToLower(c.Args().First())
	var matches []dynamicconfig.Setting
	for _, s := range dynamicconfig.Settings() {
		if strings.Contains(strings.ToLower(s.Key), filter) {
			matches = append(matches, s)
		}
	}
	if len(matches) == 0 {
		msg := fmt.Sprintf("no setting contains %q", filter)
		if sug := dynamicconfig.Suggest(filter); len(sug) > 0 {
			msg += "; did you mean " + strings.Join(sug, ", ") + "?"
		}
		return cli.Exit(msg, exitUsage)
	}
	if c.Bool("long") {
		for _, s := range matches {
			fmt.Fprintf(c.App.Writer, "%s (%s, scope %s, default %s)\n", s.Key, s.Type, s.Precedence, oneLine(s.Default, 60))
			if s.Description != "" {
				fmt.Fprintf(c.App.Writer, "    %s\n", oneLine(s.Description, 400))
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tSCOPE\tDEFAULT")
	for _, s := range matches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Type, s.Precedence, oneLine(s.Default, 40))
	}
	return tw.Flush()
}

// oneLine collapses whitespace and cuts s to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func dynamicConfigShowAction(c *cli.Context) error {
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	rows, missing, fileErr, err := bootstrap.ServedDynamicConfig(loaded)
	if err != nil {
		return configExit(err, loaded)
	}
	w := c.App.Writer
	if missing {
		fmt.Fprintf(w, "# %s does not exist yet; a running cluster applies it when it appears\n", loaded.Config.DynamicConfig.File)
	}
	fmt.Fprintf(w, "# precedence: server default < profiles and --config < --dynamic-config-value < --dynamic-config-file\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tCONSTRAINTS\tSOURCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Key, oneLine(r.Value, 60), r.Constraints, r.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if fileErr != nil {
		return cli.Exit(fmt.Sprintf("%s\n(the file has problems: a running cluster keeps its last good values)", fileErr), exitUsage)
	}
	return nil
}

func dynamicConfigValidateAction(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return cli.Exit("dynamicconfig validate takes one FILE; e.g. devcluster dynamicconfig validate dynamicconfig.yaml", exitUsage)
	}
	path := c.Args().First()
	values, exists, err := dynamicconfig.ReadFile(path)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if !exists {
		return cli.Exit(fmt.Sprintf("%s does not exist", path), exitUsage)
	}
	fmt.Fprintf(c.App.Writer, "%s is valid: %d key(s)\n", path, len(values))
	return nil
}

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:         "features",
		Usage:        "show which SDK-facing feature groups a cluster with these flags has on, and how to turn each off",
		Flags:        startFlags(),
		Action:       featuresAction,
		OnUsageError: onUsageError,
	}
}

func featuresAction(c *cli.Context) error {
	loaded, err := loadConfig(c, os.Environ())
	if err != nil {
		return configExit(err, nil)
	}
	w := c.App.Writer
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tWHAT")
	states := profiles.Features(loaded.Config)
	for _, st := range states {
		state := "on"
		if !st.On {
			state = "off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", st.Group.Name, state, st.Group.What)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, st := range states {
		if !st.On {
			fmt.Fprintf(w, "\n%s is off because: %s\n", st.Group.Name, strings.Join(st.Why, "; "))
		}
	}
	switch skips := loaded.Config.TimeSkippingNamespaces(); {
	case loaded.Config.TimeSkipping:
		fmt.Fprintf(w, "\nTime skipping: workflows started in every namespace skip time (time-skipping: true)\n")
	case len(skips) > 0:
		fmt.Fprintf(w, "\nTime skipping: workflows started in %s skip time (namespaces[].time-skipping)\n", strings.Join(skips, ", "))
	default:
		fmt.Fprintf(w, "\nTime skipping: off (--time-skipping, or namespaces[].time-skipping: true for one namespace)\n")
	}
	fmt.Fprintf(w, "\nTurn a group off in a profile or --config file (dynamic-config.values), or with flags:\n")
	for _, st := range states {
		keys := make([]string, 0, len(st.Group.Off))
		for k := range st.Group.Off {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var flags []string
		for _, k := range keys {
			v, _ := json.Marshal(st.Group.Off[k])
			flags = append(flags, fmt.Sprintf("--dynamic-config-value '%s=%s'", k, v))
		}
		fmt.Fprintf(w, "  %s: %s\n", st.Group.Name, strings.Join(flags, " "))
	}
	return nil
}
