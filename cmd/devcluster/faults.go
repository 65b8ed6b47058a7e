package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/faults"
)

// faultsCommand checks a faults file and shows a running cluster's rules.
func faultsCommand() *cli.Command {
	return &cli.Command{
		Name:  "faults",
		Usage: "check a faults file, or show the fault rules a running cluster obeys and what each did",
		Subcommands: []*cli.Command{
			{
				Name:         "check",
				Usage:        "check a faults file against the embedded server's stores, methods and error kinds: devcluster faults check FILE",
				Action:       faultsCheckAction,
				OnUsageError: onUsageError,
			},
			{
				Name:  "show",
				Usage: "the rules in force on a running cluster, with how many faults each injected (from its metrics endpoint)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "metrics", Required: true,
					Usage: "the cluster's metrics address, host:port, as its banner prints it (Metrics http://HOST:PORT/metrics)"}},
				Action:       faultsShowAction,
				OnUsageError: onUsageError,
			},
		},
	}
}

func faultsCheckAction(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return cli.Exit("faults check takes one FILE; e.g. devcluster faults check faults.yaml", exitUsage)
	}
	f, err := bootstrap.ParseFaultsFile(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	fmt.Fprintf(c.App.Writer, "%s is valid: %d rule(s)\n", c.Args().First(), len(f.Rules))
	for _, r := range f.Rules {
		fmt.Fprintf(c.App.Writer, "  %s\n", r)
	}
	return nil
}

func faultsShowAction(c *cli.Context) error {
	addr := strings.TrimSuffix(strings.TrimPrefix(c.String("metrics"), "http://"), "/metrics")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/faults")
	if err != nil {
		return cli.Exit(fmt.Sprintf("flag --metrics %s: %v; give the metrics address the cluster's banner prints", c.String("metrics"), err), exitRuntime)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return cli.Exit(fmt.Sprintf("flag --metrics %s: %s answers %s; is it a devcluster's metrics address?", c.String("metrics"), addr, resp.Status), exitRuntime)
	}
	var active []faults.Active
	if err := json.NewDecoder(resp.Body).Decode(&active); err != nil {
		return cli.Exit(fmt.Sprintf("flag --metrics %s: not a devcluster's fault report: %v", c.String("metrics"), err), exitRuntime)
	}
	if len(active) == 0 {
		fmt.Fprintln(c.App.Writer, "no fault rules in force")
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tFROM\tFAULTS")
	for _, a := range active {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", a.Rule, a.Source, a.Hits)
	}
	return tw.Flush()
}
