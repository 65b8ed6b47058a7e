package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/timeskip"
)

const (
	flagWorkflowID = "workflow-id"
	flagRunID      = "run-id"
	flagBy         = "by"
	flagOff        = "off"
)

// connectFlags are the flags of a command that calls a running cluster:
// its address and, for a cluster with mTLS or auth, the files and token
// the banner prints (or the temporal CLI's environment).
func connectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagAddress, Value: netaddr.HostPort("127.0.0.1", profiles.DefaultFrontendPort), Usage: "frontend gRPC address"},
		&cli.StringFlag{Name: flagTLSCert, Usage: "client certificate (PEM) for a cluster with mTLS", EnvVars: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH"}},
		&cli.StringFlag{Name: flagTLSKey, Usage: "client key (PEM)", EnvVars: []string{"TEMPORAL_TLS_CLIENT_KEY_PATH"}},
		&cli.StringFlag{Name: flagTLSCA, Usage: "CA that signed the frontend's certificate (PEM)", EnvVars: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH"}},
		&cli.StringFlag{Name: flagTLSServerName, Usage: "server name the frontend's certificate must carry", EnvVars: []string{"TEMPORAL_TLS_SERVER_NAME"}},
		&cli.StringFlag{Name: flagAPIKey, Usage: "bearer token for a cluster with auth (the banner prints an admin token)", EnvVars: []string{"TEMPORAL_API_KEY"}},
	}
}

// executionFlags name one workflow execution.
func executionFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: flagWorkflowID, Aliases: []string{"w"}, Required: true, Usage: "the workflow's id"},
		&cli.StringFlag{Name: flagRunID, Aliases: []string{"r"}, Usage: "the run (default: the latest)"},
		&cli.StringFlag{Name: flagNamespace, Aliases: []string{"n"}, Value: profiles.DefaultNamespace, Usage: "the workflow's namespace", EnvVars: []string{"TEMPORAL_NAMESPACE"}},
		&cli.DurationFlag{Name: flagTimeout, Value: time.Minute, Usage: "give up after this long"},
	}, connectFlags()...)
}

func workflowCommand() *cli.Command {
	return &cli.Command{
		Name:  "workflow",
		Usage: "time skipping for one workflow, from any SDK (server 1.32's API; no SDK has fields for it yet)",
		Subcommands: []*cli.Command{
			{
				Name:  "fast-forward",
				Usage: "move a workflow's clock ahead (firing the timers it passes) and wait until it got there",
				Description: "The workflow stops skipping time afterwards; `devcluster workflow skip-time` turns it on again.\n" +
					"Example: devcluster workflow fast-forward --workflow-id order-7 --by 24h",
				Flags:        append(executionFlags(), &cli.DurationFlag{Name: flagBy, Required: true, Usage: "how far to move the clock, e.g. 24h"}),
				Action:       withExecution(fastForwardAction),
				OnUsageError: onUsageError,
			},
			{
				Name:         "skip-time",
				Usage:        "make a running workflow skip time whenever it only waits on timers (--off: stop)",
				Flags:        append(executionFlags(), &cli.BoolFlag{Name: flagOff, Usage: "stop skipping time"}),
				Action:       withExecution(skipTimeAction),
				OnUsageError: onUsageError,
			},
			{
				Name:         "time",
				Usage:        "print a workflow's virtual clock and time-skipping state",
				Flags:        executionFlags(),
				Action:       withExecution(timeAction),
				OnUsageError: onUsageError,
			},
		},
	}
}

// connectArgs returns --address and the client TLS config of the TLS
// flags (nil without them), or a usage error (exit 2) naming the flag.
func connectArgs(c *cli.Context) (string, *tls.Config, error) {
	tc, err := waitReadyTLS(c)
	if err != nil {
		return "", nil, cli.Exit(err.Error(), exitUsage)
	}
	addr := c.String(flagAddress)
	if err := clientconn.CheckAddress(addr); err != nil {
		return "", nil, cli.Exit(fmt.Sprintf("flag --%s: %v", flagAddress, err), exitUsage)
	}
	return addr, tc, nil
}

