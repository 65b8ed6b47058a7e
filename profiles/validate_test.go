package profiles

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// wantErr is one expected problem: the key it is reported under and a
// distinctive part of its message.
type wantErr struct {
	key  string
	part string
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 255)
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []wantErr // nil means valid
	}{
		// IP.
		{"ip localhost", func(c *Config) { c.IP = "localhost" }, nil},
		{"ip any v4", func(c *Config) { c.IP = "0.0.0.0" }, nil},
		{"ip v6 loopback", func(c *Config) { c.IP = "::1" }, nil},
		{"ip hostname", func(c *Config) { c.IP = "example.com" }, []wantErr{{"ip", "is not an IP address"}}},
		{"ip octet out of range", func(c *Config) { c.IP = "300.1.1.1" }, []wantErr{{"ip", "is not an IP address"}}},
		{"ip empty", func(c *Config) { c.IP = "" }, []wantErr{{"ip", "is not an IP address"}}},

		// A node of several processes with TLS shares the cluster's CA.
		{"ringpop tls without cert-dir", func(c *Config) {
			c.Persistence.URL, c.Services.Run = "postgres://u@127.0.0.1:5432/db", []string{History}
			c.TLS.Enabled = true
		}, []wantErr{{"tls.cert-dir", "the nodes of one cluster share one CA"}}},
		{"ringpop tls with cert-dir", func(c *Config) {
			c.Persistence.URL, c.Services.Run = "postgres://u@127.0.0.1:5432/db", []string{History}
			c.TLS.Enabled, c.TLS.CertDir, c.Auth.Enabled = true, "/shared/certs", true
		}, nil},
		{"ringpop auth with the user's files but no cert-dir", func(c *Config) {
			c.Persistence.URL, c.Services.Run = "postgres://u@127.0.0.1:5432/db", []string{History}
			c.TLS.Enabled, c.Auth.Enabled = true, true
			f := TLSFiles{CertFile: "/c.pem", KeyFile: "/k.pem", CAFile: "/ca.pem"}
			c.TLS.Internode, c.TLS.Frontend, c.TLS.SystemWorker, c.TLS.Client = f, f, f, f
		}, []wantErr{{"tls.cert-dir", "one signing key"}}},

		// Port ranges.
		{"ports at range edges", func(c *Config) {
			c.Services.History.GRPCPort = 1
			c.Services.Matching.GRPCPort = 65535
		}, nil},
		{"grpc port too high", func(c *Config) { c.Services.Frontend.GRPCPort = 65536 },
			[]wantErr{{"services.frontend.grpc-port", "is not a valid port"}}},
		{"grpc port -1 not allowed", func(c *Config) { c.Services.History.GRPCPort = -1 },
			[]wantErr{{"services.history.grpc-port", "is not a valid port"}}},
		{"membership port negative", func(c *Config) { c.Services.Worker.MembershipPort = -5 },
			[]wantErr{{"services.worker.membership-port", "is not a valid port"}}},
		{"membership port too high", func(c *Config) { c.Services.Matching.MembershipPort = 1 << 20 },
			[]wantErr{{"services.matching.membership-port", "use 1-65535"}}},
		{"http port too high hints -1", func(c *Config) { c.Services.Frontend.HTTPPort = 70000 },
			[]wantErr{{"services.frontend.http-port", "or -1 to turn it off"}}},
		{"http port -2", func(c *Config) { c.Services.Frontend.HTTPPort = -2 },
			[]wantErr{{"services.frontend.http-port", "is not a valid port"}}},

		// HTTP port -1 (off) only for the frontend.
		{"frontend http off", func(c *Config) { c.Services.Frontend.HTTPPort = -1 }, nil},
		{"history http off", func(c *Config) { c.Services.History.HTTPPort = -1 },
			[]wantErr{{"services.history.http-port", "only the frontend serves HTTP"}}},
		{"worker http port", func(c *Config) { c.Services.Worker.HTTPPort = 8080 },
			[]wantErr{{"services.worker.http-port", "only the frontend serves HTTP"}}},

		// Port clashes: the later key is reported and names the earlier.
		{"two grpc ports equal", func(c *Config) { c.Services.History.GRPCPort = 7233 },
			[]wantErr{{"services.history.grpc-port", "is also used by services.frontend.grpc-port"}}},
		{"membership equals frontend http", func(c *Config) { c.Services.Worker.MembershipPort = 7243 },
			[]wantErr{{"services.worker.membership-port", "is also used by services.frontend.http-port"}}},
		{"clash inside one service", func(c *Config) { c.Services.Frontend.MembershipPort = 7233 },
			[]wantErr{{"services.frontend.membership-port", "is also used by services.frontend.grpc-port"}}},
		{"three services one port", func(c *Config) {
			c.Services.History.GRPCPort = 9000
			c.Services.Matching.GRPCPort = 9000
			c.Services.Worker.GRPCPort = 9000
		}, []wantErr{
			{"services.matching.grpc-port", "is also used by services.history.grpc-port"},
			{"services.worker.grpc-port", "is also used by services.history.grpc-port"},
		}},
		{"zero ports never clash", func(c *Config) {
			c.Services.History = Service{}
			c.Services.Matching = Service{}
			c.Services.Worker = Service{}
		}, nil},

		// Time skipping needs the server's switch.
		{"time skipping with its switch off", func(c *Config) {
			c.TimeSkipping = true
			c.DynamicConfig.Values = map[string]any{"frontend.workflowTimeSkippingEnabled": false}
		}, []wantErr{{"time-skipping", "frontend.WorkflowTimeSkippingEnabled"}}},
		{"time skipping in one namespace", func(c *Config) { c.Namespaces[0].TimeSkipping = true }, nil},

		// Persistence.
		{"shards zero", func(c *Config) { c.Persistence.Shards = 0 },
			[]wantErr{{"persistence.shards", "must be at least 1"}}},
		{"shards negative", func(c *Config) { c.Persistence.Shards = -4 },
			[]wantErr{{"persistence.shards", "must be at least 1"}}},
		{"shards many", func(c *Config) { c.Persistence.Shards = 512 }, nil},
		{"good pragmas", func(c *Config) {
			c.Persistence.Pragmas = map[string]string{"journal_mode": "wal", "busy_timeout": "5000"}
		}, nil},
		{"pragma with =", func(c *Config) { c.Persistence.Pragmas = map[string]string{"a=b": "1"} },
			[]wantErr{{"persistence.pragmas", "is not a valid pragma name"}}},
		{"pragma with &", func(c *Config) { c.Persistence.Pragmas = map[string]string{"x&y": "1"} },
			[]wantErr{{"persistence.pragmas", `"x&y"`}}},
		{"pragma with ?", func(c *Config) { c.Persistence.Pragmas = map[string]string{"q?": "1"} },
			[]wantErr{{"persistence.pragmas", "is not a valid pragma name"}}},
		{"pragma blank", func(c *Config) { c.Persistence.Pragmas = map[string]string{"  ": "1"} },
			[]wantErr{{"persistence.pragmas", "is not a valid pragma name"}}},

		// Namespaces.
		{"extra namespaces", func(c *Config) {
			c.Namespaces = append(c.Namespaces,
				Namespace{Name: "my-ns.v1_test"},
				Namespace{Name: long, Retention: time.Hour})
		}, nil},
		{"namespace empty name", func(c *Config) { c.Namespaces[0].Name = "" },
			[]wantErr{{"namespaces[0].name", "is not a valid namespace name"}}},
		{"namespace leading dash", func(c *Config) { c.Namespaces = append(c.Namespaces, Namespace{Name: "-ns"}) },
			[]wantErr{{"namespaces[1].name", "is not a valid namespace name"}}},
		{"namespace with space", func(c *Config) { c.Namespaces[0].Name = "my ns" },
			[]wantErr{{"namespaces[0].name", `"my ns"`}}},
		{"namespace too long", func(c *Config) { c.Namespaces[0].Name = long + "a" },
			[]wantErr{{"namespaces[0].name", "at most 255"}}},
		{"namespace twice", func(c *Config) {
			c.Namespaces = append(c.Namespaces, Namespace{Name: "other"}, Namespace{Name: DefaultNamespace})
		}, []wantErr{{"namespaces[2].name", "is listed twice"}}},
		{"namespace negative retention", func(c *Config) { c.Namespaces[0].Retention = -time.Hour },
			[]wantErr{{"namespaces[0].retention", "must not be negative"}}},
		{"namespace zero retention", func(c *Config) { c.Namespaces[0].Retention = 0 }, nil},

		// Search attributes.
		{"search attributes any case", func(c *Config) {
			c.Namespaces[0].SearchAttributes = map[string]string{
				"CustomKw": "keyword", "Custom_Int2": "INT", "List": "keywordlist", "When": "DateTime",
			}
		}, nil},
		{"search attribute name digit first", func(c *Config) {
			c.Namespaces[0].SearchAttributes = map[string]string{"1abc": "Keyword"}
		}, []wantErr{{"namespaces[0].search-attributes", "is not a valid search attribute name"}}},
		{"search attribute name dash", func(c *Config) {
			c.Namespaces = append(c.Namespaces, Namespace{Name: "b", SearchAttributes: map[string]string{"my-attr": "Text"}})
		}, []wantErr{{"namespaces[1].search-attributes", `"my-attr"`}}},
		{"search attribute bad type", func(c *Config) {
			c.Namespaces[0].SearchAttributes = map[string]string{"Foo": "String"}
		}, []wantErr{{"namespaces[0].search-attributes.Foo", "is not a search attribute type; use one of Keyword"}}},
		{"search attribute bad name and type", func(c *Config) {
			c.Namespaces[0].SearchAttributes = map[string]string{"_x": "Nope"}
		}, []wantErr{
			{"namespaces[0].search-attributes", "is not a valid search attribute name"},
			{"namespaces[0].search-attributes._x", `"Nope"`},
		}},

		// Logging.
		{"log debug json", func(c *Config) { c.Log = Log{Level: "debug", Format: "json"} }, nil},
		{"log level bad", func(c *Config) { c.Log.Level = "verbose" },
			[]wantErr{{"log.level", "is not a log level; use one of debug, info, warn, error"}}},
		{"log level empty", func(c *Config) { c.Log.Level = "" },
			[]wantErr{{"log.level", "is not a log level"}}},
		{"visibility indexes full", func(c *Config) { c.Visibility.Indexes = "full" }, nil},
		{"metrics opentelemetry", func(c *Config) { c.Metrics.Framework = "opentelemetry" }, nil},
		{"metrics framework bad", func(c *Config) { c.Metrics.Framework = "otel" },
			[]wantErr{{"metrics.framework", "is not a metrics framework; use one of tally, opentelemetry"}}},
		{"visibility indexes bad", func(c *Config) { c.Visibility.Indexes = "none" },
			[]wantErr{{"visibility.indexes", "is not an index set; use one of lean, full"}}},
		{"log format bad", func(c *Config) { c.Log.Format = "yaml" },
			[]wantErr{{"log.format", "is not a log format; use one of text, json"}}},

		// Cluster.
		{"cluster name empty", func(c *Config) { c.Cluster.Name = "" },
			[]wantErr{{"cluster.name", "must not be empty"}}},
		{"cluster name blank", func(c *Config) { c.Cluster.Name = " \t" },
			[]wantErr{{"cluster.name", "must not be empty"}}},
		{"cluster id uuid", func(c *Config) { c.Cluster.ID = "0b7e3a52-59c3-4a9f-9d0e-3c1f2f4b8a11" }, nil},
		{"cluster id upper-case uuid", func(c *Config) { c.Cluster.ID = "0B7E3A52-59C3-4A9F-9D0E-3C1F2F4B8A11" }, nil},
		{"cluster id not uuid", func(c *Config) { c.Cluster.ID = "my-cluster" },
			[]wantErr{{"cluster.id", "is not a UUID"}}},
		{"cluster id uuid without dashes", func(c *Config) { c.Cluster.ID = "0b7e3a5259c34a9f9d0e3c1f2f4b8a11" },
			[]wantErr{{"cluster.id", "is not a UUID"}}},

		// Archival.
		{"archival enabled with dir", func(c *Config) {
			c.Archival.History = ArchivalTarget{Enabled: true, Dir: "archival/history"}
		}, nil},
		{"archival disabled without dir", func(c *Config) {
			c.Archival.Visibility = ArchivalTarget{Enabled: false}
		}, nil},
		{"archival enabled without dir", func(c *Config) {
			c.Archival.Visibility = ArchivalTarget{Enabled: true, Dir: "  "}
		}, []wantErr{{"archival.visibility.dir", "must be set when archival.visibility.enabled is true"}}},

		// Failover versions.
		{"failover increment zero", func(c *Config) { c.Cluster.FailoverVersionIncrement = 0 },
			[]wantErr{{"cluster.failover-version-increment", "must be at least 1"}}},
		{"initial failover version negative", func(c *Config) { c.Cluster.InitialFailoverVersion = -1 },
			[]wantErr{{"cluster.initial-failover-version", "must be at least 0"}}},
		{"initial failover version equals increment", func(c *Config) {
			c.Cluster.InitialFailoverVersion = 10
			c.Cluster.FailoverVersionIncrement = 10
		}, []wantErr{{"cluster.initial-failover-version", "less than cluster.failover-version-increment (10)"}}},
		{"initial failover version zero", func(c *Config) { c.Cluster.InitialFailoverVersion = 0 }, nil},

		// Timeouts.
		{"startup zero", func(c *Config) { c.Startup.Timeout = 0 },
			[]wantErr{{"startup.timeout", "must be positive"}}},
		{"startup negative", func(c *Config) { c.Startup.Timeout = -time.Second },
			[]wantErr{{"startup.timeout", "must be positive"}}},
		{"shutdown zero", func(c *Config) { c.Shutdown.Timeout = 0 },
			[]wantErr{{"shutdown.timeout", "must be positive"}}},
		{"shutdown tiny", func(c *Config) { c.Shutdown.Timeout = time.Nanosecond }, nil},

		// The collector's memory limit.
		{"memory limit off", func(c *Config) { c.Server.MemoryLimitMiB = 0 }, nil},
		{"memory limit at the minimum", func(c *Config) { c.Server.MemoryLimitMiB = MinMemoryLimitMiB }, nil},
		{"memory limit below the minimum", func(c *Config) { c.Server.MemoryLimitMiB = 16 },
			[]wantErr{{"server.memory-limit-mib", "must be 0 (off"}}},
		{"memory limit negative", func(c *Config) { c.Server.MemoryLimitMiB = -1 },
			[]wantErr{{"server.memory-limit-mib", "between 64 and"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default().Clone()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d error(s)", len(tt.want))
			}
			got := FieldErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("Validate() gave %d field errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for _, w := range tt.want {
				assertHasFieldError(t, got, w)
			}
		})
	}
}

