package services

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/profiles"
)

// FrontendAddr returns the address clients dial (host:port).
func (s *Server) FrontendAddr() string {
	return hostPort(advertiseIP(s.cfg.IP), s.cfg.Services.Frontend.GRPCPort)
}

// ServiceAddr returns the gRPC address of the named service.
func (s *Server) ServiceAddr(name string) string {
	svc := s.cfg.Services.Get(name)
	if svc == nil {
		return ""
	}
	return hostPort(advertiseIP(s.cfg.IP), svc.GRPCPort)
}

// HTTPAddr returns the frontend's HTTP API address, or "" when it is off.
func (s *Server) HTTPAddr() string {
	if s.cfg.Services.Frontend.HTTPPort <= 0 {
		return ""
	}
	return hostPort(advertiseIP(s.cfg.IP), s.cfg.Services.Frontend.HTTPPort)
}

// WaitReady blocks until the cluster is ready: the frontend answers
// GetSystemInfo, every configured namespace is describable, has the
// configured retention and lists every configured search attribute. It
// registers search attributes and retention that an existing database lacks
// (CreateNamespaces leaves existing namespaces alone). It honours ctx and
// returns ErrNotReady with the last error when ctx ends first.
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
	dopts, err := dialOptions(s.cfg.TLS, s.cfg.Auth.HeaderName, s.opts.Token)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(s.FrontendAddr(), dopts...)
	if err != nil {
		return fmt.Errorf("dial frontend %s: %w", s.FrontendAddr(), err)
	}
	defer func() { _ = conn.Close() }()
	return waitReady(ctx, conn, s.cfg.Namespaces, s.opts.Replication.reconciles(s.cfg.Cluster.Name), s.Err)
}

// Probe polls the cluster at conn until its frontend answers and every
// namespace is describable, without changing anything (for
// `devcluster wait-ready`). It honours ctx.
func Probe(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string) error {
	nss := make([]profiles.Namespace, len(namespaces))
	for i, n := range namespaces {
		nss[i] = profiles.Namespace{Name: n}
	}
	return waitReady(ctx, conn, nss, false, nil)
}

// waitReady polls conn until the cluster is ready for namespaces (see
// (*Server).WaitReady); reconcile adds missing search attributes and fixes
// retention. fatal, if not nil, is checked on every round so a server that
// died ends the wait at once.
func waitReady(ctx context.Context, conn grpc.ClientConnInterface, namespaces []profiles.Namespace, reconcile bool, fatal func() error) error {
	wf := workflowservice.NewWorkflowServiceClient(conn)
	op := operatorservice.NewOperatorServiceClient(conn)
	step := 5 * time.Millisecond
	var last error
	for {
		if fatal != nil {
			if err := fatal(); err != nil {
				return err
			}
		}
		last = readyOnce(ctx, wf, op, namespaces, reconcile)
		if last == nil {
			return nil
		}
		var fe *profiles.FieldError
		if errors.As(last, &fe) {
			return last // a config conflict does not go away by waiting
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last error: %w)", ErrNotReady, ctx.Err(), last)
		case <-time.After(step):
		}
		step = min(step*2, 100*time.Millisecond)
	}
}

func readyOnce(ctx context.Context, wf workflowservice.WorkflowServiceClient, op operatorservice.OperatorServiceClient, namespaces []profiles.Namespace, reconcile bool) error {
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := wf.GetSystemInfo(callCtx, &workflowservice.GetSystemInfoRequest{}); err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	for i, ns := range namespaces {
		desc, err := wf.DescribeNamespace(callCtx, &workflowservice.DescribeNamespaceRequest{Namespace: ns.Name})
		if err != nil {
			return fmt.Errorf("namespace %q: %w", ns.Name, err)
		}
		if !reconcile {
			continue
		}
		want := retention(ns)
		if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != want {
			if _, err := wf.UpdateNamespace(callCtx, &workflowservice.UpdateNamespaceRequest{
				Namespace: ns.Name,
				Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(want)},
			}); err != nil {
				return fmt.Errorf("namespace %q: set retention %s: %w", ns.Name, want, err)
			}
			return fmt.Errorf("namespace %q: retention is %s, updating to %s", ns.Name, got, want)
		}
		if len(ns.SearchAttributes) == 0 {
			continue
		}
		list, err := op.ListSearchAttributes(callCtx, &operatorservice.ListSearchAttributesRequest{Namespace: ns.Name})
		if err != nil {
			return fmt.Errorf("namespace %q: list search attributes: %w", ns.Name, err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		for name, typ := range ns.SearchAttributes {
			want, err := indexedValueType(typ)
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
		if len(missing) > 0 {
			_, err := op.AddSearchAttributes(callCtx, &operatorservice.AddSearchAttributesRequest{Namespace: ns.Name, SearchAttributes: missing})
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
	}
	return nil
}

// NamespaceInfo is a namespace the cluster has, with its custom search
// attributes (name -> type, as "Keyword" or "Int").
type NamespaceInfo struct {
	Name             string
	SearchAttributes map[string]string
}

// ListNamespaces asks the running cluster for every namespace it has but
// the system's, with their custom search attributes: on a database file
// that is more than the config names. The configured namespaces come first,
// in config order, then the others by name. It honours ctx.
func (s *Server) ListNamespaces(ctx context.Context) ([]NamespaceInfo, error) {
	dopts, err := dialOptions(s.cfg.TLS, s.cfg.Auth.HeaderName, s.opts.Token)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(s.FrontendAddr(), dopts...)
	if err != nil {
		return nil, fmt.Errorf("dial frontend %s: %w", s.FrontendAddr(), err)
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
