package profiles

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldError is a problem with one configuration key. Front ends add where
// the value came from (a flag, a variable, a file) through Origin.
type FieldError struct {
	// Key is the dotted config key, e.g. "services.frontend.grpc-port".
	Key string
	// Value is the offending value as the user wrote it, if any.
	Value any
	// Msg says what is wrong and, where obvious, how to fix it.
	Msg string
	// Origin names where the value came from, e.g. "flag --port"; empty
	// when unknown. Front ends fill it in.
	Origin string
	// Err is an underlying sentinel (such as ErrPortInUse), if any.
	Err error
}

// Error renders "key: value msg (from origin)".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Key)
	b.WriteString(": ")
	if e.Value != nil && fmt.Sprint(e.Value) != "" {
		fmt.Fprintf(&b, "%v ", e.Value)
	}
	b.WriteString(e.Msg)
	if e.Origin != "" {
		fmt.Fprintf(&b, " (from %s)", e.Origin)
	}
	return b.String()
}

// Unwrap returns the underlying sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// ErrPortInUse reports a port that another process holds.
var ErrPortInUse = errors.New("port already in use")

// SearchAttributeTypes are Temporal's indexed value type names, as written
// in config and flags (matched case-insensitively).
var SearchAttributeTypes = []string{"Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList"}

// CanonicalSearchAttributeType returns Temporal's spelling of a type name and
// whether it is known.
func CanonicalSearchAttributeType(s string) (string, bool) {
	for _, t := range SearchAttributeTypes {
		if strings.EqualFold(t, s) {
			return t, true
		}
	}
	return "", false
}

