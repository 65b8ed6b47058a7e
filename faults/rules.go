// Package faults is failure on purpose: rules that make a running
// cluster's frontend refuse or slow down calls, and its persistence layer
// fail or slow down store methods, scoped to a namespace (or a shard) and
// drawn at a rate or for a count, from a seed so a run can be replayed.
//
// Rules come from a YAML file that reloads while the cluster runs (a bad
// edit keeps the last good rules), and from code (Set.Add, for tests that
// share a cluster). The frontend's side is a gRPC interceptor (Interceptor);
// the persistence side is asked by the server's persistence fault
// injection (package services turns a kind into the server's error). It
// imports nothing of the server: what the server has (stores, methods) is
// given to it as a Catalog.
package faults

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"

	"github.com/devcluster/devcluster/internal/suggest"
)

// PersistenceErrors are the error kinds a persistence rule may inject: the
// server's own (its fault injection's names), each the error a real store
// returns in that case.
var PersistenceErrors = []string{"Timeout", "DeadlineExceeded", "ResourceExhausted", "Unavailable", "ShardOwnershipLost"}

// Catalog is what the server has that rules may name: its data stores
// with their methods, and the frontend's WorkflowService methods.
type Catalog struct {
	Stores   map[string][]string
	Frontend []string
}

// Rule is one fault rule, as written in a file.
type Rule struct {
	Name        string       `yaml:"name" json:"name,omitempty"`
	Frontend    *FrontendAt  `yaml:"frontend,omitempty" json:"frontend,omitempty"`
	Persistence *StoreMethod `yaml:"persistence,omitempty" json:"persistence,omitempty"`
	// Error is a persistence error kind (PersistenceErrors).
	Error string `yaml:"error,omitempty" json:"error,omitempty"`
	// Status is the gRPC status code name a frontend rule answers with.
	Status string `yaml:"status,omitempty" json:"status,omitempty"`
	// Latency is a delay before the call: "200ms", or "100ms-300ms" for
	// one drawn in that range.
	Latency string `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Rate is the share of matching calls the rule hits (0-1; default 1);
	// Count, instead, hits the next Count matching calls.
	Rate  *float64 `yaml:"rate,omitempty" json:"rate,omitempty"`
	Count int      `yaml:"count,omitempty" json:"count,omitempty"`
	// Namespace limits the rule to one namespace's calls; Shard (a
	// persistence rule's) to one history shard's.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Shard     int32  `yaml:"shard,omitempty" json:"shard,omitempty"`
}

// FrontendAt names WorkflowService calls: a method, or "*".
type FrontendAt struct {
	Method string `yaml:"method" json:"method,omitempty"`
}

// StoreMethod names persistence calls: a store and a method, either "*".
type StoreMethod struct {
	Store  string `yaml:"store" json:"store,omitempty"`
	Method string `yaml:"method" json:"method,omitempty"`
}

// File is a faults file: an optional seed and the rules.
type File struct {
	Seed  *int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	Rules []Rule `yaml:"rules" json:"rules,omitempty"`
}

// Error is a faults file's (or rules') problems, one line each.
type Error struct {
	Where    string // "faults file F" or "testutil.WithFaults"
	Problems []string
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = e.Where + ": " + p
	}
	return strings.Join(lines, "\n")
}

// ErrFaults is matched (errors.Is) by every *Error.
var ErrFaults = errors.New("bad fault rules")

func (e *Error) Is(target error) bool { return target == ErrFaults }

// ParseFile reads a faults file's contents; where names it in errors.
func ParseFile(where string, b []byte, cat Catalog) (File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err.Error() != "EOF" {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:"), "\n", " ")), " ")
		return File{}, &Error{Where: where, Problems: []string{"is not a faults file: " + msg +
			"; write seed: N (optional) and rules: a list of {name, frontend: {method} or persistence: {store, method}, error, status, latency, rate or count, namespace}"}}
	}
	if err := Check(where, f.Rules, cat); err != nil {
		return File{}, err
	}
	return f, nil
}

// Check validates rules against cat: every name the server would take,
// before it reaches the server (whose own parser panics on an unknown
// error kind).
func Check(where string, rules []Rule, cat Catalog) error {
	var problems []string
	seen := map[string]bool{}
	for i, r := range rules {
		id := fmt.Sprintf("rule %d", i+1)
		if r.Name != "" {
			id = fmt.Sprintf("rule %q", r.Name)
		}
		bad := func(format string, args ...any) { problems = append(problems, id+": "+fmt.Sprintf(format, args...)) }
		switch {
		case r.Name == "":
			bad("has no name; give each rule a unique name (it appears in logs and metrics)")
		case seen[r.Name]:
			bad("the name is used twice; give each rule its own")
		}
		seen[r.Name] = true
		switch {
		case (r.Frontend == nil) == (r.Persistence == nil):
			bad("give exactly one of frontend: {method: M} or persistence: {store: S, method: M}")
			continue
		case r.Frontend != nil:
			if r.Frontend.Method != "*" && !slices.Contains(cat.Frontend, r.Frontend.Method) {
				bad("frontend.method %q is not a WorkflowService method; use \"*\" or a method such as StartWorkflowExecution%s", r.Frontend.Method, suggest.Hint(r.Frontend.Method, cat.Frontend))
			}
			if r.Error != "" {
				bad("error %q is for persistence rules; a frontend rule answers with status: CODE (e.g. ResourceExhausted, Unavailable)", r.Error)
			}
			if r.Status != "" {
				if _, ok := statusCode(r.Status); !ok || r.Status == "OK" {
					bad("status %q is not a gRPC status code; use one of %s", r.Status, strings.Join(statusNames(), ", "))
				}
			}
			if r.Shard != 0 {
				bad("shard is for persistence rules; a frontend rule may have a namespace")
			}
		default:
			stores := make([]string, 0, len(cat.Stores))
			for s := range cat.Stores {
				stores = append(stores, s)
			}
			sort.Strings(stores)
			methods, ok := cat.Stores[r.Persistence.Store]
			switch {
			case r.Persistence.Store == "*":
				var all []string
				for _, ms := range cat.Stores {
					all = append(all, ms...)
				}
				if m := r.Persistence.Method; m != "*" && !slices.Contains(all, m) {
					bad("persistence.method %q is no store's method; use \"*\" or a method of a store%s", m, suggest.Hint(m, all))
				}
			case !ok:
				bad("persistence.store %q is not a data store; use \"*\" or one of %s%s", r.Persistence.Store, strings.Join(stores, ", "), suggest.Hint(r.Persistence.Store, stores))
			case r.Persistence.Method != "*" && !slices.Contains(methods, r.Persistence.Method):
				bad("persistence.method %q is not a method of %s; use \"*\" or one of its %d methods, e.g. %s%s", r.Persistence.Method, r.Persistence.Store,
					len(methods), strings.Join(methods[:min(3, len(methods))], ", "), suggest.Hint(r.Persistence.Method, methods))
			}
			if r.Status != "" {
				bad("status %q is for frontend rules; a persistence rule fails with error: KIND (%s)", r.Status, strings.Join(PersistenceErrors, ", "))
			}
			switch {
			case r.Error == "ExecuteAndTimeout":
				bad("error ExecuteAndTimeout (the call runs, then times out) is not available for rules that reload: the server offers it only in its static config; use Timeout")
			case r.Error != "" && !slices.Contains(PersistenceErrors, r.Error):
				bad("error %q is not a persistence error kind; use one of %s%s", r.Error, strings.Join(PersistenceErrors, ", "), suggest.Hint(r.Error, PersistenceErrors))
			}
		}
		if r.Error == "" && r.Status == "" && r.Latency == "" {
			bad("does nothing: give error (persistence), status (frontend) or latency")
		}
		if r.Latency != "" {
			if _, _, err := parseLatency(r.Latency); err != nil {
				bad("latency %q: %v; write e.g. 200ms, or 100ms-300ms for a range", r.Latency, err)
			}
		}
		switch {
		case r.Rate != nil && r.Count != 0:
			bad("give rate (a share of the calls) or count (the next N calls), not both")
		case r.Rate != nil && (*r.Rate < 0 || *r.Rate > 1):
			bad("rate %v is outside 0-1; e.g. rate: 0.05 hits one call in twenty", *r.Rate)
		case r.Count < 0:
			bad("count %d is negative; count: N hits the next N matching calls", r.Count)
		}
		if r.Shard < 0 {
			bad("shard %d is not a shard (shards are numbered from 1)", r.Shard)
		}
	}
	if len(problems) > 0 {
		return &Error{Where: where, Problems: problems}
	}
	return nil
}

// parseLatency reads "200ms" or "100ms-300ms".
func parseLatency(s string) (lo, hi time.Duration, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = time.ParseDuration(strings.TrimSpace(a)); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = time.ParseDuration(strings.TrimSpace(b)); err != nil {
			return 0, 0, err
		}
	}
	if lo < 0 || hi < lo {
		return 0, 0, errors.New("not a delay, or a range whose end comes before its start")
	}
	return lo, hi, nil
}

// statusCode returns the gRPC code named name ("ResourceExhausted").
func statusCode(name string) (codes.Code, bool) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if codeName(c) == name {
			return c, true
		}
	}
	return 0, false
}

// codeName is a code's name as written in rules: "ResourceExhausted" (the
// Go constant's name; String() gives the same).
func codeName(c codes.Code) string { return c.String() }

func statusNames() []string {
	var out []string
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		out = append(out, codeName(c))
	}
	return out
}
