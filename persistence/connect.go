package persistence

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"

	"github.com/devcluster/devcluster/profiles"
)

// Conditions callers (and tests) branch on; every error of this package
// that is about the database wraps one of them in a *profiles.FieldError
// naming the config key.
var (
	// ErrUnreachable: nothing answers at host:port, or the name does not
	// resolve.
	ErrUnreachable = errors.New("database server unreachable")
	// ErrAuth: the server refused the user or password.
	ErrAuth = errors.New("database authentication failed")
	// ErrTLS: TLS was asked for and the server does not offer it, or the
	// certificates do not verify.
	ErrTLS = errors.New("database TLS failed")
	// ErrPermission: the user may not create the database or its tables.
	ErrPermission = errors.New("database permission denied")
	// ErrNewerSchema: the database's schema is newer than the embedded
	// server's.
	ErrNewerSchema = errors.New("database schema newer than this server")
	// ErrForeign: the database holds something that is not a Temporal
	// schema of the expected kind.
	ErrForeign = errors.New("not a Temporal database")
	// ErrNeedsUpgrade and ErrNoSchema are what `db setup` and `db upgrade`
	// refuse to do (the other command does it).
	ErrNeedsUpgrade = errors.New("database schema needs an upgrade")
	ErrNoSchema     = errors.New("database has no schema")
)

// connString renders a pgx connection string for the database db, with
// the TLS settings the server's postgres12_pgx plugin derives from the same
// config (common/persistence/sql/sqlplugin/postgresql/session).
func connString(c *config.SQL, db string) string {
	q := url.Values{}
	for k, v := range c.ConnectAttributes {
		q.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if c.TLS != nil && c.TLS.Enabled {
		if q.Get("sslmode") == "" {
			if c.TLS.EnableHostVerification {
				q.Set("sslmode", "verify-full")
			} else {
				q.Set("sslmode", "require")
			}
		}
		if q.Get("sslrootcert") == "" && c.TLS.CaFile != "" {
			q.Set("sslrootcert", c.TLS.CaFile)
		}
		if q.Get("sslkey") == "" && c.TLS.KeyFile != "" {
			q.Set("sslkey", c.TLS.KeyFile)
			q.Set("sslcert", c.TLS.CertFile)
		}
	} else if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password), Host: c.ConnectAddr, Path: "/" + db, RawQuery: q.Encode()}
	return u.String()
}

// connect opens one connection to database db (not the config's own
// database when creating it). A missing database is reported as
// errMissing, every other failure as a *profiles.FieldError.
func (d Database) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(connString(d.SQL, db))
	if err != nil {
		return nil, d.fail(nil, "cannot be used: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, d.connectError(ctx, db, err)
	}
	return conn, nil
}

var errMissing = errors.New("database does not exist")

// connectError names what went wrong and what to do.
func (d Database) connectError(ctx context.Context, db string, err error) error {
	addr := d.SQL.ConnectAddr
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "3D000":
			return errMissing
		case pg.Code == "28P01" || (pg.Code == "28000" && strings.Contains(pg.Message, "password")):
			return d.fail(ErrAuth, "PostgreSQL at %s refused user %q: %s; fix the user or password in %s%s",
				addr, d.SQL.User, pg.Message, d.Key, d.passwordHint())
		case pg.Code == "28000":
			return d.fail(ErrAuth, "PostgreSQL at %s refused user %q: %s; allow the user in the server's pg_hba.conf, or fix %s",
				addr, d.SQL.User, pg.Message, d.Key)
		case pg.Code == "42501":
			return d.fail(ErrPermission, "user %q may not connect to database %s at %s: %s; grant CONNECT on it, or use another user",
				d.SQL.User, db, addr, pg.Message)
		}
		return d.fail(nil, "PostgreSQL at %s: %s (SQLSTATE %s)", addr, pg.Message, pg.Code)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server refused TLS connection"):
		return d.fail(ErrTLS, "PostgreSQL at %s does not offer TLS, which sslmode=%s asks for; turn TLS on in the server (ssl = on), or use sslmode=disable (or prefer) in %s",
			addr, d.sslMode(), d.Key)
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		return d.fail(ErrTLS, "TLS with PostgreSQL at %s failed (%s); check sslrootcert, sslcert and sslkey in %s, or use a weaker sslmode",
			addr, lastPart(msg), d.Key)
	case strings.Contains(msg, "invalid body length") || strings.Contains(msg, "unknown message type"):
		// What pgx makes of an HTTP (or other) server's first answer.
		return d.fail(ErrUnreachable, "what answers at %s is not PostgreSQL (it does not speak PostgreSQL's protocol); fix HOST:PORT in %s",
			addr, d.Key)
	case ctx.Err() != nil:
		return d.fail(ErrUnreachable, "PostgreSQL at %s did not answer before the startup timeout (%v); check HOST:PORT in %s and that the server runs",
			addr, ctx.Err(), d.Key)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || strings.Contains(msg, "hostname resolving error") {
		return d.fail(ErrUnreachable, "host %s does not resolve (%s); fix HOST in %s", hostOf(addr), lastPart(msg), d.Key)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.ETIMEDOUT) || strings.Contains(msg, "dial error") {
		return d.fail(ErrUnreachable, "cannot reach PostgreSQL at %s (%s); start the server, or fix HOST:PORT in %s",
			addr, lastPart(msg), d.Key)
	}
	return d.fail(nil, "connect to PostgreSQL at %s: %s", addr, lastPart(msg))
}

// queryError names a failed statement's cause where it is the user's to fix.
func (d Database) queryError(what string, err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42501" {
		return d.fail(ErrPermission, "user %q may not %s in database %s: %s; make the user the database's owner, or use one that owns it",
			d.SQL.User, what, d.SQL.DatabaseName, pg.Message)
	}
	return d.fail(nil, "%s in database %s: %v", what, d.SQL.DatabaseName, err)
}

func (d Database) fail(sentinel error, format string, args ...any) error {
	return &profiles.FieldError{Key: d.Key, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (d Database) passwordHint() string {
	if d.PasswordKey != "" {
		return " or " + d.PasswordKey
	}
	return ""
}

func (d Database) sslMode() string {
	if m := d.SQL.ConnectAttributes["sslmode"]; m != "" {
		return m
	}
	if d.SQL.TLS != nil && d.SQL.TLS.Enabled {
		if d.SQL.TLS.EnableHostVerification {
			return "verify-full"
		}
		return "require"
	}
	return "disable"
}

// lastPart drops pgx's "failed to connect to `user=... database=...`:"
// preamble (the key already says which database).
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	for _, p := range []string{"dial error: ", "dial tcp "} {
		if i := strings.LastIndex(msg, p); i >= 0 {
			msg = msg[i+len(p):]
		}
	}
	return msg
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