var (
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"text", "json"}
	namespaceRegex = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$`)
	uuidRegex      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	saNameRegex    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
)

// Validate checks c and returns every problem at once, joined and sorted by
// key; each is a *FieldError. It does no I/O: ports in use and files are
// checked at start.
func (c Config) Validate() error {
	var errs []*FieldError
	add := func(key string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Value: value, Msg: fmt.Sprintf(format, args...)})
	}

	if c.IP != "localhost" && net.ParseIP(c.IP) == nil {
		add("ip", strconv.Quote(c.IP), "is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0")
	}

	type portUse struct{ key string }
	used := map[int]portUse{}
	checkPort := func(key string, port int, allowOff bool) {
		switch {
		case port == 0:
			return
		case port == -1 && allowOff:
			return
		case port < 0 || port > 65535:
			hint := "use 1-65535, or 0 for a free port"
			if allowOff {
				hint += ", or -1 to turn it off"
			}
			add(key, port, "is not a valid port; %s", hint)
			return
		}
		if prev, ok := used[port]; ok {
			add(key, port, "is also used by %s; give each service its own port, or 0 for a free one", prev.key)
			return
		}
		used[port] = portUse{key: key}
	}
	for _, name := range ServiceNames {
		s := c.Services.Get(name)
		prefix := "services." + name + "."
		checkPort(prefix+"grpc-port", s.GRPCPort, false)
		checkPort(prefix+"membership-port", s.MembershipPort, false)
		if name == Frontend {
			checkPort(prefix+"http-port", s.HTTPPort, true)
		} else if s.HTTPPort != 0 {
			add(prefix+"http-port", s.HTTPPort, "is not supported: only the frontend serves HTTP")
		}
	}

	if c.UI.Enabled {
		checkPort("ui.port", c.UI.Port, false)
		if c.UI.IP != "" && c.UI.IP != "localhost" && net.ParseIP(c.UI.IP) == nil {
			add("ui.ip", strconv.Quote(c.UI.IP), "is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0")
		}
	}
	if c.Auth.Enabled {
		if !c.TLS.Enabled {
			add("auth.enabled", true, "needs tls.enabled: the cluster's own system worker proves who it is with its client certificate (use --profile secure, or --tls)")
		}
		if c.Auth.TokenTTL <= 0 {
			add("auth.token-ttl", c.Auth.TokenTTL, "must be positive")
		}
	}
	if len(c.TimeSkippingNamespaces()) > 0 || c.TimeSkipping {
		for k, v := range c.DynamicConfig.Values {
			if on, ok := v.(bool); ok && !on && strings.EqualFold(k, TimeSkippingKey) {
				add("time-skipping", true, "needs %s, which dynamic-config.values sets to false; remove that value", TimeSkippingKey)
			}
		}
	}
	if c.TLS.Enabled {
		if c.TLS.Validity < time.Hour {
			add("tls.validity", c.TLS.Validity, "must be at least 1h")
		}
		if strings.TrimSpace(c.TLS.ServerName) == "" {
			add("tls.server-name", `""`, "must not be empty; clients check it against the server certificates (default localhost)")
		}
		for _, s := range []struct {
			key   string
			files TLSFiles
			ca    bool
		}{{"tls.internode", c.TLS.Internode, true}, {"tls.frontend", c.TLS.Frontend, true},
			{"tls.system-worker", c.TLS.SystemWorker, false}, {"tls.client", c.TLS.Client, true}} {
			if !s.files.Set() {
				continue
			}
			if s.files.CertFile == "" || s.files.KeyFile == "" || (s.ca && s.files.CAFile == "") {
				need := "cert-file and key-file"
				if s.ca {
					need = "cert-file, key-file and ca-file"
				}
				add(s.key, "", "names some files but not all: give %s, or none to use generated certificates", need)
			}
		}
	}
	if !slices.Contains(MetricsFrameworks, c.Metrics.Framework) {
		add("metrics.framework", strconv.Quote(c.Metrics.Framework), "is not a metrics framework; use one of %s", strings.Join(MetricsFrameworks, ", "))
	}
	if !slices.Contains(VisibilityIndexes, c.Visibility.Indexes) {
		add("visibility.indexes", strconv.Quote(c.Visibility.Indexes), "is not an index set; use one of %s", strings.Join(VisibilityIndexes, ", "))
	}
	if c.Visibility.File != "" {
		switch {
		case c.Persistence.InMemory():
			add("visibility.file", strconv.Quote(c.Visibility.File), "needs persistence.file: an in-memory cluster keeps visibility in memory too")
		case c.Visibility.File == c.Persistence.File:
			add("visibility.file", strconv.Quote(c.Visibility.File), "is persistence.file; leave it empty to keep visibility in the main database")
		}
	}
	c.validateDatabases(add)
	c.validateClusters(add)
	c.validateMembership(add)
	if c.Persistence.Shards < 1 {
		add("persistence.shards", c.Persistence.Shards, "must be at least 1")
	}
	for k := range c.Persistence.Pragmas {
		switch {
		case strings.TrimSpace(k) == "" || strings.ContainsAny(k, "=&?"):
			add("persistence.pragmas", strconv.Quote(k), "is not a valid pragma name")
		case k == "mode" || k == "cache" || k == "vfs" || k == "immutable":
			add("persistence.pragmas", strconv.Quote(k), "is a connection setting devcluster owns, not a pragma; use persistence.file for a file database")
		}
	}

	seen := map[string]bool{}
	for i, ns := range c.Namespaces {
		key := fmt.Sprintf("namespaces[%d]", i)
		if !namespaceRegex.MatchString(ns.Name) {
			add(key+".name", strconv.Quote(ns.Name), "is not a valid namespace name (letters, digits, '.', '_', '-'; at most 255)")
		} else if seen[ns.Name] {
			add(key+".name", strconv.Quote(ns.Name), "is listed twice")
		}
		seen[ns.Name] = true
		if ns.Retention < 0 {
			add(key+".retention", ns.Retention, "must not be negative")
		}
		for name, typ := range ns.SearchAttributes {
			if !saNameRegex.MatchString(name) {
				add(key+".search-attributes", strconv.Quote(name), "is not a valid search attribute name (a letter, then letters, digits or '_')")
			}
			if _, ok := CanonicalSearchAttributeType(typ); !ok {
				add(key+".search-attributes."+name, strconv.Quote(typ), "is not a search attribute type; use one of %s", strings.Join(SearchAttributeTypes, ", "))
			}
		}
	}

	if !contains(logLevels, c.Log.Level) {
		add("log.level", strconv.Quote(c.Log.Level), "is not a log level; use one of %s", strings.Join(logLevels, ", "))
	}
	if !contains(logFormats, c.Log.Format) {
		add("log.format", strconv.Quote(c.Log.Format), "is not a log format; use one of %s", strings.Join(logFormats, ", "))
	}
	if strings.TrimSpace(c.Cluster.Name) == "" {
		add("cluster.name", `""`, "must not be empty")
	}
	if c.Cluster.ID != "" && !uuidRegex.MatchString(c.Cluster.ID) {
		add("cluster.id", strconv.Quote(c.Cluster.ID), "is not a UUID (the server would silently replace it)")
	}
	for _, a := range []struct {
		name string
		t    ArchivalTarget
	}{{"history", c.Archival.History}, {"visibility", c.Archival.Visibility}} {
		if a.t.Enabled && strings.TrimSpace(a.t.Dir) == "" {
			add("archival."+a.name+".dir", `""`, "must be set when archival.%s.enabled is true; e.g. archival/%s (relative to data-dir)", a.name, a.name)
		}
	}
	if c.Cluster.FailoverVersionIncrement < 1 {
		add("cluster.failover-version-increment", c.Cluster.FailoverVersionIncrement, "must be at least 1")
	}
	if c.Cluster.InitialFailoverVersion < 0 || (c.Cluster.FailoverVersionIncrement > 0 && c.Cluster.InitialFailoverVersion >= c.Cluster.FailoverVersionIncrement) {
		add("cluster.initial-failover-version", c.Cluster.InitialFailoverVersion, "must be at least 0 and less than cluster.failover-version-increment (%d)", c.Cluster.FailoverVersionIncrement)
	}
	if a := c.Metrics.Address; a != "" {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || p < 0 || p > 65535:
			add("metrics.address", strconv.Quote(a), "is not host:port; e.g. 127.0.0.1:9464, or 127.0.0.1:0 for a free port")
		case host != "" && host != "localhost" && net.ParseIP(host) == nil:
			add("metrics.address", strconv.Quote(a), "does not start with an IP address; e.g. 127.0.0.1:9464")
		}
	}
	if c.Startup.Timeout <= 0 {
		add("startup.timeout", c.Startup.Timeout, "must be positive")
	}
	if c.Shutdown.Timeout <= 0 {
		add("shutdown.timeout", c.Shutdown.Timeout, "must be positive")
	}

	if len(errs) == 0 {
		return nil
	}
	return joinFieldErrors(errs)
}

// FieldErrors returns every *FieldError in err's tree (joined or wrapped).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
