// Command devcluster starts a real Temporal cluster in one process.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/faults"
	"github.com/devcluster/devcluster/profiles"
)

// Exit codes.
const (
	exitRuntime = 1 // the cluster failed while starting or running
	exitUsage   = 2 // bad flags or config
)

// version is devcluster's own, set at build time by
// -ldflags "-X main.version=..." (make build and make image use git
// describe).
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code; only main exits.
func run(args []string, stdout, stderr io.Writer) int {
	args, cmd := hoistCLIGlobals(args)
	if temporalName(args[0]) && cmd == "" && !helpOrVersion(args[1:]) {
		fmt.Fprintf(stderr, "temporal: this is devcluster installed as temporal: it implements only `temporal server start-dev` and `temporal operator cluster health`; use the Temporal CLI for %q\n", strings.Join(args[1:], " "))
		return exitUsage
	}
	app := NewApp(stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "devcluster: "+msg)
		}
		return ec.ExitCode()
	}
	// urfave reports unknown flags and the like as plain errors.
	fmt.Fprintln(stderr, "devcluster: "+err.Error())
	return exitUsage
}

// onUsageError turns urfave's flag-parsing errors into one line that names the
// flag and points at --help, instead of printing the whole help text.
func onUsageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	var names []string
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" && l.Command.Name != c.App.Name {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	cmd := strings.Join(names, " ")
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = fmt.Sprintf("unknown flag --%s", name)
	}
	return cli.Exit(fmt.Sprintf("%s; see devcluster %s --help", msg, cmd), exitUsage)
}

// NewApp returns the devcluster command line.
func NewApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "devcluster",
		Usage:                "a real Temporal cluster in one process, for laptops, Go tests and CI",
		Version:              version + " (Temporal Server " + bootstrap.ServerVersion + ")",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run prints and exits
		OnUsageError:         onUsageError,
		Commands: []*cli.Command{
			{
				Name:         "start",
				Usage:        "start a cluster and keep it running until Ctrl+C",
				Flags:        append(startFlags(), nodesFlags()...),
				Action:       startAction,
				OnUsageError: onUsageError,
			},
			{
				Name:  "wait-ready",
				Usage: "wait until a cluster answers and its namespaces exist (exit 0), or time out (exit 1)",
				Flags: append([]cli.Flag{
					&cli.StringSliceFlag{Name: flagNamespace, Aliases: []string{"n"}, Value: cli.NewStringSlice(profiles.DefaultNamespace), Usage: "namespace that must exist (repeatable)"},
					&cli.DurationFlag{Name: flagTimeout, Value: 30 * time.Second, Usage: "give up after this long"},
					&cli.StringFlag{Name: flagPortsFile, Usage: "wait for the cluster that writes this --ports-file, with the address, TLS files and namespaces it names (instead of --address, --namespace and the TLS flags); the container image's health check"},
				}, connectFlags()...),
				Action:       waitReadyAction,
				OnUsageError: onUsageError,
			},
			serverCommand(),
			operatorCommand(),
			failoverCommand(),
			configCommand(),
			dbCommand(),
			certsCommand(),
			tokenCommand(),
			featuresCommand(),
			dynamicConfigCommand(),
			faultsCommand(),
			workflowCommand(),
		},
	}
}

func startAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return cli.Exit(fmt.Sprintf("start takes no arguments, got %q; flags start with --", c.Args().First()), exitUsage)
	}
	if c.IsSet(flagNodes) {
		return nodesAction(c)
	}
	if c.IsSet(flagRestart) {
		return cli.Exit(fmt.Sprintf("flag --%s restarts the nodes of --%s; add --%s N, or drop --%s", flagRestart, flagNodes, flagNodes, flagRestart), exitUsage)
	}
	if c.IsSet(flagNodesLimit) {
		return cli.Exit(fmt.Sprintf("flag --%s bounds the processes of --%s; add --%s N, or drop --%s", flagNodesLimit, flagNodes, flagNodes, flagNodesLimit), exitUsage)
	}
	if c.IsSet(flagChaos) {
		return cli.Exit(fmt.Sprintf("flag --%s kills nodes of --%s; add --%s N --%s, or drop --%s", flagChaos, flagNodes, flagNodes, flagRestart, flagChaos), exitUsage)
	}
	supervised := supervisedNode(c)
	var loaded *profiles.Loaded
	var err error
	if supervised {
		// Read once, then removed: it may hold a database password, and
		// the supervisor writes it anew for each run.
		loaded, err = profiles.LoadNodeFile(c.String(flagNodeFile))
		_ = os.Remove(c.String(flagNodeFile))
	} else {
		loaded, err = loadConfig(c, os.Environ())
	}
	if err != nil {
		return configExit(err, nil)
	}
	cfg := loaded.Config
	if err := removeStalePortsFile(cfg.PortsFile); err != nil {
		return configExit(err, loaded)
	}
	startDev := isStartDev(c)
	if startDev {
		if ignored := ignoredCLIFlags(c); len(ignored) > 0 {
			fmt.Fprintf(c.App.ErrWriter, "devcluster: note: %s: Temporal CLI options with no effect on a server, ignored\n", strings.Join(ignored, ", "))
		}
	}
	if c.Bool(flagLogConfig) {
		if err := logServerConfig(c.App.ErrWriter, cfg); err != nil {
			return configExit(err, loaded)
		}
	}

	// First SIGINT/SIGTERM/SIGHUP: graceful stop. Second: exit at once,
	// except on a node of --nodes (see supervisedNode).
	exitNow := func() {
		fmt.Fprintln(c.App.ErrWriter, "devcluster: second signal, exiting at once")
		os.Exit(exitRuntime)
	}
	if supervised {
		exitNow = nil
	}
	ctx, release := twoStageStop(c.Context, c.App.ErrWriter, "devcluster: stopping (a second Ctrl+C exits at once)", exitNow,
		cfg.Shutdown.Timeout+5*time.Second, func() {
			fmt.Fprintln(c.App.ErrWriter, "devcluster: stop took longer than the shutdown timeout, exiting")
			os.Exit(exitRuntime)
		})
	defer release()

	logOut, closeLog, err := logWriter(c.App.ErrWriter, cfg.Log.File)
	if err != nil {
		return configExit(&profiles.FieldError{Key: "log.file", Value: cfg.Log.File, Msg: err.Error()}, loaded)
	}
	defer closeLog()
	logger := bootstrap.NewLogger(logOut, cfg.Log)
	began := time.Now()
	// With clusters, cluster is the first: its frontend is --port, and
	// the existing banner lines and ports-file keys describe it.
	var group *bootstrap.Clusters
	var cluster *bootstrap.Cluster
	if len(cfg.Clusters) > 0 {
		if group, err = bootstrap.StartClusters(ctx, cfg, bootstrap.WithLogger(logger)); err == nil {
			cluster = group.First()
		}
	} else {
		cluster, err = bootstrap.Start(ctx, cfg, bootstrap.WithLogger(logger))
	}
	if err != nil {
		if ctx.Err() != nil {
			if startDev {
				// As the CLI: a harness that stops its server right after
				// its first successful call (before devcluster's own
				// readiness finished) asked for a stop, and gets exit 0.
				logger.Info("stopped while starting, as asked")
				return nil
			}
			return cli.Exit("interrupted while starting", exitRuntime)
		}
		if len(profiles.FieldErrors(err)) > 0 || isDynamicConfigError(err) {
			return configExit(err, loaded)
		}
		return cli.Exit("start: "+err.Error()+dynamicConfigSuspects(loaded), exitRuntime)
	}
	if cfg.PortsFile != "" {
		if err := writePortsFile(cfg.PortsFile, cluster, group); err != nil {
			_ = stopAll(cluster, group)
			return configExit(&profiles.FieldError{Key: "ports-file", Value: cfg.PortsFile, Msg: err.Error()}, loaded)
		}
		defer func() { _ = os.Remove(cfg.PortsFile) }()
	}
	var profileNote string
	if name := c.String(flagWriteClientProfile); name != "" {
		path, err := cluster.WriteClientProfile(name)
		if err != nil {
			_ = stopAll(cluster, group)
			return cli.Exit("flag --"+flagWriteClientProfile+": "+err.Error(), exitRuntime)
		}
		profileNote = fmt.Sprintf("Client profile %q written to %s: temporal --profile %s workflow list\n", name, path, name)
	}
	// One write: a reader of the pipe (a script, a test) that sees the
	// banner's first line then sees all of it.
	if !supervised {
		var banner bytes.Buffer
		if startDev {
			printStartDevBanner(&banner, cluster, c.IsSet(flagHTTPPort))
		} else {
			printBanner(&banner, cluster, time.Since(began), loaded, clustersBanner(group)+profileNote)
		}
		_, _ = c.App.Writer.Write(banner.Bytes())
	}

	var running interface {
		Done() <-chan struct{}
		Stop(context.Context) error
		Err() error
	} = cluster
	stopTimeout := cfg.Shutdown.Timeout
	if group != nil {
		running, stopTimeout = group, cfg.Shutdown.Timeout*time.Duration(len(group.Names()))
	}
	select {
	case <-ctx.Done():
	case <-running.Done():
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), stopTimeout)
	defer stopCancel()
	stopErr := running.Stop(stopCtx)
	if err := running.Err(); err != nil {
		return cli.Exit("cluster failed: "+err.Error(), exitRuntime)
	}
	if stopErr != nil {
		return cli.Exit("stop: "+stopErr.Error(), exitRuntime)
	}
	logger.Info("cluster stopped")
	return nil
}

// configExit renders config errors, one per line, each with where the value
// came from, and exits 2.
func configExit(err error, loaded *profiles.Loaded) error {
	var ue *usageError
	if errors.As(err, &ue) {
		return cli.Exit(ue.msg, exitUsage)
	}
	fes := profiles.FieldErrors(err)
	if len(fes) == 0 {
		msg := err.Error()
		if isDynamicConfigError(err) && loaded != nil {
			msg = bootstrap.DynamicConfigErrorOrigins(err, loaded)
		}
		return cli.Exit(msg, exitUsage)
	}
	lines := make([]string, len(fes))
	for i, fe := range fes {
		if fe.Origin == "" && loaded != nil {
			fe.Origin = loaded.Origin(fe.Key)
		}
		lines[i] = fe.Error()
	}
	return cli.Exit(strings.Join(lines, "\n"), exitUsage)
}

// dynamicConfigSuspects names, after a start that failed, the dynamic
// config the user set (see bootstrap.DynamicConfigSetByUser): "" when
// none, else "; the start failed with dynamic config set by you: KEY=VALUE
// (ORIGIN), ...; try without it".
func dynamicConfigSuspects(loaded *profiles.Loaded) string {
	set := bootstrap.DynamicConfigSetByUser(loaded)
	if len(set) == 0 {
		return ""
	}
	return "; the start failed with dynamic config set by you: " + strings.Join(set, ", ") + "; try without it"
}

// isDynamicConfigError reports an error of a file or value a person edits
// (dynamic config, fault rules): exit 2, like a bad flag.
func isDynamicConfigError(err error) bool {
	return errors.Is(err, bootstrap.ErrUnknownDynamicConfigKey) || errors.Is(err, bootstrap.ErrBadDynamicConfigValue) ||
		errors.Is(err, bootstrap.ErrBadDynamicConfigFile) || errors.Is(err, faults.ErrFaults)
}
