package profiles

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

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

// addFunc records one problem with a key; Validate passes one to each of
// its per-section helpers.
type addFunc = func(key string, value any, format string, args ...any)

// Validate checks c and returns every problem at once, joined and sorted by
// key; each is a *FieldError. It does no I/O: ports in use and files are
// checked at start.
func (c Config) Validate() error {
	var errs []*FieldError
	add := func(key string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	// The order matters only among problems with the same key and value,
	// which joinFieldErrors keeps in the order they were found.
	c.validateAddresses(add)
	c.validateAuth(add)
	c.validateTimeSkipping(add)
	c.validateTLS(add)
	c.validateVisibility(add)
	c.validateDatabases(add)
	c.validateClusters(add)
	c.validateMembership(add)
	c.validatePersistence(add)
	c.validateNamespaces(add)
	c.validateLog(add)
	c.validateCluster(add)
	c.validateArchival(add)
	c.validateMetrics(add)
	c.validateTimeouts(add)
	c.validateServer(add)

	if len(errs) == 0 {
		return nil
	}
	return joinFieldErrors(errs)
}

// validateAddresses checks the bind IP, the port of every service and of
// the Web UI, and the UI's IP.
func (c Config) validateAddresses(add addFunc) {
	if c.IP != "localhost" && net.ParseIP(c.IP) == nil {
		add("ip", strconv.Quote(c.IP), "is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0")
	}
	ports := portSet{add: add, used: map[int]string{}}
	for _, name := range RoleNames {
		s := c.Services.Get(name)
		prefix := "services." + name + "."
		ports.check(prefix+"grpc-port", s.GRPCPort, false)
		ports.check(prefix+"membership-port", s.MembershipPort, false)
		if name == Frontend {
			ports.check(prefix+"http-port", s.HTTPPort, true)
		} else if s.HTTPPort != 0 {
			add(prefix+"http-port", s.HTTPPort, "is not supported: only the frontend serves HTTP")
		}
	}
	if c.UI.Enabled {
		ports.check("ui.port", c.UI.Port, false)
		if c.UI.IP != "" && c.UI.IP != "localhost" && net.ParseIP(c.UI.IP) == nil {
			add("ui.ip", strconv.Quote(c.UI.IP), "is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0")
		}
		if p := c.UI.PublicPath; p != "" && !strings.HasPrefix(p, "/") {
			add("ui.public-path", strconv.Quote(p), "is not a path; start it with /, e.g. /temporal")
		}
		if e := c.UI.CodecEndpoint; e != "" {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("ui.codec-endpoint", strconv.Quote(e), "is not an http:// or https:// URL; give the codec server's URL, e.g. http://localhost:8888")
			}
		}
		if d := c.UI.AssetPath; d != "" {
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				add("ui.asset-path", strconv.Quote(d), "is not a directory; give the directory of the UI's built assets")
			}
		}
	}
}

// portSet finds ports out of range and ports that two keys share.
type portSet struct {
	add  addFunc
	used map[int]string // port -> the key that took it first
}

// check reports port if it is out of range or taken. 0 (a free port) is
// always fine, and -1 (off) when allowOff.
func (p portSet) check(key string, port int, allowOff bool) {
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
		p.add(key, port, "is not a valid port; %s", hint)
		return
	}
	if prev, ok := p.used[port]; ok {
		p.add(key, port, "is also used by %s; give each service its own port, or 0 for a free one", prev)
		return
	}
	p.used[port] = key
}

// validateAuth checks auth.*, which needs TLS.
func (c Config) validateAuth(add addFunc) {
	if !c.Auth.Enabled {
		return
	}
	if !c.TLS.Enabled {
		add("auth.enabled", true, "needs tls.enabled: the cluster's own system worker proves who it is with its client certificate (use --profile secure, or --tls)")
	}
	if c.Auth.TokenTTL <= 0 {
		add("auth.token-ttl", c.Auth.TokenTTL, "must be positive")
	}
}

// validateTimeSkipping refuses time skipping that dynamic config turns off.
func (c Config) validateTimeSkipping(add addFunc) {
	if len(c.TimeSkippingNamespaces()) == 0 && !c.TimeSkipping {
		return
	}
	for k, v := range c.DynamicConfig.Values {
		if on, ok := v.(bool); ok && !on && strings.EqualFold(k, TimeSkippingKey) {
			add("time-skipping", true, "needs %s, which dynamic-config.values sets to false; remove that value", TimeSkippingKey)
		}
	}
}

