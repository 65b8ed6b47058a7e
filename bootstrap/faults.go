package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/devcluster/devcluster/faults"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
	"github.com/devcluster/devcluster/services"
)

// faultRules are the cluster's fault rules (package faults): faults.file's,
// followed while the cluster runs, and those code adds (testutil). The
// server's frontend and its default store obey them.
type faultRules struct {
	set         *faults.Set
	persistence bool // the data stores obey rules too
	path        string
	rules       []map[string]any // faults.rules
	logger      *slog.Logger
	srv         *services.Server

	w *faults.Watcher

	mu     sync.Mutex
	warned map[string]bool // namespaces said to be missing
	quit   chan struct{}   // ends the namespace resolution; nil when not running
	done   chan struct{}
}

func newFaultRules(cfg profiles.Config, logger *slog.Logger, obs *observer) *faultRules {
	seed := cfg.Faults.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return &faultRules{set: faults.NewSet(seed, obs.faultInjected), persistence: cfg.Faults.PersistenceFaults(), path: cfg.Faults.File, rules: cfg.Faults.Rules,
		logger: logger.With("component", "faults")}
}

// start loads faults.file, if any, and follows it. A bad file stops the
// start: a run should not begin with faults its owner did not mean. (The
// sequence calls start and stop one after the other: w needs no lock.)
func (f *faultRules) start(context.Context) (err error) {
	if len(f.rules) > 0 {
		b, err := yaml.Marshal(map[string]any{"rules": f.rules})
		if err != nil {
			return &faults.Error{Where: "faults.rules", Problems: []string{err.Error()}}
		}
		parsed, err := faults.ParseFile("faults.rules", b, services.FaultCatalog())
		if err != nil {
			return err
		}
		f.set.Add(parsed.Rules) // for the whole run
	}
	if f.path != "" {
		f.w, err = faults.WatchFile(f.path, f.set, services.FaultCatalog(), f.logger, nil)
	}
	return err
}

func (f *faultRules) stop(context.Context) error {
	if f.w == nil {
		return nil
	}
	defer func() { f.w = nil }()
	return f.w.Close()
}

// resolveEvery is how often the IDs of namespaces rules name but the
// server did not know yet are asked for (a namespace a test registers).
const resolveEvery = time.Second

// startResolving keeps the set told the IDs of the namespaces its rules
// name (the persistence layer knows a call's namespace by ID only): now,
// and every resolveEvery for names still unknown.
func (f *faultRules) startResolving(ctx context.Context) error {
	f.resolve(ctx)
	f.mu.Lock()
	f.quit, f.done = make(chan struct{}), make(chan struct{})
	quit, done := f.quit, f.done
	f.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(resolveEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				f.resolve(ctx)
				cancel()
			}
		}
	}()
	return nil
}

func (f *faultRules) stopResolving(context.Context) error {
	f.mu.Lock()
	quit, done := f.quit, f.done
	f.quit = nil
	f.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
	return nil
}

// resolve asks the server for the IDs of the namespaces the rules name
// that the set does not know yet.
func (f *faultRules) resolve(ctx context.Context) {
	names := f.set.Unresolved()
	if len(names) == 0 || f.srv == nil {
		return
	}
	ids, missing, err := f.srv.NamespaceIDs(ctx, names)
	if err != nil && !errors.Is(err, context.Canceled) {
		f.logger.Debug("fault rules: namespace IDs not read", "err", err)
	}
	f.set.SetNamespaceIDs(ids)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range missing {
		if !f.warned[name] {
			if f.warned == nil {
				f.warned = map[string]bool{}
			}
			f.warned[name] = true
			f.logger.Warn("fault rules name a namespace that does not exist (yet); they apply once it does", "namespace", name)
		}
	}
}

// Faults returns the cluster's fault rules: Add puts rules in force (check
// them with CheckFaults first) until their remove is called.
func (c *Cluster) Faults() *faults.Set { return c.faults.set }

// ParseFaultsFile reads and checks a faults file against this server's
// stores and methods (`devcluster faults check`).
func ParseFaultsFile(path string) (faults.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return faults.File{}, &faults.Error{Where: "faults file " + path, Problems: []string{"cannot be read: " + oserr.Cause(err).Error()}}
	}
	return faults.ParseFile("faults file "+path, b, services.FaultCatalog())
}

// CheckFaults checks rules against this server's stores and methods; where
// names them in errors.
func CheckFaults(where string, rules []faults.Rule) error {
	return faults.Check(where, rules, services.FaultCatalog())
}

// InjectFaults checks rules and puts them in force until remove is called;
// the namespaces they name are resolved before it returns.
func (c *Cluster) InjectFaults(ctx context.Context, where string, rules []faults.Rule) (remove func(), err error) {
	if err := CheckFaults(where, rules); err != nil {
		return nil, err
	}
	if !c.faults.persistence {
		for _, r := range rules {
			if r.Persistence != nil {
				return nil, &faults.Error{Where: where, Problems: []string{fmt.Sprintf("rule %q: this cluster's data stores take no fault rules: start it with faults.persistence (testutil.WithFaults does), faults.file or faults.rules", r.Name)}}
			}
		}
	}
	remove = c.faults.set.Add(rules)
	c.faults.resolve(ctx)
	return remove, nil
}
