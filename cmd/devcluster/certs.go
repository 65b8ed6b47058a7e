package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/profiles"
)

func certsCommand() *cli.Command {
	return &cli.Command{
		Name:  "certs",
		Usage: "throwaway mTLS certificates",
		Subcommands: []*cli.Command{{
			Name:  "generate",
			Usage: "write a certificate set (two CAs, server, client and system-worker certificates) to --dir, or reuse a valid one there",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Usage: "directory for the certificates (created 0700)"},
				&cli.StringSliceFlag{Name: "host", Usage: "extra DNS name or IP for the server certificates (repeatable)"},
				&cli.DurationFlag{Name: "validity", Value: profiles.Default().TLS.Validity, Usage: "how long the certificates are valid"},
				&cli.BoolFlag{Name: "force", Usage: "regenerate even when the set there is valid"},
				&cli.BoolFlag{Name: "cluster", Usage: "write a cluster's authority instead: the two CAs with their keys and the client certificates, for the nodes of a cluster of several processes (--services, --nodes) that share --cert-dir; each node issues its own server certificates from it"},
			},
			Action:       certsGenerateAction,
			OnUsageError: onUsageError,
		}},
	}
}

func certsGenerateAction(c *cli.Context) error {
	dir := c.String("dir")
	if dir == "" {
		return cli.Exit("certs generate needs --dir DIR (the directory for the certificates)", exitUsage)
	}
	if c.Bool("cluster") {
		return certsAuthority(c, dir)
	}
	if certs.HasAuthority(dir) {
		return cli.Exit(fmt.Sprintf("flag --dir: %s holds a cluster's CA (its nodes trust it), which a single process's set would replace; use --cluster to check it, or another directory", dir), exitUsage)
	}
	if c.Bool("force") {
		for _, f := range []string{certs.InternodeCAFile, certs.FrontendCAFile} {
			_ = removeIfExists(dir, f) // a set without its CAs is regenerated whole
		}
	}
	set, generated, err := certs.Ensure(certs.Options{Dir: dir, Hosts: c.StringSlice("host"), Validity: c.Duration("validity")})
	if err != nil {
		return cli.Exit(certsOptionMessage(err), exitUsage)
	}
	w := c.App.Writer
	if generated {
		fmt.Fprintf(w, "generated certificates in %s (%s); valid until %s\n", set.Dir, set.Reason, set.Expiry().Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintf(w, "reused the valid certificates in %s; valid until %s\n", set.Dir, set.Expiry().Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(w, "  internode CA   %s\n  internode      %s, %s\n", set.InternodeCA, set.InternodeCert, set.InternodeKey)
	fmt.Fprintf(w, "  frontend CA    %s\n  frontend       %s, %s\n", set.FrontendCA, set.FrontendCert, set.FrontendKey)
	fmt.Fprintf(w, "  client         %s, %s\n  system worker  %s, %s\n", set.ClientCert, set.ClientKey, set.SystemWorkerCert, set.SystemWorkerKey)
	fmt.Fprintf(w, "Use them with: devcluster start --tls --cert-dir %s\n", set.Dir)
	return nil
}

// certsAuthority is `certs generate --cluster`.
func certsAuthority(c *cli.Context, dir string) error {
	if c.IsSet("host") || c.Bool("force") {
		return cli.Exit("flags --host and --force do not go with --cluster: each node issues its certificates for its own addresses, and a cluster's CA is never replaced in place (delete the directory for a new one)", exitUsage)
	}
	a, err := certs.EnsureAuthority(certs.Options{Dir: dir, Validity: c.Duration("validity")})
	if err != nil {
		return cli.Exit(certsOptionMessage(err), exitUsage)
	}
	w := c.App.Writer
	if a.Created {
		fmt.Fprintf(w, "made a cluster's CA in %s; valid until %s\n", a.Dir, a.NotAfter.Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintf(w, "reused the cluster's CA in %s; valid until %s\n", a.Dir, a.NotAfter.Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(w, "  internode CA   %s (key %s)\n  frontend CA    %s (key %s)\n", a.InternodeCA, a.InternodeCAKey, a.FrontendCA, a.FrontendCAKey)
	fmt.Fprintf(w, "  client         %s, %s\n  system worker  %s, %s\n", a.ClientCert, a.ClientKey, a.SystemWorkerCert, a.SystemWorkerKey)
	fmt.Fprintf(w, "Give every node: devcluster start --services ROLES --tls --cert-dir %s ... (or --nodes SPEC --tls --cert-dir %s)\n", a.Dir, a.Dir)
	return nil
}

// certsFlags names the flag that sets each certs.Options field.
var certsFlags = map[string]string{"Dir": "dir", "Hosts": "host", "Validity": "validity"}

// certsOptionMessage renders a certs.Ensure error under the flag the user
// typed ("flag --dir: /x is a file, ..."), not the Go field it fills.
func certsOptionMessage(err error) string {
	var oe *certs.OptionError
	if !errors.As(err, &oe) || certsFlags[oe.Field] == "" {
		return err.Error()
	}
	msg := "flag --" + certsFlags[oe.Field] + ": "
	if oe.Value != "" {
		msg += oe.Value + " "
	}
	return msg + oe.Msg
}
