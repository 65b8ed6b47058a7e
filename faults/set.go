package faults

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Set is the rules in force on one cluster: a file's (SetFile) and those
// added by code (Add), the code's first. It is safe for concurrent use and
// costs one atomic load per call while it has no rules.
type Set struct {
	seed     int64
	onInject func(rule string)

	mu     sync.Mutex
	file   []*rule
	added  map[int][]*rule
	nextID int
	nsIDs  map[string]string // namespace name -> ID, for persistence rules

	active atomic.Pointer[snapshot] // what the calls read, without a lock
}

// snapshot is the rules in force (code's, then the file's) and the
// namespace IDs known, as published for the calls.
type snapshot struct {
	rules []*rule
	nsIDs map[string]string
}

// rule is a Rule in force, with the state its draws keep.
type rule struct {
	Rule
	lo, hi  time.Duration
	code    codes.Code
	rate    float64
	counted bool

	mu   sync.Mutex
	rng  *rand.Rand
	left int
	hits atomic.Int64
}

// NewSet returns an empty set whose draws start from seed (a file's own
// seed, if it has one, takes over). onInject, if set, is told each
// injected fault's rule (for the metrics).
func NewSet(seed int64, onInject func(rule string)) *Set {
	return &Set{seed: seed, onInject: onInject, added: map[int][]*rule{}, nsIDs: map[string]string{}}
}

// Seed is the seed draws start from.
func (s *Set) Seed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seed
}

// SetFile puts f's rules in force in place of the file's earlier ones
// (checked rules: see ParseFile). A rule that is the same as before keeps
// its state (its draws, what is left of its count).
func (s *Set) SetFile(f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Seed != nil && *f.Seed != s.seed {
		s.seed, s.file = *f.Seed, nil // new draws for every rule
	}
	old := map[string]*rule{}
	for _, r := range s.file {
		old[r.Name] = r
	}
	var next []*rule
	for _, r := range f.Rules {
		if o, ok := old[r.Name]; ok && reflect.DeepEqual(o.Rule, r) {
			next = append(next, o)
			continue
		}
		next = append(next, s.compile(r))
	}
	s.file = next
	s.publish()
}

// Add puts rules (checked with Check) in force until the returned remove
// is called.
func (s *Set) Add(rules []Rule) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	var rs []*rule
	for _, r := range rules {
		rs = append(rs, s.compile(r))
	}
	s.added[id] = rs
	s.publish()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.added, id)
		s.publish()
	}
}

// SetNamespaceIDs tells the set the IDs of namespaces by name: the
// persistence layer knows a call's namespace by ID only.
func (s *Set) SetNamespaceIDs(ids map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, id := range ids {
		s.nsIDs[name] = id
	}
	s.publish()
}

// Namespaces lists the namespaces the rules in force are scoped to.
func (s *Set) Namespaces() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.rules() {
		if r.Namespace != "" && !seen[r.Namespace] {
			seen[r.Namespace] = true
			out = append(out, r.Namespace)
		}
	}
	return out
}

