package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/profiles"
)

// logWriter returns where logs go: w, or the file named by log.file
// (appended, created 0600).
func logWriter(w io.Writer, file string) (io.Writer, func(), error) {
	if file == "" {
		return w, func() {}, nil
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot be opened for appending: %v; choose a writable path", unwrapPath(err))
	}
	return f, func() { _ = f.Close() }, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Ports is what --ports-file receives: every address a script needs.
type Ports struct {
	Frontend   string            `json:"frontend"`
	HTTP       string            `json:"http,omitempty"`
	Metrics    string            `json:"metrics,omitempty"`
	UI         string            `json:"ui,omitempty"`
	Services   map[string]string `json:"services"`
	Namespaces []string          `json:"namespaces"`
	// Clusters, with --clusters, has every cluster's addresses by name;
	// the keys above are the first cluster's.
	Clusters map[string]ClusterPorts `json:"clusters,omitempty"`
}

// writePortsFile writes the cluster's addresses atomically (a temporary file
// renamed over the target), so a script never reads half a file.
func writePortsFile(path string, c *bootstrap.Cluster, group *bootstrap.Clusters) error {
	p := Ports{Frontend: c.FrontendAddr(), Services: map[string]string{}, Namespaces: c.Namespaces(), Clusters: clusterPorts(group)}
	p.HTTP = c.HTTPAddr()
	p.Metrics = c.MetricsAddr()
	// Without the sign-in token the banner's URL carries with auth on: a
	// ports file is read by scripts and kept as a CI artefact.
	if u, err := url.Parse(c.UIURL()); err == nil && u.Host != "" {
		u.RawQuery = ""
		p.UI = u.String()
	}
	for _, name := range profiles.ServiceNames {
		p.Services[name] = c.ServiceAddr(name)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ports-*.json")
	if err != nil {
		return fmt.Errorf("cannot be written: %v; choose a path in a writable directory", unwrapPath(err))
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("cannot be written: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot be written: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot be written: %v", unwrapPath(err))
	}
	return nil
}

func removeIfExists(dir, name string) error {
	err := os.Remove(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
