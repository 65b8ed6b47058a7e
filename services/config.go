package services

import (
	"net"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"

	"github.com/devcluster/devcluster/profiles"
)

// advertiseIP is the address other services and clients dial: the bind IP,
// or loopback when binding to every interface.
func advertiseIP(ip string) string {
	switch ip {
	case "", "localhost", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return ip
}

// bindIP rewrites "localhost", which the server does not accept as bindOnIP.
func bindIP(ip string) string {
	if ip == "localhost" || ip == "" {
		return "127.0.0.1"
	}
	return ip
}

// hostPort joins an IP and a port, bracketing IPv6.
func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// StaticConfig turns a resolved devcluster config (every port chosen) into
// the server's static config. It is a pure function: the same input gives the
// same output, which `config export` prints and tests compare.
func StaticConfig(cfg profiles.Config, sqlCfg *config.SQL) *config.Config {
	adv := advertiseIP(cfg.IP)
	fe := cfg.Services.Frontend

	svcs := make(map[string]config.Service, len(profiles.ServiceNames))
	for _, name := range profiles.ServiceNames {
		s := cfg.Services.Get(name)
		rpc := config.RPC{
			GRPCPort:       s.GRPCPort,
			MembershipPort: s.MembershipPort,
			BindOnIP:       bindIP(cfg.IP),
		}
		if name == profiles.Frontend && s.HTTPPort > 0 {
			rpc.HTTPPort = s.HTTPPort
		}
		svcs[name] = config.Service{RPC: rpc}
	}

	httpAddr := ""
	if fe.HTTPPort > 0 {
		httpAddr = hostPort(adv, fe.HTTPPort)
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{
				MaxJoinDuration:  30 * time.Second,
				BroadcastAddress: adv,
			},
		},
		Persistence: config.Persistence{
			DefaultStore:     storeName,
			VisibilityStore:  storeName,
			NumHistoryShards: int32(cfg.Persistence.Shards),
			DataStores:       map[string]config.DataStore{storeName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        cfg.Cluster.Name,
			CurrentClusterName:       cfg.Cluster.Name,
			ClusterInformation: map[string]cluster.ClusterInformation{
				cfg.Cluster.Name: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             hostPort(adv, fe.GRPCPort),
					HTTPAddress:            httpAddr,
					ClusterID:              cfg.Cluster.ID,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            svcs,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		PublicClient: config.PublicClient{HostPort: hostPort(adv, fe.GRPCPort)},
	}
}

// staticHosts lists every service at its advertised gRPC address: static
// membership needs no gossip ring, so the cluster is whole the moment each
// service starts.
func staticHosts(cfg profiles.Config) map[primitives.ServiceName]static.Hosts {
	adv := advertiseIP(cfg.IP)
	hosts := make(map[primitives.ServiceName]static.Hosts, len(profiles.ServiceNames))
	for _, name := range profiles.ServiceNames {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(hostPort(adv, cfg.Services.Get(name).GRPCPort))
	}
	return hosts
}