func assertHasFieldError(t *testing.T, got []*FieldError, w wantErr) {
	t.Helper()
	for _, fe := range got {
		if fe.Key == w.key && strings.Contains(fe.Error(), w.part) {
			if !strings.HasPrefix(fe.Error(), w.key+": ") {
				t.Errorf("Error() = %q, want it to start with the key %q", fe.Error(), w.key)
			}
			return
		}
	}
	var lines []string
	for _, fe := range got {
		lines = append(lines, fmt.Sprintf("  %s => %q", fe.Key, fe.Error()))
	}
	t.Errorf("no field error with key %q containing %q; got:\n%s", w.key, w.part, strings.Join(lines, "\n"))
}

func TestValidateReportsEveryErrorSorted(t *testing.T) {
	c := Default().Clone()
	c.Shutdown.Timeout = 0
	c.IP = "nope"
	c.Log.Format = "xml"
	c.Persistence.Shards = 0
	c.Services.History.GRPCPort = 7233
	c.Cluster.Name = ""
	c.Namespaces[0].Name = "bad name"
	c.Startup.Timeout = -1

	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	wantKeys := []string{
		"cluster.name",
		"ip",
		"log.format",
		"namespaces[0].name",
		"persistence.shards",
		"services.history.grpc-port",
		"shutdown.timeout",
		"startup.timeout",
	}
	fes := FieldErrors(err)
	var gotKeys []string
	for _, fe := range fes {
		gotKeys = append(gotKeys, fe.Key)
	}
	if strings.Join(gotKeys, ",") != strings.Join(wantKeys, ",") {
		t.Fatalf("keys = %v, want (sorted) %v", gotKeys, wantKeys)
	}
	// The joined message names every key, one problem per line, in order.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(wantKeys) {
		t.Fatalf("Error() has %d lines, want %d:\n%s", len(lines), len(wantKeys), err)
	}
	for i, k := range wantKeys {
		if !strings.HasPrefix(lines[i], k+": ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], k+": ")
		}
	}
	// The error is a list of errors, not a single wrapped one.
	if _, ok := err.(interface{ Unwrap() []error }); !ok {
		t.Errorf("Validate() error %T does not unwrap to a list", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != wantKeys[0] {
		t.Errorf("errors.As gave %v, want the first field error (%s)", fe, wantKeys[0])
	}
	if !sort.StringsAreSorted(gotKeys) {
		t.Errorf("keys not sorted: %v", gotKeys)
	}
}

func TestValidateDoesNotModifyConfig(t *testing.T) {
	c := Default().Clone()
	c.IP = "localhost"
	c.Services.History.GRPCPort = 7233
	_ = c.Validate()
	if c.IP != "localhost" {
		t.Errorf("IP rewritten to %q by Validate", c.IP)
	}
	if c.Services.History.GRPCPort != 7233 {
		t.Errorf("history port changed to %d by Validate", c.Services.History.GRPCPort)
	}
}

func TestCanonicalSearchAttributeType(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"Keyword", "Keyword", true},
		{"keyword", "Keyword", true},
		{"KEYWORD", "Keyword", true},
		{"text", "Text", true},
		{"iNt", "Int", true},
		{"double", "Double", true},
		{"BOOL", "Bool", true},
		{"datetime", "Datetime", true},
		{"DateTime", "Datetime", true},
		{"keywordlist", "KeywordList", true},
		{"KEYWORDLIST", "KeywordList", true},
		{"String", "", false},
		{"Keyword ", "", false},
		{"Keyword List", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := CanonicalSearchAttributeType(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CanonicalSearchAttributeType(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	// Every listed type is its own canonical spelling.
	for _, typ := range SearchAttributeTypes {
		if got, ok := CanonicalSearchAttributeType(typ); !ok || got != typ {
			t.Errorf("CanonicalSearchAttributeType(%q) = %q, %v; want itself", typ, got, ok)
		}
	}
}

func TestFieldErrorError(t *testing.T) {
	tests := []struct {
		name string
		fe   FieldError
		want string
	}{
		{"key and msg", FieldError{Key: "cluster.name", Msg: "must not be empty"}, "cluster.name: must not be empty"},
		{"empty string value omitted", FieldError{Key: "a.b", Value: "", Msg: "is bad"}, "a.b: is bad"},
		{"value", FieldError{Key: "services.frontend.grpc-port", Value: 70000, Msg: "is not a valid port"},
			"services.frontend.grpc-port: 70000 is not a valid port"},
		{"zero value shown", FieldError{Key: "persistence.shards", Value: 0, Msg: "must be at least 1"},
			"persistence.shards: 0 must be at least 1"},
		{"origin", FieldError{Key: "services.frontend.grpc-port", Value: 7233, Msg: "is already in use", Origin: "flag --port"},
			"services.frontend.grpc-port: 7233 is already in use (from flag --port)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fe.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFieldErrorUnwrap(t *testing.T) {
	fe := &FieldError{Key: "services.history.grpc-port", Value: 7234, Msg: "is already in use", Err: ErrPortInUse}
	wrapped := fmt.Errorf("start: %w", fe)
	if !errors.Is(wrapped, ErrPortInUse) {
		t.Errorf("errors.Is(%v, ErrPortInUse) = false", wrapped)
	}
	var got *FieldError
	if !errors.As(wrapped, &got) || got.Key != "services.history.grpc-port" {
		t.Errorf("errors.As gave %+v, want the field error", got)
	}
	if errors.Is(&FieldError{Key: "x", Msg: "y"}, ErrPortInUse) {
		t.Error("a FieldError without Err matches ErrPortInUse")
	}
}

func TestFieldErrors(t *testing.T) {
	a := &FieldError{Key: "a", Msg: "1"}
	b := &FieldError{Key: "b", Msg: "2"}
	c := &FieldError{Key: "c", Msg: "3"}
	plain := errors.New("plain")
	tests := []struct {
		name string
		err  error
		want []*FieldError
	}{
		{"nil", nil, nil},
		{"plain error", plain, nil},
		{"single", a, []*FieldError{a}},
		{"wrapped", fmt.Errorf("ctx: %w", a), []*FieldError{a}},
		{"joined skips plain", errors.Join(a, plain, b), []*FieldError{a, b}},
		{"nested join and wrap", errors.Join(fmt.Errorf("x: %w", errors.Join(a, b)), c), []*FieldError{a, b, c}},
		{"multi %w", fmt.Errorf("%w and %w", b, a), []*FieldError{b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FieldErrors(tt.err)
			if len(got) != len(tt.want) {
				t.Fatalf("FieldErrors() = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("FieldErrors()[%d] = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
