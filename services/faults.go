package services

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/primitives"

	"github.com/devcluster/devcluster/faults"
)

// The server's fault injection wraps each data store of the default store
// in a layer that asks an injector before every call (package
// common/persistence/faultinjection); devcluster's injector asks the
// cluster's fault rules (package faults).

// storeInterfaces are the data stores the server's fault injection wraps,
// by the names rules use (config.*StoreName).
var storeInterfaces = map[config.DataStoreName]reflect.Type{
	config.ShardStoreName:         reflect.TypeFor[persistence.ShardStore](),
	config.TaskStoreName:          reflect.TypeFor[persistence.TaskStore](),
	config.MetadataStoreName:      reflect.TypeFor[persistence.MetadataStore](),
	config.ExecutionStoreName:     reflect.TypeFor[persistence.ExecutionStore](),
	config.QueueName:              reflect.TypeFor[persistence.Queue](),
	config.QueueV2Name:            reflect.TypeFor[persistence.QueueV2](),
	config.ClusterMDStoreName:     reflect.TypeFor[persistence.ClusterMetadataStore](),
	config.NexusEndpointStoreName: reflect.TypeFor[persistence.NexusEndpointStore](),
}

// FaultCatalog is what fault rules may name in this server: its stores and
// their methods, and the frontend's WorkflowService methods.
var FaultCatalog = sync.OnceValue(func() faults.Catalog {
	cat := faults.Catalog{Stores: map[string][]string{}}
	for name, t := range storeInterfaces {
		var methods []string
		for i := range t.NumMethod() {
			if m := t.Method(i).Name; m != "Close" && m != "GetName" {
				methods = append(methods, m)
			}
		}
		sort.Strings(methods)
		cat.Stores[string(name)] = methods
	}
	t := reflect.TypeFor[workflowservice.WorkflowServiceServer]()
	for i := range t.NumMethod() {
		cat.Frontend = append(cat.Frontend, t.Method(i).Name)
	}
	sort.Strings(cat.Frontend)
	return cat
})

// faultInjection is the default store's fault injection: set's rules,
// asked before every call of its data stores.
func faultInjection(set *faults.Set) *config.FaultInjection {
	return &config.FaultInjection{Injector: func(target config.FaultInjectionTarget) error {
		if set.Empty() {
			return nil
		}
		nsID, shard := requestScope(target.Request)
		delay, kind, rule := set.Persistence(string(target.Store), target.Method, nsID, nsID == primitives.SystemNamespaceID, shard)
		if delay > 0 {
			time.Sleep(delay) // the wrapper gives the injector no context
		}
		if kind == "" {
			return nil
		}
		return persistenceFault(kind, fmt.Sprintf("devcluster fault rule %q: %s at %s.%s", rule, kind, target.Store, target.Method))
	}}
}

// persistenceFault is the error a real store returns for kind (the server's
// own fault injection's choices).
func persistenceFault(kind, msg string) error {
	switch kind {
	case "ShardOwnershipLost":
		return &persistence.ShardOwnershipLostError{Msg: msg}
	case "DeadlineExceeded":
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case "ResourceExhausted":
		return &serviceerror.ResourceExhausted{Cause: enumspb.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED,
			Scope: enumspb.RESOURCE_EXHAUSTED_SCOPE_SYSTEM, Message: msg}
	case "Unavailable":
		return serviceerror.NewUnavailable(msg)
	default: // Timeout
		return &persistence.TimeoutError{Msg: msg}
	}
}

// requestScope finds a store request's namespace ID and shard: a
// NamespaceID or ShardID field of the request, or of a struct field of it
// (an update's mutation names the namespace).
func requestScope(req any) (namespaceID string, shard int32) {
	v := reflect.ValueOf(req)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return "", 0
	}
	namespaceID, shard = scopeFields(v)
	if namespaceID == "" {
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() == reflect.Pointer && !f.IsNil() {
				f = f.Elem()
			}
			if f.Kind() == reflect.Struct && v.Type().Field(i).IsExported() {
				if id, _ := scopeFields(f); id != "" {
					namespaceID = id
					break
				}
			}
		}
	}
	return namespaceID, shard
}

func scopeFields(v reflect.Value) (namespaceID string, shard int32) {
	if f := v.FieldByName("NamespaceID"); f.IsValid() && f.Kind() == reflect.String {
		namespaceID = f.String()
	}
	if f := v.FieldByName("ShardID"); f.IsValid() && f.Kind() == reflect.Int32 {
		shard = int32(f.Int())
	}
	return namespaceID, shard
}
