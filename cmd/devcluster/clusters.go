package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/profiles"
)

const flagTo = "to"

// splitList splits a comma-separated flag value, trimming spaces.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// clustersBanner lists every cluster of a group for the banner; "" for one
// cluster.
func clustersBanner(group *bootstrap.Clusters) string {
	if group == nil {
		return ""
	}
	names := group.Names()
	var b strings.Builder
	fmt.Fprintf(&b, "\nClusters %s replicate to each other; every namespace is global, active on %s (the addresses above).\n", strings.Join(names, ", "), names[0])
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  cluster\tfrontend (gRPC)\tHTTP API\tWeb UI\tdatabase\n")
	group.Each(func(name string, c *bootstrap.Cluster) {
		dash := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		http := c.HTTPAddr()
		if http != "" {
			http = "http://" + http
		}
		db := "in memory"
		if f := c.Config().Persistence.File; f != "" {
			db = f
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, c.FrontendAddr(), dash(http), dash(c.UIURLWithoutToken()), db)
	})
	_ = tw.Flush()
	fmt.Fprintf(&b, "Fail a namespace over (as temporal operator namespace update --active-cluster does):\n")
	secure := ""
	if t, ok := group.First().TLS(); ok {
		// Each cluster has its own CAs; the bundle checks every frontend.
		secure = fmt.Sprintf(" --%s %s --%s %s --%s %s --%s %s", flagTLSCert, t.Client.CertFile, flagTLSKey, t.Client.KeyFile, flagTLSCA, t.Client.CAFile, flagTLSServerName, t.ServerName)
		if group.First().AdminToken() != "" {
			secure += " --" + flagAPIKey + " <the admin token above>"
		}
	}
	fmt.Fprintf(&b, "  devcluster failover --address %s --namespace %s --to %s%s\n", group.First().FrontendAddr(), group.First().Namespaces()[0], names[1], secure)
	return b.String()
}

// stopAll stops the group when there is one, else the cluster.
func stopAll(c *bootstrap.Cluster, group *bootstrap.Clusters) error {
	if group != nil {
		return group.Stop(context.Background())
	}
	return c.Stop(context.Background())
}

func failoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "failover",
		Usage: "make a global namespace active on another cluster (of devcluster start --clusters) and wait until every cluster agrees",
		Description: "The same UpdateNamespace call as `temporal operator namespace update --active-cluster CLUSTER`,\n" +
			"through the frontend at --address (any cluster's), then a wait until every connected cluster\n" +
			"names CLUSTER as active, in its database and its frontend's namespace cache.\n" +
			"Example: devcluster failover --namespace default --to b",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: flagNamespace, Aliases: []string{"n"}, Value: profiles.DefaultNamespace, Usage: "the global namespace to fail over", EnvVars: []string{"TEMPORAL_NAMESPACE"}},
			&cli.StringFlag{Name: flagTo, Required: true, Usage: "the cluster to make active"},
			&cli.DurationFlag{Name: flagTimeout, Value: 30 * time.Second, Usage: "give up after this long"},
		}, connectFlags()...),
		Action:       failoverAction,
		OnUsageError: onUsageError,
	}
}

func failoverAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return cli.Exit(fmt.Sprintf("failover takes no arguments, got %q; flags start with --", c.Args().First()), exitUsage)
	}
	addr, tc, err := connectArgs(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration(flagTimeout))
	defer cancel()
	ns, to := c.String(flagNamespace), c.String(flagTo)
	took, err := clientconn.Failover(ctx, addr, tc, c.String(flagAPIKey), ns, to, bootstrap.SettleAfterAgree)
	if err != nil {
		if errors.Is(err, bootstrap.ErrNotGlobal) {
			return cli.Exit(err.Error()+"; only the namespaces of devcluster start --clusters (or registered as global) fail over", exitUsage)
		}
		return cli.Exit(clientconn.Explain(addr, err).Error(), exitRuntime)
	}
	fmt.Fprintf(c.App.Writer, "namespace %s is active on %s; every cluster agrees (%s)\n", ns, to, took.Round(time.Millisecond))
	return nil
}
