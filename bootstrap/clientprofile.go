package bootstrap

import (
	"fmt"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/oserr"
)

// clientConfigPath is the TOML file the temporal CLI and SDKs read.
func clientConfigPath() string {
	if p := os.Getenv("TEMPORAL_CONFIG_FILE"); p != "" {
		return p
	}
	return envconfig.DefaultConfigFilePath()
}

// WriteClientProfile adds (or replaces) profile name for this cluster in
// the temporal CLI's and SDKs' client config file (TEMPORAL_CONFIG_FILE, or
// its default path), keeping the other profiles, and returns the file's
// path. Call it once the cluster is ready.
func (c *Cluster) WriteClientProfile(name string) (string, error) {
	path := clientConfigPath()
	if path == "" {
		return "", fmt.Errorf("no client config file: set TEMPORAL_CONFIG_FILE")
	}
	var conf envconfig.ClientConfig
	if b, err := os.ReadFile(path); err == nil {
		if err := conf.FromTOML(b, envconfig.ClientConfigFromTOMLOptions{}); err != nil {
			return "", fmt.Errorf("%s is not a client config file (%v); fix or move it", path, err)
		}
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("%s cannot be read: %v", path, oserr.Cause(err))
	}
	if conf.Profiles == nil {
		conf.Profiles = map[string]*envconfig.ClientConfigProfile{}
	}
	p := &envconfig.ClientConfigProfile{Address: c.FrontendAddr(), Namespace: c.Namespaces()[0]}
	if t, ok := c.TLS(); ok {
		p.TLS = &envconfig.ClientConfigTLS{ClientCertPath: t.Client.CertFile, ClientKeyPath: t.Client.KeyFile,
			ServerCACertPath: t.Client.CAFile, ServerName: t.ServerName}
	}
	if tok := c.AdminToken(); tok != "" {
		if h := clientconn.Header(c.Config().Auth.HeaderName); h != "authorization" {
			// api_key always goes in "authorization".
			p.GRPCMeta = map[string]string{h: "Bearer " + tok}
		} else {
			p.APIKey = tok
		}
	}
	conf.Profiles[name] = p
	b, err := conf.ToTOML(envconfig.ClientConfigToTOMLOptions{})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("%s cannot be created: %v", filepath.Dir(path), oserr.Cause(err))
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return "", fmt.Errorf("%s cannot be written: %v", path, oserr.Cause(err))
	}
	return path, nil
}
