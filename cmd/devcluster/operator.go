package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
)

// operatorCommand is `operator cluster health`, what compose files and
// container health checks call on the Temporal CLI.
func operatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "operator",
		Usage: "the Temporal CLI's operator commands devcluster implements",
		Subcommands: []*cli.Command{{
			Name:  "cluster",
			Usage: "cluster operations",
			Subcommands: []*cli.Command{{
				Name: "health",
				Usage: "print SERVING and exit 0 when the cluster at --address is ready (its frontend answers and " +
					"--namespace exists), else print why and exit 1; it does not wait",
				Flags: append([]cli.Flag{
					&cli.StringSliceFlag{Name: flagNamespace, Aliases: []string{"n"}, Value: cli.NewStringSlice(profiles.DefaultNamespace), Usage: "namespace that must exist (repeatable)"},
					&cli.DurationFlag{Name: "command-timeout", Value: 5 * time.Second, Usage: "give up after this long"},
				}, connectFlags()...),
				Action:       healthAction,
				OnUsageError: onUsageError,
			}},
		}},
	}
}

func healthAction(c *cli.Context) error {
	addr, tc, err := connectArgs(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("command-timeout"))
	defer cancel()
	conn, err := clientconn.Dial(addr, tc, "", c.String(flagAPIKey))
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	defer func() { _ = conn.Close() }()
	if err := clientconn.ProbeOnce(ctx, conn, c.StringSlice(flagNamespace)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return cli.Exit(fmt.Sprintf("NOT_SERVING: no answer from %s within %s", addr, c.Duration("command-timeout")), exitRuntime)
		}
		return cli.Exit("NOT_SERVING: "+clientconn.Explain(addr, err).Error(), exitRuntime)
	}
	fmt.Fprintln(c.App.Writer, "SERVING")
	return nil
}
