package pgtest

import (
	"os"
	"testing"
	"time"
)

// TestServer starts a server, checks both roles and that Stop removes the
// data directory and ends the process.
func TestServer(t *testing.T) {
	s := Start(t)
	if got := s.QueryString(t, "postgres", "SELECT current_user"); got != Superuser {
		t.Errorf("current_user = %q, want %q", got, Superuser)
	}
	if got := s.QueryString(t, "postgres", "SELECT rolcreatedb::text FROM pg_roles WHERE rolname = $1", Limited); got != "false" {
		t.Errorf("%s may create databases: %s", Limited, got)
	}
	name, _ := s.NewDatabase(t)
	s.MustExec(t, "postgres", `CREATE DATABASE "`+name+`"`)
	if !s.DatabaseExists(t, name) {
		t.Fatalf("database %s not created", name)
	}
	s.Stop()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("postgres still running after Stop")
	}
	if err := s.Exec("postgres", "SELECT 1"); err == nil {
		t.Error("server still answers after Stop")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s left after Stop: %v", s.dir, err)
	}
}
