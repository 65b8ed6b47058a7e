package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/portsfile"
	"github.com/devcluster/devcluster/profiles"
)

func waitReadyAction(c *cli.Context) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration(flagTimeout))
	defer cancel()
	if c.IsSet(flagPortsFile) {
		if c.String(flagPortsFile) == "" {
			return cli.Exit(fmt.Sprintf("flag --%s: empty; give the path the cluster writes its ports file to", flagPortsFile), exitUsage)
		}
		// The file names the cluster's address, TLS files and namespaces.
		// (The TLS flags are not refused: their TEMPORAL_TLS_* variables
		// may be in the environment for other clusters; the file's win.)
		for _, name := range []string{flagAddress, flagNamespace} {
			if c.IsSet(name) {
				return cli.Exit(fmt.Sprintf("flags --%s and --%s: the ports file names the cluster's address, TLS files and namespaces; drop --%s",
					flagPortsFile, name, name), exitUsage)
			}
		}
		return waitPortsFile(ctx, c)
	}
	addr, tc, err := connectArgs(c)
	if err != nil {
		return err
	}
	began := time.Now()
	if err := clientconn.WaitReady(ctx, addr, c.StringSlice(flagNamespace), tc, c.String(flagAPIKey), bootstrap.SettleAfterAgree); err != nil {
		if errors.Is(err, clientconn.ErrPermanent) {
			// Credentials, TLS or host: the whole timeout would not help.
			return cli.Exit(fmt.Sprintf("cluster at %s: %v", addr, clientconn.Explain(addr, err)), exitRuntime)
		}
		return cli.Exit(fmt.Sprintf("cluster at %s not ready after %s: %v", addr, c.Duration(flagTimeout), err), exitRuntime)
	}
	fmt.Fprintf(c.App.Writer, "cluster at %s is ready (%s)\n", c.String(flagAddress), time.Since(began).Round(time.Millisecond))
	return nil
}

// waitPortsFile is wait-ready --ports-file: the cluster that writes the
// file (devcluster start --ports-file, or DEVCLUSTER_PORTS_FILE as the
// container image sets it) is ready once the file exists (it is written
// when the banner's readiness holds: namespaces, search attributes,
// members) and the cluster still says so: its /readyz answers 200 or,
// without metrics, its frontend answers with the file's TLS files and
// namespaces. It is what the image's health check runs: one command that
// knows nothing of the ports, TLS or auth the container was started with.
func waitPortsFile(ctx context.Context, c *cli.Context) error {
	path := c.String(flagPortsFile)
	began := time.Now()
	var p portsfile.Ports
	// Only a file not there yet is worth waiting for: it is written whole
	// (renamed into place), so one that cannot be read or parsed stays so.
	notYet := func(err error) bool { return errors.Is(err, fs.ErrNotExist) }
	err := clientconn.Poll(ctx, nil, func(err error) bool { return !notYet(err) }, func(context.Context) error {
		var err error
		p, err = portsfile.Read(path)
		return err
	})
	switch {
	case err != nil && notYet(err):
		return cli.Exit(fmt.Sprintf("ports file %s: not written within %s: it appears once the cluster is ready; "+
			"start the cluster with --ports-file %s (or DEVCLUSTER_PORTS_FILE=%s, as the container image does), or wait longer (--%s)",
			path, c.Duration(flagTimeout), path, path, flagTimeout), exitRuntime)
	case err != nil:
		// err names the path (open PATH: ..., or ports file PATH: ...).
		return cli.Exit(fmt.Sprintf("flag --%s: %v; give the file a devcluster start --ports-file writes", flagPortsFile, err), exitRuntime)
	}
	var what string
	if p.Metrics != "" {
		what, err = clientconn.WaitReadyz(ctx, netaddr.DialHostPort(p.Metrics))
	} else {
		what = netaddr.DialHostPort(p.Frontend)
		var tc *tls.Config
		if p.TLS != nil {
			files := profiles.TLSFiles{CertFile: p.TLS.ClientCert, KeyFile: p.TLS.ClientKey, CAFile: p.TLS.CA}
			if tc, err = (profiles.TLS{Enabled: true, ServerName: p.TLS.ServerName, Client: files}).ClientConfig(); err != nil {
				return cli.Exit(fmt.Sprintf("ports file %s: %v", path, err), exitRuntime)
			}
		}
		// With the cluster's key directory at hand, a token of its own: a
		// TEMPORAL_API_KEY in the environment is meant for other clusters
		// as often as for this one.
		token := c.String(flagAPIKey)
		if p.TLS != nil && p.TLS.Auth && p.TLS.KeyDir != "" {
			if token, err = probeToken(p.TLS.KeyDir); err != nil {
				return cli.Exit(fmt.Sprintf("ports file %s: a token for the check: %v; pass --%s", path, err, flagAPIKey), exitRuntime)
			}
		}
		err = clientconn.WaitReady(ctx, what, p.Namespaces, tc, token, bootstrap.SettleAfterAgree)
	}
	if errors.Is(err, clientconn.ErrPermanent) {
		return cli.Exit(fmt.Sprintf("cluster of %s at %s: %v; the ports file's client files or token do not fit the cluster: was it written by another run?",
			path, what, clientconn.Explain(what, err)), exitRuntime)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("cluster of %s (%s) not ready after %s: %v", path, what, c.Duration(flagTimeout), err), exitRuntime)
	}
	fmt.Fprintf(c.App.Writer, "cluster at %s is ready (%s)\n", p.Frontend, time.Since(began).Round(time.Millisecond))
	return nil
}

// probeToken mints a short-lived admin token with the cluster's signing
// key (the ports file's key_dir), for a check on the same host.
func probeToken(keyDir string) (string, error) {
	key, err := auth.LoadKey(keyDir)
	if err != nil {
		return "", err
	}
	return key.Mint(auth.Grant{Subject: "devcluster-wait-ready", SystemAdmin: true, TTL: time.Minute}, time.Now())
}
