package services

import (
	"context"
	"strings"
	"sync"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"
	"google.golang.org/grpc"

	"github.com/devcluster/devcluster/dynamicconfig"
)

// system.forceSearchAttributesCacheRefreshOnRead (set by devcluster's
// defaults, as by the Temporal CLI) makes the server read a namespace's
// search-attribute aliases from the database, under one process-wide lock,
// each time it maps them (nsregistry GetCustomSearchAttributesMapper: every
// visibility write, every start that carries search attributes), and the
// cluster's search-attribute types likewise. It exists so that an attribute
// added a moment ago is usable at once: without it a service sees the new
// alias only at its namespace registry's next refresh
// (system.namespaceCacheRefreshInterval, 2 s). Under the bench load it cost
// 12% of the throughput and was 88% of the mutex profile's contention, a
// convoy of visibility writers on that lock.
//
// freshReads keeps the setting's effect where it is needed: the server
// reads it false, except from the start of a call that changes namespaces
// or search attributes until window after the last such call ends, by when
// every service's namespace registry has refreshed. It holds the value in
// the dynamic-config client's gate layer, above every other layer; the
// config key server.fresh-reads-after-change turns it off.

// FreshReadsKey is the setting freshReads manages.
const FreshReadsKey = "system.forceSearchAttributesCacheRefreshOnRead"

// namespaceChangeMethods are the frontend methods (of any service) after
// which aliases must be read fresh.
var namespaceChangeMethods = map[string]bool{
	"RegisterNamespace": true, "UpdateNamespace": true, "DeleteNamespace": true,
	"AddSearchAttributes": true, "RemoveSearchAttributes": true,
}

type freshReads struct {
	dyn    *dynamicconfig.Client
	window time.Duration

	mu     sync.Mutex
	active int // change calls in progress
	gen    int // counts change calls; a timer closes the gate only if none came after it
}

// newFreshReads returns the gate with cached reads in force.
func newFreshReads(dyn *dynamicconfig.Client, window time.Duration) *freshReads {
	f := &freshReads{dyn: dyn, window: window}
	f.readCached()
	return f
}

// readCached makes the server read search-attribute aliases from its
// namespace registry's cache (the setting false in the gate layer).
func (f *freshReads) readCached() {
	f.dyn.SetLayer(dynamicconfig.LayerGate, dc.ConfigValueMap{
		dc.MakeKey(FreshReadsKey): {{Value: false}},
	})
}

// intercept is a frontend unary interceptor.
func (f *freshReads) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !namespaceChangeMethods[info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]] {
		return handler(ctx, req)
	}
	f.mu.Lock()
	f.active++
	f.gen++
	f.dyn.SetLayer(dynamicconfig.LayerGate, nil) // the configured value (fresh reads) applies
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		gen := f.gen
		f.mu.Unlock()
		time.AfterFunc(f.window, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.active == 0 && f.gen == gen {
				f.readCached()
			}
		})
	}()
	return handler(ctx, req)
}

// freshReadsWindow is how long after a change the setting stays in force:
// two namespace-registry refreshes and a second.
func freshReadsWindow(values map[string]any) time.Duration {
	refresh := 2 * time.Second
	if s, ok := values["system.namespaceCacheRefreshInterval"].(string); ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			refresh = d
		}
	}
	return 2*refresh + time.Second
}