// withExecution dials the cluster and runs action for the execution the
// flags name; usage errors exit 2, failed calls 1.
func withExecution(action func(*cli.Context, context.Context, workflowservice.WorkflowServiceClient, timeskip.Execution) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Len() > 0 {
			return cli.Exit(fmt.Sprintf("%s takes no arguments, got %q; flags start with --", c.Command.Name, c.Args().First()), exitUsage)
		}
		addr, tc, err := connectArgs(c)
		if err != nil {
			return err
		}
		conn, err := clientconn.Dial(addr, tc, "", c.String(flagAPIKey))
		if err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
		defer func() { _ = conn.Close() }()
		ctx, cancel := context.WithTimeout(c.Context, c.Duration(flagTimeout))
		defer cancel()
		e := timeskip.Execution{Namespace: c.String(flagNamespace), WorkflowID: c.String(flagWorkflowID), RunID: c.String(flagRunID)}
		if err := action(c, ctx, workflowservice.NewWorkflowServiceClient(conn), e); err != nil {
			var usage cli.ExitCoder
			if errors.As(err, &usage) {
				return err
			}
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w (flag --%s %s)", err, flagTimeout, c.Duration(flagTimeout))
			}
			return cli.Exit(clientconn.Explain(addr, err).Error(), exitRuntime)
		}
		return nil
	}
}

func fastForwardAction(c *cli.Context, ctx context.Context, svc workflowservice.WorkflowServiceClient, e timeskip.Execution) error {
	by := c.Duration(flagBy)
	if by <= 0 {
		return cli.Exit(fmt.Sprintf("flag --%s: %s must be positive, e.g. --%s 24h", flagBy, by, flagBy), exitUsage)
	}
	began := time.Now()
	reached, err := timeskip.FastForward(ctx, svc, e, by)
	if errors.Is(err, timeskip.ErrWorkflowEnded) {
		fmt.Fprintf(c.App.Writer, "workflow %s ended during the fast-forward by %s, its clock reading %s (%s of wall time)\n",
			e.WorkflowID, by, reached.UTC().Format(time.RFC3339), time.Since(began).Round(time.Millisecond))
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "workflow %s fast-forwarded by %s: its clock reads %s (%s of wall time)\n",
		e.WorkflowID, by, reached.UTC().Format(time.RFC3339), time.Since(began).Round(time.Millisecond))
	return nil
}

func skipTimeAction(c *cli.Context, ctx context.Context, svc workflowservice.WorkflowServiceClient, e timeskip.Execution) error {
	on := !c.Bool(flagOff)
	if err := timeskip.Set(ctx, svc, e, on); err != nil {
		return err
	}
	state := "skips time whenever it only waits on timers"
	if !on {
		state = "no longer skips time"
	}
	fmt.Fprintf(c.App.Writer, "workflow %s %s\n", e.WorkflowID, state)
	return nil
}

func timeAction(c *cli.Context, ctx context.Context, svc workflowservice.WorkflowServiceClient, e timeskip.Execution) error {
	info, err := timeskip.Info(ctx, svc, e)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintf(c.App.Writer, "workflow %s has never skipped time: its clock is the wall clock\n", e.WorkflowID)
		return nil
	}
	now := info.GetCurrentTime().AsTime()
	fmt.Fprintf(c.App.Writer, "virtual time  %s (%s ahead of the wall clock)\n", now.UTC().Format(time.RFC3339), time.Until(now).Round(time.Second))
	fmt.Fprintf(c.App.Writer, "skipping      %t (%d skips this session, limit %d)\n", info.GetEffectiveConfig().GetEnabled(),
		info.GetCurrentSessionSkipCount(), info.GetEffectiveConfig().GetMaxSessionSkipCount())
	if ff := info.GetFastForwardInfo(); ff != nil {
		fmt.Fprintf(c.App.Writer, "fast-forward  to %s, done %t\n", ff.GetTargetTime().AsTime().UTC().Format(time.RFC3339), ff.GetHasCompleted())
	}
	return nil
}
