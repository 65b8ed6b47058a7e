package services

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/primitives"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/internal/clientconn"
	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/persistence"
	"github.com/devcluster/devcluster/profiles"
)

// dialFrontend connects to this process's frontend as devcluster's own
// calls do (readiness, the namespace list): with the client certificate
// and the token when TLS and auth are on. The caller closes it.
func (s *Server) dialFrontend() (*grpc.ClientConn, error) {
	tc, err := s.cfg.TLS.ClientConfig()
	if err != nil {
		return nil, err
	}
	return clientconn.Dial(s.FrontendAddr(), tc, s.cfg.Auth.HeaderName, s.opts.Token)
}

// FrontendAddr returns the address clients dial (host:port).
func (s *Server) FrontendAddr() string {
	return netaddr.HostPort(netaddr.DialIP(s.cfg.IP), s.cfg.Services.Frontend.GRPCPort)
}

// ServiceAddr returns the gRPC address of the named service.
func (s *Server) ServiceAddr(name string) string {
	svc := s.cfg.Services.Get(name)
	if svc == nil {
		return ""
	}
	return netaddr.HostPort(netaddr.DialIP(s.cfg.IP), svc.GRPCPort)
}

// HTTPAddr returns the frontend's HTTP API address, or "" when it is off.
func (s *Server) HTTPAddr() string {
	if s.cfg.Services.Frontend.HTTPPort <= 0 {
		return ""
	}
	return netaddr.HostPort(netaddr.DialIP(s.cfg.IP), s.cfg.Services.Frontend.HTTPPort)
}

// WaitReady blocks until the cluster is ready: the frontend answers
// GetSystemInfo, every configured namespace is describable, has the
// configured retention and lists every configured search attribute. It
// honours ctx and returns ErrNotReady with the last error when ctx ends
// first.
//
// Two steps: a read-only probe (as Probe), then reconcileNamespaces, the
// one step that writes: it sets the retention and adds the search
// attributes an existing database lacks (CreateNamespaces leaves existing
// namespaces alone). Of a replicating group only the first cluster writes
// (see Replication.reconciles); the others' namespaces are replicated.
//
// With ringpop membership it first waits until the cluster has every
// serving role (see ServingRoles); a node without a frontend is then ready.
func (s *Server) WaitReady(ctx context.Context) error {
	if s.cfg.Ringpop() {
		if err := s.waitMembers(ctx); err != nil {
			return err
		}
		if !s.cfg.Runs(profiles.Frontend) {
			return nil
		}
	}
	conn, err := s.dialFrontend()
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	names := make([]string, len(s.cfg.Namespaces))
	for i, ns := range s.cfg.Namespaces {
		names[i] = ns.Name
	}
	wf := workflowservice.NewWorkflowServiceClient(conn)
	if err := poll(ctx, s.failure, func(ctx context.Context) error { return clientconn.ProbeOnce(ctx, conn, names) }); err != nil {
		return err
	}
	if s.opts.Replication.reconciles(s.cfg.Cluster.Name) {
		op := operatorservice.NewOperatorServiceClient(conn)
		if err := poll(ctx, s.failure, func(ctx context.Context) error { return reconcileNamespaces(ctx, wf, op, s.cfg.Namespaces) }); err != nil {
			return err
		}
	}
	return s.waitSystemWorkflows(ctx, wf)
}

// failure is what ends a wait for readiness at once: a fatal error of the
// server, or a call of its system worker the frontend refused as invalid
// (naming the dynamic-config value behind it when known).
func (s *Server) failure() error {
	if err := s.Err(); err != nil {
		return err
	}
	if s.sys == nil {
		return nil
	}
	if err := s.sys.failure(); err != nil {
		return namedSetting(err, s.cfg.DynamicConfig.Values)
	}
	return nil
}

// waitSystemWorkflows waits until the scanner workflows the worker service
// starts at every start have started: a cluster whose own system
// workflows cannot run is not ready. A refusal ends the wait at once (see
// failure).
//
// With ringpop membership the system worker reaches a frontend through the
// membership, maybe another node's, whose calls this frontend never sees:
// a node then waits until the workflows exist, whichever node started
// them (and a refusal ends the wait only when it passed this frontend).
func (s *Server) waitSystemWorkflows(ctx context.Context, wf workflowservice.WorkflowServiceClient) error {
	if s.sys == nil {
		return nil
	}
	wanted := wantedScannerWorkflows(s.cfg, s.opts.DynamicConfig, s.slog)
	if s.cfg.Ringpop() {
		return poll(ctx, s.failure, func(ctx context.Context) error { return systemWorkflowsExist(ctx, wf, wanted) })
	}
	return poll(ctx, s.failure, func(context.Context) error { return s.sys.check(wanted) })
}

// systemWorkflowsExist returns nil once every workflow ID in ids has an
// execution in the system namespace.
func systemWorkflowsExist(ctx context.Context, wf workflowservice.WorkflowServiceClient, ids []string) error {
	for _, id := range ids {
		_, err := wf.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: primitives.SystemLocalNamespace,
			Execution: &commonpb.WorkflowExecution{WorkflowId: id},
		})
		if err != nil {
			return fmt.Errorf("system workflow %s: %w", id, err)
		}
	}
	return nil
}

// poll is clientconn.Poll that also stops at a *profiles.FieldError (a
// config conflict does not go away by waiting).
func poll(ctx context.Context, fatal func() error, once func(context.Context) error) error {
	return clientconn.Poll(ctx, fatal, func(err error) bool {
		var fe *profiles.FieldError
		return errors.As(err, &fe)
	}, once)
}

