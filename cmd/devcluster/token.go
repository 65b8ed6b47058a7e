package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/auth"
)

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "mint a JWT the cluster started with auth and --cert-dir DIR accepts",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cert-dir", Usage: "the cluster's --cert-dir (holds the signing key)"},
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "default", Usage: "namespace the role applies to"},
			&cli.StringFlag{Name: "role", Value: "admin", Usage: "role in the namespace: " + strings.Join(auth.Roles, ", ")},
			&cli.BoolFlag{Name: "system-admin", Usage: "also grant system admin (every namespace, cluster APIs)"},
			&cli.DurationFlag{Name: "ttl", Value: time.Hour, Usage: "how long the token is valid"},
			&cli.StringFlag{Name: "subject", Value: "devcluster-user", Usage: "the token's sub claim"},
			&cli.StringFlag{Name: "audience", Usage: "aud claim (the cluster's auth.audience, when it sets one)"},
			&cli.StringFlag{Name: "claim", Value: "permissions", Usage: "permissions claim name (auth.permissions-claim)"},
		},
		Action:       tokenAction,
		OnUsageError: onUsageError,
	}
}

func tokenAction(c *cli.Context) error {
	dir := c.String("cert-dir")
	if dir == "" {
		return cli.Exit("token needs --cert-dir DIR: the directory the cluster keeps its certificates and signing key in (start it with --cert-dir DIR)", exitUsage)
	}
	if !auth.ValidRole(c.String("role")) {
		return cli.Exit(fmt.Sprintf("flag --role: %q is not a role; use one of %s", c.String("role"), strings.Join(auth.Roles, ", ")), exitUsage)
	}
	// auth.Mint turns a TTL of 0 or less into its 1h default, which suits
	// Go callers that leave it unset; a user who typed --ttl meant it.
	if ttl := c.Duration("ttl"); ttl <= 0 {
		return cli.Exit(fmt.Sprintf("flag --ttl: %s must be positive, e.g. --ttl 8h", ttl), exitUsage)
	}
	key, err := auth.LoadKey(dir)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	token, err := key.Mint(auth.Grant{Subject: c.String("subject"), Namespace: c.String("namespace"), Role: strings.ToLower(c.String("role")),
		SystemAdmin: c.Bool("system-admin"), Audience: c.String("audience"), TTL: c.Duration("ttl"), ClaimName: c.String("claim")}, time.Now())
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	fmt.Fprintln(c.App.Writer, token)
	return nil
}