// Unresolved lists the namespaces the rules in force are scoped to whose
// IDs the set does not know.
func (s *Set) Unresolved() []string {
	var out []string
	known := s.snapshot().nsIDs
	for _, name := range s.Namespaces() {
		if _, ok := known[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// Active describes a rule in force.
type Active struct {
	Rule
	Source string `json:"source"` // "file" or "code"
	Hits   int64  `json:"hits"`   // faults it injected
}

// Active lists the rules in force, code's first.
func (s *Set) Active() []Active {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Active
	for id := 0; id < s.nextID; id++ {
		for _, r := range s.added[id] {
			out = append(out, Active{Rule: r.Rule, Source: "code", Hits: r.hits.Load()})
		}
	}
	for _, r := range s.file {
		out = append(out, Active{Rule: r.Rule, Source: "file", Hits: r.hits.Load()})
	}
	return out
}

func (s *Set) compile(r Rule) *rule {
	c := &rule{Rule: r, rate: 1}
	c.lo, c.hi, _ = parseLatency(r.Latency)
	if r.Latency == "" {
		c.lo, c.hi = 0, 0
	}
	if r.Status != "" {
		c.code, _ = statusCode(r.Status)
	}
	if r.Rate != nil {
		c.rate = *r.Rate
	}
	if r.Count > 0 {
		c.counted, c.left = true, r.Count
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(r.Name))
	c.rng = rand.New(rand.NewSource(s.seed ^ int64(h.Sum64())))
	return c
}

// publish makes the rules in force visible to the calls; under s.mu.
func (s *Set) publish() {
	var all []*rule
	for id := 0; id < s.nextID; id++ {
		all = append(all, s.added[id]...)
	}
	all = append(all, s.file...)
	s.active.Store(&snapshot{rules: all, nsIDs: maps.Clone(s.nsIDs)})
}

func (s *Set) snapshot() *snapshot {
	if p := s.active.Load(); p != nil {
		return p
	}
	return &snapshot{}
}

func (s *Set) rules() []*rule { return s.snapshot().rules }

// fire draws whether r hits this call, and counts it.
func (s *Set) fire(r *rule) bool {
	r.mu.Lock()
	hit := false
	switch {
	case r.counted:
		if r.left > 0 {
			r.left--
			hit = true
		}
	case r.rate >= 1:
		hit = true
	case r.rate > 0:
		hit = r.rng.Float64() < r.rate
	}
	r.mu.Unlock()
	if hit {
		r.hits.Add(1)
		if s.onInject != nil {
			s.onInject(r.Name)
		}
	}
	return hit
}

// delay draws r's latency.
func (r *rule) delay() time.Duration {
	if r.hi <= r.lo {
		return r.lo
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lo + time.Duration(r.rng.Int63n(int64(r.hi-r.lo)+1))
}

// Empty reports whether no rule is in force.
func (s *Set) Empty() bool { return len(s.rules()) == 0 }

// SystemNamespace is the server's own namespace (its system workflows): a
// rule without a namespace spares it (else such a rule could keep a
// cluster from ever becoming ready); a rule that names it applies.
const SystemNamespace = "temporal-system"

// Frontend is the fault for a WorkflowService call of method in namespace:
// a delay before it, and an error to answer with instead (nil: the call
// runs).
func (s *Set) Frontend(method, namespace string) (time.Duration, error) {
	for _, r := range s.rules() {
		if r.Frontend == nil || (r.Frontend.Method != "*" && r.Frontend.Method != method) ||
			(r.Namespace != "" && r.Namespace != namespace) || (r.Namespace == "" && namespace == SystemNamespace) || !s.fire(r) {
			continue
		}
		var err error
		if r.Status != "" {
			err = status.Errorf(r.code, "devcluster fault rule %q: %s on %s", r.Name, r.Status, method)
		}
		return r.delay(), err
	}
	return 0, nil
}

// Persistence is the fault for a call of store's method for namespaceID
// ("" when the call names none) on shard (0: none), system telling whether
// that is SystemNamespace's: a delay before it and an error kind
// (PersistenceErrors; "": the call runs), and the rule's name.
func (s *Set) Persistence(store, method, namespaceID string, system bool, shard int32) (delay time.Duration, kind, name string) {
	snap := s.snapshot()
	if len(snap.rules) == 0 {
		return 0, "", ""
	}
	for _, r := range snap.rules {
		p := r.Persistence
		if p == nil || (p.Store != "*" && p.Store != store) || (p.Method != "*" && p.Method != method) ||
			(r.Shard != 0 && r.Shard != shard) || (r.Namespace == "" && system) {
			continue
		}
		if r.Namespace != "" {
			if id, ok := snap.nsIDs[r.Namespace]; !ok || id != namespaceID {
				continue
			}
		}
		if !s.fire(r) {
			continue
		}
		return r.delay(), r.Error, r.Name
	}
	return 0, "", ""
}

// Interceptor applies the frontend rules to the WorkflowService calls it
// sees; other services' calls pass.
func (s *Set) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if len(s.rules()) == 0 {
			return handler(ctx, req)
		}
		svc, method, _ := strings.Cut(strings.TrimPrefix(info.FullMethod, "/"), "/")
		if !strings.HasSuffix(svc, ".WorkflowService") {
			return handler(ctx, req)
		}
		ns := ""
		if r, ok := req.(interface{ GetNamespace() string }); ok {
			ns = r.GetNamespace()
		}
		d, err := s.Frontend(method, ns)
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// String describes a rule in one line, for logs and the banner.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Name + ": ")
	if r.Frontend != nil {
		fmt.Fprintf(&b, "frontend %s", r.Frontend.Method)
	} else if r.Persistence != nil {
		fmt.Fprintf(&b, "persistence %s.%s", r.Persistence.Store, r.Persistence.Method)
	}
	if r.Namespace != "" {
		fmt.Fprintf(&b, " in %s", r.Namespace)
	}
	if r.Shard != 0 {
		fmt.Fprintf(&b, " shard %d", r.Shard)
	}
	for _, what := range []string{r.Error, r.Status} {
		if what != "" {
			b.WriteString(" -> " + what)
		}
	}
	if r.Latency != "" {
		b.WriteString(" +" + r.Latency)
	}
	switch {
	case r.Count > 0:
		fmt.Fprintf(&b, ", next %d calls", r.Count)
	case r.Rate != nil:
		fmt.Fprintf(&b, ", rate %g", *r.Rate)
	}
	return b.String()
}
