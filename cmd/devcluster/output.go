package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/internal/portsfile"
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
		return nil, nil, fmt.Errorf("cannot be opened for appending: %v; choose a writable path", oserr.Cause(err))
	}
	return f, func() { _ = f.Close() }, nil
}

// stopSignals stop `devcluster start` (one process or the supervisor of
// --nodes) gracefully; a second one exits at once. SIGHUP is one of them:
// a closed terminal or `kill -HUP` would otherwise end the process on the
// spot, leaving the SQLite -wal unfolded, the ports file and the temporary
// key directory behind.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// twoStageStop is Ctrl+C as devcluster start treats it: the first stop
// signal prints first and ends the returned context (the graceful stop);
// a second calls second, unless it is nil (the second is then ignored);
// and, when late is positive, onLate runs that long after the first if the
// process still lives. release stops listening; call it when done.
func twoStageStop(parent context.Context, w io.Writer, first string, second func(), late time.Duration, onLate func()) (ctx context.Context, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	ctx, cancel := context.WithCancel(parent)
	secondSig := (<-chan os.Signal)(sigs)
	if second == nil {
		secondSig = nil
	}
	var lateC <-chan time.Time
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(w, first)
		cancel()
		if late > 0 {
			lateC = time.After(late)
		}
		select {
		case <-secondSig:
			second()
		case <-lateC:
			onLate()
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

// removeStalePortsFile removes path, the --ports-file a run that was killed
// (SIGKILL) left behind, before a start begins: the file appears only once
// this run is ready, so that a script waiting for it (the README's
// `while [ ! -f ports.json ]`) never reads the old run's ports. It refuses
// a directory, and a file it cannot remove, as a ports-file error.
func removeStalePortsFile(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Lstat(path)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return &profiles.FieldError{Key: "ports-file", Value: path, Msg: fmt.Sprintf("cannot be checked: %v; choose a path in a readable directory", oserr.Cause(err))}
	case fi.IsDir():
		return &profiles.FieldError{Key: "ports-file", Value: path, Msg: "is a directory; give the path of a file, e.g. " + filepath.Join(path, "ports.json")}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return &profiles.FieldError{Key: "ports-file", Value: path, Msg: fmt.Sprintf("exists (left by an earlier run) and cannot be removed: %v; remove it, or choose another path", oserr.Cause(err))}
	}
	return nil
}

// The ports file's schema lives in internal/portsfile; these names keep
// the CLI's code and tests short.
type (
	Ports        = portsfile.Ports
	NodePorts    = portsfile.Node
	ClusterPorts = portsfile.Cluster
	NodesPorts   = portsfile.Nodes
	NodesPortsOf = portsfile.NodeOfNodes
)

// writePortsFile writes the cluster's addresses (bootstrap.Ports), whole
// or not at all.
func writePortsFile(path string, c *bootstrap.Cluster, group *bootstrap.Clusters) error {
	return portsfile.Write(path, bootstrap.Ports(c, group))
}

func removeIfExists(dir, name string) error {
	err := os.Remove(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
