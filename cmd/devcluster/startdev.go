package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// The Temporal CLI's front door: `devcluster server start-dev ...` takes
// the argv every SDK's test harness gives `temporal server start-dev`, and
// `devcluster operator cluster health` the command container health checks
// call. The CLI's flag names map onto devcluster's config keys (most are
// devcluster start's own flags already); the CLI's output-formatting and
// client-config options, which mean nothing to a server, are accepted and
// ignored with a note.

// startDevProfile is the built-in profile a start-dev run composes first
// (profiles/builtin/start-dev.yaml); --profile names go over it.
const startDevProfile = "start-dev"

// Flags of temporal server start-dev that devcluster start does not have.
const (
	flagMetricsPort        = "metrics-port"
	flagSQLitePragma       = "sqlite-pragma"
	flagUIPublicPath       = "ui-public-path"
	flagUICodecEndpoint    = "ui-codec-endpoint"
	flagUIAssetPath        = "ui-asset-path"
	flagUIDisableNewsFetch = "ui-disable-news-fetch"
	flagLogConfig          = "log-config"
)

// cliGlobalFlags are the Temporal CLI's options for every command, with
// whether each takes a value. A harness may put them before `server` or
// after `start-dev`; they format a client's output or choose a client
// config profile, and a server has neither, so they are ignored (with a
// note) except --log-level and --log-format, which devcluster's own flags
// of the same names take.
var cliGlobalFlags = map[string]bool{
	"env": true, "env-file": true, "config-file": true, "disable-config-file": false, "disable-config-env": false,
	"output": true, "o": true, "time-format": true, "color": true, "no-json-shorthand-payloads": false,
	"command-timeout": true, "client-connect-timeout": true,
	flagLogLevel: true, flagLogFormat: true,
}

// startDevFlags are devcluster start's flags plus the CLI's own.
func startDevFlags() []cli.Flag {
	flags := startFlags()
	for name, takesValue := range cliGlobalFlags {
		if name == flagLogLevel || name == flagLogFormat || name == "o" {
			continue
		}
		usage := "accepted for the Temporal CLI's argv; no effect on a server"
		if takesValue {
			var aliases []string
			if name == "output" {
				aliases = []string{"o"}
			}
			flags = append(flags, &cli.StringFlag{Name: name, Aliases: aliases, Usage: usage, Category: "Temporal CLI options (ignored)"})
		} else {
			flags = append(flags, &cli.BoolFlag{Name: name, Usage: usage, Category: "Temporal CLI options (ignored)"})
		}
	}
	return flags
}

// cliOnlyFlags are start flags that exist for the CLI's argv; they are
// config keys like any other, so devcluster start takes them too.
func cliOnlyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: flagMetricsPort, Usage: "Prometheus /metrics (and /healthz, /readyz) port on --ip (default: a free port)"},
		&cli.StringSliceFlag{Name: flagSQLitePragma, Usage: "SQLite pragma KEY=VALUE for the database (repeatable), e.g. journal_mode=wal"},
		&cli.StringFlag{Name: flagUIPublicPath, Usage: "base path the Web UI is served under, e.g. /temporal"},
		&cli.StringFlag{Name: flagUICodecEndpoint, Usage: "remote codec endpoint the Web UI decodes payloads with"},
		&cli.StringFlag{Name: flagUIAssetPath, Usage: "directory of Web UI assets served instead of the embedded ones"},
		&cli.BoolFlag{Name: flagUIDisableNewsFetch, Usage: "accepted for the Temporal CLI's argv: devcluster's Web UI never fetches its news feed"},
		&cli.BoolFlag{Name: flagLogConfig, Usage: "print the server's static config to stderr before starting"},
	}
}

// isStartDev reports whether c runs `server start-dev`.
func isStartDev(c *cli.Context) bool { return c.Command != nil && c.Command.Name == "start-dev" }

// serverCommand is `server start-dev`.
func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "the Temporal CLI's server commands, for SDK test harnesses and scripts written for it",
		Subcommands: []*cli.Command{{
			Name: "start-dev",
			Usage: "start a cluster the way `temporal server start-dev` does (its flags, defaults and output), " +
				"with devcluster's configuration; devcluster start's flags work here too",
			Flags:        startDevFlags(),
			Action:       startAction,
			OnUsageError: onUsageError,
		}},
	}
}

// ignoredCLIFlags lists the CLI options given to start-dev that have no
// effect on a server, for one note at start.
func ignoredCLIFlags(c *cli.Context) []string {
	var out []string
	for name := range cliGlobalFlags {
		if name == flagLogLevel || name == flagLogFormat || name == "o" {
			continue
		}
		if c.IsSet(name) {
			out = append(out, "--"+name)
		}
	}
	if c.IsSet(flagUIDisableNewsFetch) {
		out = append(out, "--"+flagUIDisableNewsFetch+" (the news feed is never fetched)")
	}
	slices.Sort(out)
	return out
}

