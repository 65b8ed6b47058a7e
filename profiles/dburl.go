package profiles

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DatabaseURL is a parsed persistence.url or visibility.url:
// postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...&...].
type DatabaseURL struct {
	Host string
	Port int // 5432 when the URL names none
	User string
	// Password is the URL's password; HasPassword tells an empty one from
	// none.
	Password    string
	HasPassword bool
	// Database is the database name; "temporal" when the URL names none.
	Database string
	// SSLMode is disable (also when not given), allow, prefer, require,
	// verify-ca or verify-full; SSLRootCert, SSLCert and SSLKey are file
	// paths.
	SSLMode                      string
	SSLRootCert, SSLCert, SSLKey string
	// Params are the other query parameters (connect_timeout,
	// application_name, ...), passed to the driver as they are.
	Params map[string]string
}

// Defaults of a database URL.
const (
	DefaultPostgresPort     = 5432
	DefaultPostgresDatabase = "temporal"
	// VisibilitySuffix names the visibility database next to the main one.
	VisibilitySuffix = "_visibility"
)

// SSLModes are the values sslmode takes.
var SSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// postgresURLForm is how a PostgreSQL URL looks, for messages.
const postgresURLForm = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB"

// dbNameRegex keeps database names that survive the server's DSN and its
// CREATE DATABASE "NAME" unquoted and unescaped.
var dbNameRegex = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// maxDBName is PostgreSQL's identifier limit (NAMEDATALEN-1).
const maxDBName = 63

// ParseDatabaseURL parses a PostgreSQL URL. Its errors say what is wrong
// without repeating the URL (which may hold a password).
func ParseDatabaseURL(raw string) (DatabaseURL, error) {
	if !strings.Contains(raw, "://") {
		// host:port/db or user:pw@host would otherwise be parsed as a
		// scheme or fail as a bad URL, with a hint about the password.
		return DatabaseURL{}, fmt.Errorf("has no scheme (postgres:// in front); use %s", postgresURLForm)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not the parser's text: it quotes pieces of the URL, the
		// password among them ("invalid port \":S3cret\"").
		return DatabaseURL{}, fmt.Errorf("is not a valid URL; percent-encode special characters (such as # / ? @ :) in the password; use %s", postgresURLForm)
	}
	switch u.Scheme {
	case "postgres", "postgresql":
	case "":
		return DatabaseURL{}, fmt.Errorf("is not a URL; use %s", postgresURLForm)
	default:
		return DatabaseURL{}, fmt.Errorf("has scheme %s: devcluster runs on PostgreSQL or SQLite only; use %s, or persistence.file for SQLite", u.Scheme, postgresURLForm)
	}
	out := DatabaseURL{Host: u.Hostname(), Port: DefaultPostgresPort, Database: DefaultPostgresDatabase, SSLMode: "disable", Params: map[string]string{}}
	if out.Host == "" {
		return DatabaseURL{}, fmt.Errorf("names no host; use %s", postgresURLForm)
	}
	if strings.Contains(u.Host, ",") {
		return DatabaseURL{}, errors.New("names several hosts; give one HOST[:PORT]")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return DatabaseURL{}, fmt.Errorf("has port %q; use 1-65535 (default %d)", p, DefaultPostgresPort)
		}
		out.Port = n
	}
	if u.User == nil || u.User.Username() == "" {
		return DatabaseURL{}, fmt.Errorf("names no user; use %s", postgresURLForm)
	}
	out.User = u.User.Username()
	out.Password, out.HasPassword = u.User.Password()
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if !dbNameRegex.MatchString(db) || len(db) > maxDBName {
			return DatabaseURL{}, fmt.Errorf("has database name %q; use letters, digits, '_', '.' and '-' (at most %d)", db, maxDBName)
		}
		out.Database = db
	}
	if err := out.setParams(u.Query()); err != nil {
		return DatabaseURL{}, err
	}
	return out, nil
}

