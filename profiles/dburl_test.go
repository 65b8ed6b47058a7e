package profiles

import (
	"strings"
	"testing"
)

func TestParseDatabaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want DatabaseURL // compared field by field; zero Params means none
		err  string      // part of the error, or "" for none
	}{
		{name: "full", raw: "postgres://u:p%40ss@db.example:6543/orders?sslmode=require&application_name=dc",
			want: DatabaseURL{Host: "db.example", Port: 6543, User: "u", Password: "p@ss", HasPassword: true, Database: "orders",
				SSLMode: "require", Params: map[string]string{"application_name": "dc"}}},
		{name: "defaults", raw: "postgresql://u@localhost",
			want: DatabaseURL{Host: "localhost", Port: 5432, User: "u", Database: "temporal", SSLMode: "disable"}},
		{name: "ipv6", raw: "postgres://u@[::1]:5433/x",
			want: DatabaseURL{Host: "::1", Port: 5433, User: "u", Database: "x", SSLMode: "disable"}},
		{name: "tls files", raw: "postgres://u@h/x?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem",
			want: DatabaseURL{Host: "h", Port: 5432, User: "u", Database: "x", SSLMode: "verify-full", SSLRootCert: "/ca.pem", SSLCert: "/c.pem", SSLKey: "/k.pem"}},
		{name: "other scheme", raw: "mysql://u:secret@h/x", err: "has scheme mysql: devcluster runs on PostgreSQL or SQLite only"},
		{name: "no scheme", raw: "h:5432/x", err: "has no scheme (postgres:// in front)"},
		{name: "no scheme with user", raw: "u:secret@h:5432/x", err: "has no scheme (postgres:// in front)"},
		{name: "no host", raw: "postgres:///x", err: "names no host"},
		{name: "no user", raw: "postgres://h/x", err: "names no user"},
		{name: "bad port", raw: "postgres://u@h:99999/x", err: "has port"},
		{name: "bad sslmode", raw: "postgres://u@h/x?sslmode=on", err: "use one of disable, allow, prefer, require, verify-ca, verify-full"},
		{name: "cert without key", raw: "postgres://u@h/x?sslcert=/c.pem", err: "give both"},
		{name: "bad database name", raw: "postgres://u@h/a%22b", err: "has database name"},
		{name: "password parameter", raw: "postgres://u@h/x?password=p", err: "put it in the URL itself"},
		{name: "several hosts", raw: "postgres://u@h1,h2/x", err: "names several hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDatabaseURL(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDatabaseURL(%q) = %v, want an error with %q", tc.raw, err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDatabaseURL(%q): %v", tc.raw, err)
			}
			if len(got.Params) == 0 {
				got.Params = nil
			}
			if got.String() != tc.want.String() || got.Password != tc.want.Password || got.HasPassword != tc.want.HasPassword {
				t.Errorf("ParseDatabaseURL(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestValidateDatabases(t *testing.T) {
	t.Parallel()
	const url = "postgres://dc:secret@127.0.0.1:5432/temporal"
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []wantErr
	}{
		{"url", func(c *Config) { c.Persistence.URL = url }, nil},
		{"url and password file", func(c *Config) {
			c.Persistence.URL = "postgres://dc@127.0.0.1/temporal"
			c.Persistence.PasswordFile = "/run/pg.pw"
		}, nil},
		{"url and visibility url", func(c *Config) {
			c.Persistence.URL = url
			c.Visibility.URL = "postgres://dc@127.0.0.1/vis"
		}, nil},
		{"other scheme", func(c *Config) { c.Persistence.URL = "mysql://dc:secret@127.0.0.1/temporal" },
			[]wantErr{{"persistence.url", `"mysql://dc:xxxxx@127.0.0.1/temporal" has scheme mysql`}}},
		{"url and file", func(c *Config) {
			c.Persistence.URL = url
			c.Persistence.File = "x.db"
		}, []wantErr{{"persistence.url", "unset persistence.file to run on PostgreSQL"}}},
		{"url and visibility file", func(c *Config) {
			c.Persistence.URL = url
			c.Visibility.File = "v.db"
		}, []wantErr{{"visibility.file", "is an SQLite file"}}},
		{"password twice", func(c *Config) {
			c.Persistence.URL = url
			c.Persistence.PasswordFile = "/run/pg.pw"
		}, []wantErr{{"persistence.password-file", "give the password in one place"}}},
		{"password file without url", func(c *Config) { c.Persistence.PasswordFile = "/run/pg.pw" },
			[]wantErr{{"persistence.password-file", "needs persistence.url"}}},
		{"visibility url without url", func(c *Config) { c.Visibility.URL = url },
			[]wantErr{{"visibility.url", "needs persistence.url"}}},
		{"visibility url is the main database", func(c *Config) {
			c.Persistence.URL = url
			c.Visibility.URL = "postgres://other@127.0.0.1:5432/temporal"
		}, []wantErr{{"visibility.url", "leave visibility.url empty for temporal_visibility"}}},
		{"visibility url other scheme", func(c *Config) {
			c.Persistence.URL = url
			c.Visibility.URL = "mysql://x@h/v"
		}, []wantErr{{"visibility.url", "has scheme mysql"}}},
		{"name too long for visibility", func(c *Config) {
			c.Persistence.URL = "postgres://dc@h/" + strings.Repeat("d", 60)
		}, []wantErr{{"persistence.url", "too long for its visibility database"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default().Clone()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			got := FieldErrors(err)
			if len(got) != len(tc.want) {
				t.Fatalf("Validate() gave %d field errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for _, w := range tc.want {
				assertHasFieldError(t, got, w)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestDatabasesVisibilityPassword(t *testing.T) {
	t.Parallel()
	c := Default().Clone()
	c.Persistence.URL = "postgres://dc:pw@h/main"
	c.Visibility.URL = "postgres://dc@h2/vis"
	_, vis, err := c.Databases()
	if err != nil {
		t.Fatal(err)
	}
	if vis.Password != "pw" || vis.Host != "h2" || vis.Database != "vis" {
		t.Errorf("visibility = %+v, want persistence.url's password on h2/vis", vis)
	}
	c.Visibility.URL = ""
	_, vis, _ = c.Databases()
	if vis.Database != "main_visibility" || vis.Password != "pw" {
		t.Errorf("derived visibility = %+v, want main_visibility with the same password", vis)
	}
}

func TestPostgresKeysInEnv(t *testing.T) {
	t.Parallel()
	keys := envKeys()
	for env, key := range map[string]string{
		"DEVCLUSTER_PERSISTENCE_URL":           "persistence.url",
		"DEVCLUSTER_PERSISTENCE_PASSWORD_FILE": "persistence.password-file",
		"DEVCLUSTER_VISIBILITY_URL":            "visibility.url",
	} {
		if got := strings.Join(keys[env], "."); got != key {
			t.Errorf("%s sets %q, want %q", env, got, key)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"postgres://u:secret@h:5432/x": "postgres://u:xxxxx@h:5432/x",
		"u:secret@h:5432/x":            "xxxxx@h:5432/x",
		"u:se:cr@et@h/x":               "xxxxx@h/x",
		"h:5432/x":                     "h:5432/x",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestDatabasesDecodedOnce: a normalized config keeps its URLs decoded,
// and Databases decodes again only URLs changed since.
func TestDatabasesDecodedOnce(t *testing.T) {
	cfg := Default()
	cfg.Persistence.URL = "postgres://u:pw@db1:6000/orders"
	n := cfg.Normalized()
	if n.dbs == nil || n.dbs.err != nil || n.dbs.main.Host != "db1" || n.dbs.vis.Database != "orders_visibility" {
		t.Fatalf("Normalized decoded %+v; want db1/orders and orders_visibility", n.dbs)
	}
	if main, _, err := n.Databases(); err != nil || main.Port != 6000 {
		t.Fatalf("Databases = %+v, %v", main, err)
	}
	n.Persistence.URL = "postgres://u@db2/other"
	if main, _, err := n.Databases(); err != nil || main.Host != "db2" {
		t.Fatalf("Databases after a change = %+v, %v; want db2", main, err)
	}
	bad := Default()
	bad.Persistence.URL = "db1:6000/orders"
	if _, _, err := bad.Normalized().Databases(); err == nil || !strings.Contains(err.Error(), "persistence.url") {
		t.Fatalf("a bad URL, decoded at normalization: %v; want the persistence.url error", err)
	}
}
