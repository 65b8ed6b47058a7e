// Package portsfile is the schema of the file `devcluster start
// --ports-file` writes once a cluster is ready: one home for the JSON
// that scripts, the supervisor of --nodes (package nodes), the CLI's tests
// and the bench read, and for how it is written (Write).
package portsfile

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/devcluster/devcluster/internal/atomicfile"
	"github.com/devcluster/devcluster/internal/oserr"
)

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
	Clusters map[string]Cluster `json:"clusters,omitempty"`
	// TLS, when the cluster takes mutual TLS, names the files a client
	// needs.
	TLS *TLS `json:"tls,omitempty"`
	// Node, on a process that is one node of a cluster spread over
	// several (ringpop membership), says what it runs and what the
	// cluster had when it became ready.
	Node *Node `json:"node,omitempty"`
}

// TLS is what a client of a mutual-TLS cluster presents and checks.
type TLS struct {
	ClientCert string `json:"client_cert"`
	ClientKey  string `json:"client_key"`
	CA         string `json:"ca"`
	ServerName string `json:"server_name"`
	// CertDir holds the certificates (with several processes, the
	// cluster's shared CA).
	CertDir string `json:"cert_dir,omitempty"`
	// Auth says the frontend wants a token too; `devcluster token
	// --cert-dir KEY_DIR` mints one with the signing key in KeyDir.
	Auth   bool   `json:"auth,omitempty"`
	KeyDir string `json:"key_dir,omitempty"`
}

// Cluster is one cluster's entry under "clusters".
type Cluster struct {
	Frontend string            `json:"frontend"`
	HTTP     string            `json:"http,omitempty"`
	UI       string            `json:"ui,omitempty"`
	Metrics  string            `json:"metrics,omitempty"`
	Services map[string]string `json:"services"`
}

// Node describes one node of a cluster whose roles run in several
// processes.
type Node struct {
	// Runs lists the roles this process runs.
	Runs []string `json:"runs"`
	// Membership has the ringpop address of each role it runs.
	Membership map[string]string `json:"membership"`
	// Members has, per role, the ringpop addresses of the cluster's live
	// members (this node's included) when the file was written.
	Members map[string][]string `json:"members"`
	// WaitingFor lists the serving roles the cluster had no member of.
	WaitingFor []string `json:"waiting_for,omitempty"`
}

// Nodes is what --ports-file receives with --nodes.
type Nodes struct {
	// Frontend, HTTP and UI are those of the first node with a frontend.
	Frontend   string        `json:"frontend"`
	HTTP       string        `json:"http,omitempty"`
	UI         string        `json:"ui,omitempty"`
	Namespaces []string      `json:"namespaces"`
	TLS        *TLS          `json:"tls,omitempty"`
	Nodes      []NodeOfNodes `json:"nodes"`
}

// NodeOfNodes is one node in Nodes.
type NodeOfNodes struct {
	Name string   `json:"name"`
	Runs []string `json:"runs"`
	// PID is the node's process; 0 while it is not running, or restarted
	// but not ready yet.
	PID      int `json:"pid"`
	Restarts int `json:"restarts,omitempty"`
	// Exited is the exit status of its last run, while it is not running.
	Exited string `json:"exited,omitempty"`
	// Ports is the node's own ports file (see Ports), from its last ready run.
	Ports json.RawMessage `json:"ports"`
}

// Read reads the ports file of one process at path. A file that is not
// complete JSON, or names neither a frontend nor a node, is an error.
func Read(path string) (Ports, error) {
	var p Ports
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("ports file %s: %w", path, err)
	}
	if p.Frontend == "" && p.Node == nil {
		return p, fmt.Errorf("ports file %s names neither a frontend nor a node: %q", path, b)
	}
	return p, nil
}

// Write writes v (Ports, or Nodes) to path as indented JSON, whole or not
// at all (a temporary file renamed over path), so a script never reads
// half a file. Its error says what to do, for a message naming the
// ports-file key.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot be written: %v; choose a path in a writable directory", oserr.Cause(err))
	}
	return nil
}