// setParams takes the URL's query parameters: the TLS ones into their
// fields, the rest into d.Params.
func (d *DatabaseURL) setParams(q url.Values) error {
	for k, vs := range q {
		if len(vs) != 1 {
			return fmt.Errorf("gives %s %d times; give it once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "sslmode":
			if !slices.Contains(SSLModes, v) {
				return fmt.Errorf("has sslmode=%s; use one of %s", v, strings.Join(SSLModes, ", "))
			}
			d.SSLMode = v
		case "sslrootcert":
			d.SSLRootCert = v
		case "sslcert":
			d.SSLCert = v
		case "sslkey":
			d.SSLKey = v
		case "user", "password", "host", "port", "dbname":
			return fmt.Errorf("sets %s as a parameter; put it in the URL itself: %s", k, postgresURLForm)
		default:
			d.Params[k] = v
		}
	}
	if (d.SSLCert == "") != (d.SSLKey == "") {
		return errors.New("gives one of sslcert and sslkey; give both, or neither")
	}
	return nil
}

// Addr is host:port.
func (d DatabaseURL) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// String renders the URL back, the password as "xxxxx".
func (d DatabaseURL) String() string {
	u := url.URL{Scheme: "postgres", Host: d.Addr(), Path: "/" + d.Database}
	if d.HasPassword {
		u.User = url.UserPassword(d.User, "xxxxx")
	} else {
		u.User = url.User(d.User)
	}
	q := url.Values{}
	for k, v := range d.Params {
		q.Set(k, v)
	}
	if d.SSLMode != "disable" {
		q.Set("sslmode", d.SSLMode)
	}
	for k, v := range map[string]string{"sslrootcert": d.SSLRootCert, "sslcert": d.SSLCert, "sslkey": d.SSLKey} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RedactURL hides the password of a URL for messages; a string that is not
// a URL is cut down to its scheme.
func RedactURL(raw string) string {
	if !strings.Contains(raw, "://") {
		// user:password@host/db without a scheme parses as an opaque URL
		// that Redacted would show whole.
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx@" + raw[i+1:]
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		if scheme, _, ok := strings.Cut(raw, "://"); ok {
			return scheme + "://..."
		}
		return "..."
	}
	return u.Redacted()
}

// Databases returns the PostgreSQL databases of c: the main one and the
// visibility one (visibility.url, or DB_visibility on the main one's
// server). A URL without a password takes persistence.url's. It reports
// the same problems Validate does, as *FieldError.
//
// A normalized config decodes the URLs once (see Normalized); Databases
// then returns that, as long as the URLs were not changed since.
func (c Config) Databases() (main, visibility DatabaseURL, err error) {
	if d := c.dbs; d != nil && d.url == c.Persistence.URL && d.visURL == c.Visibility.URL {
		return d.main, d.vis, d.err
	}
	return c.decodeDatabases()
}

// decodedDatabases is Databases' result for the URLs it was decoded from.
type decodedDatabases struct {
	url, visURL string
	main, vis   DatabaseURL
	err         error
}

func (c Config) decodeDatabases() (main, visibility DatabaseURL, err error) {
	main, err = ParseDatabaseURL(c.Persistence.URL)
	if err != nil {
		return main, visibility, &FieldError{Key: "persistence.url", Value: strconv.Quote(RedactURL(c.Persistence.URL)), Msg: err.Error()}
	}
	if c.Visibility.URL == "" {
		visibility = main
		visibility.Database = main.Database + VisibilitySuffix
		if len(visibility.Database) > maxDBName {
			return main, visibility, &FieldError{Key: "persistence.url", Value: strconv.Quote(RedactURL(c.Persistence.URL)),
				Msg: fmt.Sprintf("has a database name too long for its visibility database %s (at most %d); use a shorter name, or set visibility.url", visibility.Database, maxDBName)}
		}
		return main, visibility, nil
	}
	visibility, err = ParseDatabaseURL(c.Visibility.URL)
	if err != nil {
		return main, visibility, &FieldError{Key: "visibility.url", Value: strconv.Quote(RedactURL(c.Visibility.URL)), Msg: err.Error()}
	}
	if !visibility.HasPassword && visibility.User == main.User {
		visibility.Password, visibility.HasPassword = main.Password, main.HasPassword
	}
	if visibility.Addr() == main.Addr() && visibility.Database == main.Database {
		return main, visibility, &FieldError{Key: "visibility.url", Value: strconv.Quote(RedactURL(c.Visibility.URL)),
			Msg: fmt.Sprintf("names persistence.url's database %s; visibility needs a database of its own: leave visibility.url empty for %s%s", main.Database, main.Database, VisibilitySuffix)}
	}
	return main, visibility, nil
}

// validateDatabases adds the problems of the PostgreSQL keys.
func (c Config) validateDatabases(add addFunc) {
	p := c.Persistence
	if p.URL == "" {
		if c.Visibility.URL != "" {
			add("visibility.url", strconv.Quote(RedactURL(c.Visibility.URL)), "needs persistence.url: on SQLite visibility stays in the main database or visibility.file")
		}
		if p.PasswordFile != "" {
			add("persistence.password-file", strconv.Quote(p.PasswordFile), "needs persistence.url: SQLite has no password; remove it, or set persistence.url")
		}
		return
	}
	redacted := strconv.Quote(RedactURL(p.URL))
	if p.File != "" {
		add("persistence.url", redacted, "is set together with persistence.file (%s); a cluster has one database: unset persistence.file to run on PostgreSQL, or persistence.url for SQLite", p.File)
	}
	if c.Visibility.File != "" {
		add("visibility.file", strconv.Quote(c.Visibility.File), "is an SQLite file, and persistence.url runs on PostgreSQL: remove it (visibility goes to a PostgreSQL database, see visibility.url)")
	}
	main, _, err := c.Databases()
	if err != nil {
		fe := err.(*FieldError)
		add(fe.Key, fe.Value, "%s", fe.Msg)
		return
	}
	if main.HasPassword && p.PasswordFile != "" {
		add("persistence.password-file", strconv.Quote(p.PasswordFile), "is set, and persistence.url has a password too; give the password in one place")
	}
}