// reconcileNamespaces makes each namespace's retention and search
// attributes what the config says, and returns nil once they are; after a
// change it returns an error saying what is under way, and poll calls it
// again to see the change in effect.
func reconcileNamespaces(ctx context.Context, wf workflowservice.WorkflowServiceClient, op operatorservice.OperatorServiceClient, namespaces []profiles.Namespace) error {
	for i, ns := range namespaces {
		desc, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns.Name})
		if err != nil {
			return fmt.Errorf("namespace %q: %w", ns.Name, err)
		}
		want := persistence.Retention(ns)
		if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != want {
			if _, err := wf.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
				Namespace: ns.Name,
				Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(want)},
			}); err != nil {
				return fmt.Errorf("namespace %q: set retention %s: %w", ns.Name, want, err)
			}
			return fmt.Errorf("namespace %q: retention is %s, updating to %s", ns.Name, got, want)
		}
		if err := addSearchAttributes(ctx, op, i, ns); err != nil {
			return err
		}
	}
	return nil
}

// addSearchAttributes adds the configured search attributes namespace ns
// lacks (nil when it has them all); a configured one the namespace has
// with another type is a *profiles.FieldError.
func addSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, i int, ns profiles.Namespace) error {
	if len(ns.SearchAttributes) == 0 {
		return nil
	}
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns.Name})
	if err != nil {
		return fmt.Errorf("namespace %q: list search attributes: %w", ns.Name, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range ns.SearchAttributes {
		want, err := persistence.IndexedValueType(typ)
		if err != nil {
			return err
		}
		got, ok := list.GetCustomAttributes()[name]
		if !ok {
			missing[name] = want
			continue
		}
		if got != want {
			return &profiles.FieldError{Key: fmt.Sprintf("namespaces[%d].search-attributes.%s", i, name), Value: typ,
				Msg: fmt.Sprintf("conflicts with the database, where %s is a %s; a search attribute's type cannot change", name, got)}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns.Name, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		var inv *serviceerror.InvalidArgument
		if errors.As(err, &inv) {
			return &profiles.FieldError{Key: fmt.Sprintf("namespaces[%d].search-attributes", i), Msg: inv.Message}
		}
		return fmt.Errorf("namespace %q: add search attributes: %w", ns.Name, err)
	}
	return fmt.Errorf("namespace %q: %d search attributes being added", ns.Name, len(missing))
}

// NamespaceInfo is a namespace the cluster has, with its custom search
// attributes (name -> type, as "Keyword" or "Int").
type NamespaceInfo struct {
	Name             string
	SearchAttributes map[string]string
}

// NamespaceIDs asks the running cluster for the IDs of the namespaces
// names. missing are those it does not have; err says why others could
// not be read.
func (s *Server) NamespaceIDs(ctx context.Context, names []string) (ids map[string]string, missing []string, err error) {
	conn, err := s.dialFrontend()
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	ids = map[string]string{}
	var errs []error
	for _, name := range names {
		resp, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: name})
		switch {
		case status.Code(err) == codes.NotFound:
			missing = append(missing, name)
		case err != nil:
			errs = append(errs, fmt.Errorf("namespace %s: %w", name, err))
		default:
			ids[name] = resp.GetNamespaceInfo().GetId()
		}
	}
	return ids, missing, errors.Join(errs...)
}

// ListNamespaces asks the running cluster for every namespace it has but
// the system's, with their custom search attributes: on a database file
// that is more than the config names. The configured namespaces come first,
// in config order, then the others by name. It honours ctx.
func (s *Server) ListNamespaces(ctx context.Context) ([]NamespaceInfo, error) {
	conn, err := s.dialFrontend()
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	op := operatorservice.NewOperatorServiceClient(conn)
	var names []string
	var token []byte
	for {
		resp, err := wf.ListNamespaces(ctx, &workflowservice.ListNamespacesRequest{PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		for _, ns := range resp.GetNamespaces() {
			if n := ns.GetNamespaceInfo().GetName(); n != systemNamespace {
				names = append(names, n)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	order := map[string]int{}
	for i, ns := range s.cfg.Namespaces {
		order[ns.Name] = i - len(s.cfg.Namespaces) // configured first
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if c := cmp.Compare(order[a], order[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]NamespaceInfo, 0, len(names))
	for _, n := range names {
		list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: n})
		if err != nil {
			return nil, fmt.Errorf("namespace %q: list search attributes: %w", n, err)
		}
		sas := make(map[string]string, len(list.GetCustomAttributes()))
		for name, typ := range list.GetCustomAttributes() {
			sas[name] = searchAttributeTypeName(typ)
		}
		out = append(out, NamespaceInfo{Name: n, SearchAttributes: sas})
	}
	return out, nil
}

// systemNamespace is the server's own namespace, not listed to users.
const systemNamespace = "temporal-system"

// searchAttributeTypeName spells an indexed value type as devcluster's
// config does ("KeywordList", not "INDEXED_VALUE_TYPE_KEYWORD_LIST").
func searchAttributeTypeName(t enumspb.IndexedValueType) string {
	raw := strings.ReplaceAll(strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_"), "_", "")
	if canon, ok := profiles.CanonicalSearchAttributeType(raw); ok {
		return canon
	}
	return t.String()
}