// validateTLS checks tls.* when TLS is on: a user's certificate files come
// complete or not at all.
func (c Config) validateTLS(add addFunc) {
	if !c.TLS.Enabled {
		return
	}
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

// validateVisibility checks visibility.indexes and visibility.file.
func (c Config) validateVisibility(add addFunc) {
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
}

// validatePersistence checks persistence.shards and persistence.pragmas.
func (c Config) validatePersistence(add addFunc) {
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
}

// validateNamespaces checks each namespace's name, retention and search
// attributes.
func (c Config) validateNamespaces(add addFunc) {
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
}

// validateLog checks log.level and log.format.
func (c Config) validateLog(add addFunc) {
	if !contains(logLevels, c.Log.Level) {
		add("log.level", strconv.Quote(c.Log.Level), "is not a log level; use one of %s", strings.Join(logLevels, ", "))
	}
	if !contains(logFormats, c.Log.Format) {
		add("log.format", strconv.Quote(c.Log.Format), "is not a log format; use one of %s", strings.Join(logFormats, ", "))
	}
}

// validateCluster checks cluster.*: the name, the ID and the failover
// versions.
func (c Config) validateCluster(add addFunc) {
	if strings.TrimSpace(c.Cluster.Name) == "" {
		add("cluster.name", `""`, "must not be empty")
	}
	if c.Cluster.ID != "" && !uuidRegex.MatchString(c.Cluster.ID) {
		add("cluster.id", strconv.Quote(c.Cluster.ID), "is not a UUID (the server would silently replace it)")
	}
	if c.Cluster.FailoverVersionIncrement < 1 {
		add("cluster.failover-version-increment", c.Cluster.FailoverVersionIncrement, "must be at least 1")
	}
	if c.Cluster.InitialFailoverVersion < 0 || (c.Cluster.FailoverVersionIncrement > 0 && c.Cluster.InitialFailoverVersion >= c.Cluster.FailoverVersionIncrement) {
		add("cluster.initial-failover-version", c.Cluster.InitialFailoverVersion, "must be at least 0 and less than cluster.failover-version-increment (%d)", c.Cluster.FailoverVersionIncrement)
	}
}

// validateArchival checks that each archival target that is on has a
// directory.
func (c Config) validateArchival(add addFunc) {
	for _, a := range []struct {
		name string
		t    ArchivalTarget
	}{{"history", c.Archival.History}, {"visibility", c.Archival.Visibility}} {
		if a.t.Enabled && strings.TrimSpace(a.t.Dir) == "" {
			add("archival."+a.name+".dir", `""`, "must be set when archival.%s.enabled is true; e.g. archival/%s (relative to data-dir)", a.name, a.name)
		}
	}
}

// validateMetrics checks metrics.framework and metrics.address.
func (c Config) validateMetrics(add addFunc) {
	if !slices.Contains(MetricsFrameworks, c.Metrics.Framework) {
		add("metrics.framework", strconv.Quote(c.Metrics.Framework), "is not a metrics framework; use one of %s", strings.Join(MetricsFrameworks, ", "))
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
}

// validateTimeouts checks startup.timeout and shutdown.timeout.
func (c Config) validateTimeouts(add addFunc) {
	if c.Startup.Timeout <= 0 {
		add("startup.timeout", c.Startup.Timeout, "must be positive")
	}
	if c.Shutdown.Timeout <= 0 {
		add("shutdown.timeout", c.Shutdown.Timeout, "must be positive")
	}
}

// validateServer checks the server.* keys that take a value.
func (c Config) validateServer(add addFunc) {
	// Below ~64 MiB the collector would run all the time from the start
	// (a ready cluster holds ~30 MB of live heap and ~10 MB of stacks).
	if m := c.Server.MemoryLimitMiB; m != 0 && (m < MinMemoryLimitMiB || m > 1<<20) {
		add("server.memory-limit-mib", m, "must be 0 (off: Go's default collector) or between %d and 1048576 (MiB)", MinMemoryLimitMiB)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
