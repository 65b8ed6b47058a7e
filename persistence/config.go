package persistence

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/server/common/auth"
	"go.temporal.io/server/common/config"
	postgresql "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"

	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/devcluster/devcluster/profiles"
)

// PluginName is the server's PostgreSQL plugin devcluster uses (pgx).
const PluginName = postgresql.PluginNamePGX

// Pool sizes of each database (each role of a process has its own pool).
// The server's sample configs have 20; 4 start sooner and are as fast: a
// new PostgreSQL connection is a forked backend (~20 ms on the 2-core
// machine, pgbench -C), and pools of 20 opened about 30 of them while the
// server started. With 4: start to ready on an existing database 1.55 ->
// 1.31 s, on a new one 2.62 -> 2.17 s; throughput under make bench's load
// (C=50) the same (33.8/36.7 vs 32.6/36.2 wf/s), p99 1.7-2.1 vs 1.7-1.8 s.
// temporal.persistence.datastores.postgres-default.sql.maxConns (and
// postgres-visibility) changes it.
const (
	maxConns        = 4
	maxConnLifetime = time.Hour
)

// SQLConfig turns a parsed URL into the server's SQL config for the
// postgres12_pgx plugin: sslmode require, verify-ca and verify-full turn
// on the plugin's TLS (host verification for verify-full), sslrootcert,
// sslcert and sslkey become its files, other parameters are connect
// attributes. password replaces the URL's when the URL has none.
func SQLConfig(u profiles.DatabaseURL, password string) *config.SQL {
	c := &config.SQL{
		PluginName:        PluginName,
		DatabaseName:      u.Database,
		ConnectAddr:       u.Addr(),
		ConnectProtocol:   "tcp",
		User:              u.User,
		Password:          u.Password,
		ConnectAttributes: maps.Clone(u.Params),
		MaxConns:          maxConns,
		MaxIdleConns:      maxConns,
		MaxConnLifetime:   maxConnLifetime,
	}
	if !u.HasPassword {
		c.Password = password
	}
	if c.ConnectAttributes == nil {
		c.ConnectAttributes = map[string]string{}
	}
	switch u.SSLMode {
	case "require", "verify-ca", "verify-full":
		c.TLS = &auth.TLS{Enabled: true, EnableHostVerification: u.SSLMode == "verify-full",
			CaFile: u.SSLRootCert, CertFile: u.SSLCert, KeyFile: u.SSLKey}
		if u.SSLMode == "verify-ca" {
			c.ConnectAttributes["sslmode"] = "verify-ca"
		}
	case "allow", "prefer":
		c.ConnectAttributes["sslmode"] = u.SSLMode
		if u.SSLRootCert != "" {
			c.ConnectAttributes["sslrootcert"] = u.SSLRootCert
		}
		if u.SSLCert != "" {
			c.ConnectAttributes["sslcert"], c.ConnectAttributes["sslkey"] = u.SSLCert, u.SSLKey
		}
	}
	if len(c.ConnectAttributes) == 0 {
		c.ConnectAttributes = nil
	}
	return c
}

// MainSQLConfig is the server's SQL config of the main store, the one
// builder of it: persistence.url's without the password of
// persistence.password-file (Databases reads it), or SQLiteConfig's for a
// file or memory (a new in-memory database at each call: call it once per
// server).
func MainSQLConfig(cfg profiles.Config) (*config.SQL, error) {
	if !cfg.Persistence.Postgres() {
		return SQLiteConfig(cfg.Persistence), nil
	}
	mu, _, err := cfg.Databases()
	if err != nil {
		return nil, err
	}
	return SQLConfig(mu, ""), nil
}

// VisibilitySQLConfig is the server's SQL config of the visibility
// database, given the main one (with its password resolved): visibility.url,
// or the main database's server and user with database DB_visibility. A
// visibility.url without a password takes the main one's when the user is
// the same.
func VisibilitySQLConfig(cfg profiles.Config, main *config.SQL) (*config.SQL, error) {
	if cfg.Visibility.URL == "" {
		vis := *main
		vis.DatabaseName = main.DatabaseName + profiles.VisibilitySuffix
		vis.ConnectAttributes = maps.Clone(main.ConnectAttributes)
		if main.TLS != nil {
			tls := *main.TLS
			vis.TLS = &tls
		}
		return &vis, nil
	}
	_, vu, err := cfg.Databases()
	if err != nil {
		return nil, err
	}
	password := ""
	if vu.User == main.User {
		password = main.Password
	}
	return SQLConfig(vu, password), nil
}

// VisibilityKey is the config key the visibility database comes from.
func VisibilityKey(cfg profiles.Config) string {
	if cfg.Visibility.URL == "" {
		return "persistence.url" // DB_visibility is derived from it
	}
	return "visibility.url"
}

// Databases returns the main and visibility databases of a config with
// persistence.url, reading persistence.password-file when set. Errors are
// *profiles.FieldError.
func Databases(cfg profiles.Config) (main, visibility Database, err error) {
	mainSQL, err := MainSQLConfig(cfg)
	if err != nil {
		return main, visibility, err
	}
	passwordKey := ""
	if f := cfg.Persistence.PasswordFile; f != "" {
		passwordKey = "persistence.password-file"
		pw, err := ReadPasswordFile(f)
		if err != nil {
			return main, visibility, &profiles.FieldError{Key: passwordKey, Value: strconv.Quote(f), Msg: err.Error()}
		}
		mainSQL.Password = pw
	}
	visSQL, err := VisibilitySQLConfig(cfg, mainSQL)
	if err != nil {
		return main, visibility, err
	}
	main = Database{Kind: Main, SQL: mainSQL, Key: "persistence.url", PasswordKey: passwordKey}
	visibility = Database{Kind: Visibility, SQL: visSQL, Key: VisibilityKey(cfg), PasswordKey: passwordKey}
	return main, visibility, nil
}

// ReadPasswordFile returns the first line of a password file.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot be read (%v); give a readable file holding the password", oserr.Cause(err))
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("is empty; put the password on its first line")
	}
	return line, nil
}
