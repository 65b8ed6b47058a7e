package persistence

import (
	"net/url"
	"testing"

	"github.com/devcluster/devcluster/profiles"
)

// TestSQLConfigTLS: sslmode and the ssl files become the plugin's TLS
// settings, and the probe connection string asks for the same TLS the
// plugin's DSN does.
func TestSQLConfigTLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url       string
		tls, host bool
		ca        string
		probeMode string
		attrs     map[string]string
	}{
		{url: "postgres://u:p@h/db", probeMode: "disable"},
		{url: "postgres://u:p@h/db?sslmode=require", tls: true, probeMode: "require"},
		{url: "postgres://u:p@h/db?sslmode=verify-full&sslrootcert=/ca.pem", tls: true, host: true, ca: "/ca.pem", probeMode: "verify-full"},
		{url: "postgres://u:p@h/db?sslmode=verify-ca&sslrootcert=/ca.pem", tls: true, ca: "/ca.pem", probeMode: "verify-ca", attrs: map[string]string{"sslmode": "verify-ca"}},
		{url: "postgres://u:p@h/db?sslmode=prefer&application_name=dc", probeMode: "prefer", attrs: map[string]string{"sslmode": "prefer", "application_name": "dc"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := profiles.ParseDatabaseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			c := SQLConfig(u, "ignored")
			if c.PluginName != "postgres12_pgx" || c.Password != "p" || c.ConnectAddr != "h:5432" || c.DatabaseName != "db" {
				t.Errorf("config %+v", c)
			}
			gotTLS := c.TLS != nil && c.TLS.Enabled
			if gotTLS != tc.tls || (gotTLS && (c.TLS.EnableHostVerification != tc.host || c.TLS.CaFile != tc.ca)) {
				t.Errorf("TLS %+v, want enabled=%v host verification=%v ca=%q", c.TLS, tc.tls, tc.host, tc.ca)
			}
			for k, v := range tc.attrs {
				if c.ConnectAttributes[k] != v {
					t.Errorf("connect attribute %s = %q, want %q", k, c.ConnectAttributes[k], v)
				}
			}
			probe, err := url.Parse(connString(c, "db"))
			if err != nil {
				t.Fatal(err)
			}
			if got := probe.Query().Get("sslmode"); got != tc.probeMode {
				t.Errorf("probe sslmode = %q, want %q", got, tc.probeMode)
			}
			if tc.ca != "" && probe.Query().Get("sslrootcert") != tc.ca {
				t.Errorf("probe sslrootcert = %q", probe.Query().Get("sslrootcert"))
			}
		})
	}
	u, _ := profiles.ParseDatabaseURL("postgres://u@h/db")
	if c := SQLConfig(u, "from-file"); c.Password != "from-file" {
		t.Errorf("password %q, want the password file's", c.Password)
	}
}