// cliLogLevel maps the CLI's log levels onto devcluster's: "never" keeps
// only errors (a server that fails must say why).
func cliLogLevel(v string) string {
	if v == "never" {
		return "error"
	}
	return v
}

// cliLogFormat maps the CLI's log formats onto devcluster's.
func cliLogFormat(v string) string {
	if v == "pretty" {
		return "text"
	}
	return v
}

// printStartDevBanner prints what `temporal server start-dev` prints on
// stdout once it serves, line for line: harnesses and container wait
// strategies look for "Temporal Server:".
func printStartDevBanner(w io.Writer, c *bootstrap.Cluster, httpGiven bool) {
	cfg := c.Config()
	fmt.Fprintf(w, "devcluster (Temporal Server %s), as temporal server start-dev\n\n", bootstrap.ServerVersion)
	line := func(label, value string) { fmt.Fprintf(w, "%-21s %s\n", label, value) }
	line("Temporal Server:", friendly(c.FrontendAddr()))
	if f := cfg.Persistence.File; f != "" {
		line("Temporal Persistence:", f)
	} else if cfg.Persistence.Postgres() {
		line("Temporal Persistence:", "postgres")
	} else {
		line("Temporal Persistence:", "in-memory")
	}
	if h := c.HTTPAddr(); h != "" && httpGiven {
		line("Temporal HTTP:", friendly(h))
	}
	if u := c.UIURL(); u != "" {
		line("Temporal UI:", strings.Replace(u, c.UIAddr(), friendly(c.UIAddr()), 1))
	}
	if m := c.MetricsAddr(); m != "" {
		line("Temporal Metrics:", "http://"+friendly(m)+"/metrics")
	}
}

// friendly writes a loopback host:port as localhost:port, as the CLI does,
// and an address on every interface (--ip 0.0.0.0, as in a container) so
// too: that is where a local client reaches it.
func friendly(hostPort string) string {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		host = "localhost"
	}
	n, _ := strconv.Atoi(port)
	return netaddr.HostPort(host, n)
}

// temporalName reports whether the binary runs as `temporal` (installed as
// the CLI's name, as the CLI's container image and harnesses that override
// the entrypoint expect).
func temporalName(arg0 string) bool {
	name := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	return name == "temporal"
}

// temporalCommands are the CLI's commands devcluster implements.
var temporalCommands = [][]string{{"server", "start-dev"}, {"operator", "cluster", "health"}}

// hoistCLIGlobals moves the CLI's global options a harness put before the
// command (`temporal --log-level warn server start-dev ...`) after it,
// where urfave looks for them. It returns the argument list for the app
// (args[0] included), and the command found among temporalCommands ("" when
// none; args then come back as they were).
func hoistCLIGlobals(args []string) ([]string, string) {
	var globals []string
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		name, _, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		takesValue, known := cliGlobalFlags[name]
		if !known {
			break
		}
		globals = append(globals, args[i])
		i++
		if takesValue && !inline && i < len(args) {
			globals = append(globals, args[i])
			i++
		}
	}
	rest := args[i:]
	for _, cmd := range temporalCommands {
		if len(rest) >= len(cmd) && slices.Equal(rest[:len(cmd)], cmd) {
			out := append([]string{args[0]}, cmd...)
			for _, a := range append(globals, rest[len(cmd):]...) {
				out = append(out, longForm(a))
			}
			return out, strings.Join(cmd, " ")
		}
	}
	return args, ""
}

// longForms are the short and alternative names of flags a harness may
// mix with the long ones (`-n a --namespace b`): cobra takes that, urfave
// refuses two forms of one flag, so each is given its long name first.
var longForms = map[string]string{"-n": "--" + flagNamespace, "-p": "--" + flagPort, "-f": "--" + flagDBFile,
	"--db-filename": "--" + flagDBFile, "-o": "--output"}

func longForm(arg string) string {
	name, value, inline := strings.Cut(arg, "=")
	long, ok := longForms[name]
	if !ok {
		return arg
	}
	if inline {
		return long + "=" + value
	}
	return long
}

// helpOrVersion reports an argument list that asks only for help or the
// version, which a binary named temporal answers as devcluster.
func helpOrVersion(args []string) bool {
	if len(args) == 0 {
		return true
	}
	switch args[0] {
	case "-h", "--help", "help", "-v", "--version", "version":
		return true
	}
	return false
}

// logServerConfig writes the server's static config to w (--log-config):
// ports devcluster picks at start appear with their conventional numbers.
func logServerConfig(w io.Writer, cfg profiles.Config) error {
	static, _, err := bootstrap.Export(cfg, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# Temporal server %s static config (ports chosen at start show their conventional numbers)\n", bootstrap.ServerVersion)
	_, err = w.Write(static)
	return err
}
