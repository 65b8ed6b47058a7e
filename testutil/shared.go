package testutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/devcluster/devcluster/bootstrap"
	"github.com/devcluster/devcluster/faults"
	"github.com/devcluster/devcluster/internal/syncbuf"
	"github.com/devcluster/devcluster/profiles"
)

// The shared cluster serves every NewNamespace of the test binary. It starts
// on first use and stops in Main.
var shared struct {
	opts   options // what the cluster was made with (its PostgreSQL database)
	once   sync.Once
	c      *bootstrap.Cluster
	admin  client.Client // namespace "default"; registers namespaces
	err    error
	logs   syncbuf.Buffer
	logger *slog.Logger
	seq    atomic.Int64
}

// Main runs the tests of a package and stops the shared cluster afterwards.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// Without it the shared cluster lives until the test binary exits, and the
// devcluster executable NewNodes built stays in TMPDIR.
func Main(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	if shared.c != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "testutil: shared cluster logs:\n%s", shared.logs.String())
		}
		shared.admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), shared.c.Config().Shutdown.Timeout)
		if err := shared.c.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testutil: stop shared cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
		if err := shared.opts.dropPostgres(shared.c.Config()); err != nil {
			fmt.Fprintf(os.Stderr, "testutil: drop the shared cluster's databases: %v\n", err)
		}
	}
	os.Exit(code)
}

func sharedCluster() (*bootstrap.Cluster, error) {
	shared.once.Do(func() {
		o := &shared.opts
		cfg, err := o.config()
		if err != nil {
			shared.err = err
			return
		}
		shared.logger = slog.New(slog.NewTextHandler(&shared.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Startup.Timeout)
		defer cancel()
		c, err := bootstrap.Start(ctx, cfg, bootstrap.WithLogger(shared.logger))
		if err != nil {
			shared.err = errors.Join(err, o.dropPostgres(cfg))
			return
		}
		opts := c.ClientOptions(profiles.DefaultNamespace)
		opts.Logger = sdklog.NewStructuredLogger(shared.logger.With("component", "sdk"))
		admin, err := client.Dial(opts)
		if err != nil {
			_ = c.Stop(context.Background())
			shared.err = err
			return
		}
		shared.c, shared.admin = c, admin
	})
	return shared.c, shared.err
}

// Namespace is a fresh namespace on the shared cluster, owned by one test.
type Namespace struct {
	t    testing.TB
	c    *bootstrap.Cluster
	name string

	dial dialOnce
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// NewNamespace registers a namespace named after the test on the shared
// cluster (starting it on first use) and returns it once workflows can be
// started in it. Only WithSearchAttributes and WithTimeSkipping apply here; the other options
// shape a cluster and need NewCluster.
func NewNamespace(t testing.TB, opts ...Option) *Namespace {
	t.Helper()
	o := apply(opts)
	if o.namespace != "" || len(o.profiles) > 0 || len(o.dynamic) > 0 || len(o.configure) > 0 || len(o.start) > 0 {
		t.Fatalf("testutil: NewNamespace takes only WithSearchAttributes and WithTimeSkipping; use NewCluster for a cluster of its own")
	}
	c, err := sharedCluster()
	if err != nil {
		t.Fatalf("testutil: start shared cluster: %v", err)
	}
	name := unsafeChars.ReplaceAllString(t.Name(), "-")
	if len(name) > 200 {
		name = name[:200]
	}
	name = fmt.Sprintf("%s-%d", name, shared.seq.Add(1))

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err = shared.admin.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        name,
		WorkflowExecutionRetentionPeriod: durationpb.New(profiles.DefaultRetention),
	})
	if err != nil {
		t.Fatalf("testutil: register namespace %s: %v", name, err)
	}
	if len(o.sas) > 0 {
		req := &operatorservice.AddSearchAttributesRequest{Namespace: name, SearchAttributes: map[string]enumspb.IndexedValueType{}}
		for k, typ := range o.sas {
			canon, ok := profiles.CanonicalSearchAttributeType(typ)
			if !ok {
				t.Fatalf("testutil: search attribute %s: type %q is not one of %v", k, typ, profiles.SearchAttributeTypes)
			}
			v, err := enumspb.IndexedValueTypeFromString(canon)
			if err != nil {
				t.Fatalf("testutil: search attribute %s: %v", k, err)
			}
			req.SearchAttributes[k] = v
		}
		if _, err := shared.admin.OperatorService().AddSearchAttributes(ctx, req); err != nil {
			t.Fatalf("testutil: add search attributes to %s: %v", name, err)
		}
	}
	if o.skipTime {
		c.SetTimeSkipping(name, true)
	}
	n := &Namespace{t: t, c: c, name: name}
	t.Cleanup(n.dial.close) // last: after the test's workers
	return n
}

// InjectFaults puts frontend fault rules in force for this namespace's
// calls only (a rule's namespace is set to it; naming another is an
// error), so parallel tests on the shared cluster do not see each other's
// faults. Persistence rules are refused here: they would act on the
// history shard every namespace of the shared cluster uses (the server's
// recovery slows them all); give such a test a cluster of its own
// (NewCluster with WithFaults). The rules are removed when the test ends,
// or earlier by the returned func.
func (n *Namespace) InjectFaults(rules ...faults.Rule) (remove func()) {
	n.t.Helper()
	scoped := make([]faults.Rule, len(rules))
	for i, r := range rules {
		if r.Namespace != "" && r.Namespace != n.name {
			n.t.Fatalf("testutil: InjectFaults: rule %q names namespace %q; on the shared cluster a test's rules are for its own namespace %s", r.Name, r.Namespace, n.name)
		}
		r.Namespace = n.name
		scoped[i] = r
	}
	return injectFaults(n.t, n.c, scoped)
}

// FaultsInjected is how many faults rule has injected (0 for a rule not
// in force).
func (n *Namespace) FaultsInjected(rule string) int64 { return faultsInjected(n.c, rule) }

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Address returns the shared cluster's frontend address.
func (n *Namespace) Address() string { return n.c.FrontendAddr() }

// ClientOptions returns SDK options for this namespace.
func (n *Namespace) ClientOptions() client.Options {
	opts := n.c.ClientOptions(n.name)
	opts.Logger = sdklog.NewStructuredLogger(shared.logger.With("component", "sdk", "namespace", n.name))
	return opts
}

// Client returns an SDK client for the namespace, closed when the test ends.
func (n *Namespace) Client() client.Client {
	n.t.Helper()
	return n.dial.client(n.t, n.ClientOptions)
}

// NewWorker starts a worker in the namespace, stopped when the test ends.
func (n *Namespace) NewWorker(taskQueue string, register func(worker.Registry), opts ...worker.Options) worker.Worker {
	n.t.Helper()
	return newWorker(n.t, n.Client(), taskQueue, register, opts)
}
