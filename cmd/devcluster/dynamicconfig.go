package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/dynamicconfig"
)

func dynamicConfigCommand() *cli.Command {
	return &cli.Command{
		Name:    "dynamicconfig",
		Aliases: []string{"dc"},
		Usage:   "inspect the dynamic-config settings of the embedded server",
		Subcommands: []*cli.Command{
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
