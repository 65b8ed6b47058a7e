// Package pgtest starts throwaway PostgreSQL servers for devcluster's own
// tests: initdb in a temporary directory, postgres on a free loopback port,
// a password-protected superuser and a second role that may not create
// databases. It needs the PostgreSQL 15 server binaries (Debian's
// `postgresql` package) and fails, rather than skips, when they are missing.
//
// A server's postgres process is watched by a small shell that stops it and
// removes its data directory as soon as its standard input closes: when
// Stop closes it, and when the test binary exits in any way (even killed),
// so no server or directory outlives the tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devcluster/devcluster/internal/syncbuf"
)

// BinDir holds the PostgreSQL server binaries; DCTEST_PG_BIN overrides it.
const BinDir = "/usr/lib/postgresql/15/bin"

// Install is how to get the binaries, for failure messages.
const Install = "apt-get install postgresql (Debian's PostgreSQL 15 server, which puts its binaries in " + BinDir + "; or set DCTEST_PG_BIN to a directory holding initdb and postgres)"

// Roles every server has.
const (
	// Superuser owns the server and may create databases.
	Superuser = "devcluster"
	// Limited may log in but not create databases (for permission tests).
	Limited = "limited"
)

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int
	// Password is the password of both Superuser and Limited.
	Password string

	dir      string
	uid, gid int  // the postgres user's when run as root, else -1
	durable  bool // PostgreSQL's own durability settings (see StartDurable)
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out      *syncbuf.Buffer
	exited   chan struct{}
	stopped  *sync.Once
}

func binDir() string {
	if d := os.Getenv("DCTEST_PG_BIN"); d != "" {
		return d
	}
	return BinDir
}

// Available reports whether the server binaries are installed, and if not,
// why.
func Available() error {
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(binDir(), name)); err != nil {
			return fmt.Errorf("PostgreSQL server binary %s not found in %s: install it with %s", name, binDir(), Install)
		}
	}
	return nil
}

// Start starts a server for t and stops it when t ends. It skips t under
// -short and fails it when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; skipped with -short")
	}
	s, err := StartServer()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

var shared struct {
	mu  sync.Mutex
	s   *Server
	err error
}

// Shared returns the test binary's shared server, started on first use: a
// package's tests share one server (each test makes its own database,
// see NewDatabase). It lives until the test binary exits. It skips t under
// -short and fails it when PostgreSQL is not installed.
func Shared(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; skipped with -short")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = StartServer()
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.s
}

// StartDurable starts a server for t, as Start does, with PostgreSQL's
// own durability settings (fsync, synchronous_commit and full_page_writes
// on; the other servers have them off), for tests that crash it (Crash)
// and start it again on the same data (Restart).
func StartDurable(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; skipped with -short")
	}
	s, err := startServer(true)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartServer starts a server without a test; Stop stops it (and the exit
// of the process does too).
func StartServer() (*Server, error) { return startServer(false) }

func startServer(durable bool) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := startOnce(durable)
		if err == nil {
			return s, nil
		}
		last = err
		if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	return nil, last
}

func startOnce(durable bool) (*Server, error) {
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user (created by %s): %w", Install, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	dir, err := os.MkdirTemp("", "devcluster-pgtest-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	password := randomHex(12)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if uid >= 0 {
		if err := os.Chown(pwfile, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(binDir(), "initdb"), "-D", data, "-U", Superuser, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	initdb.SysProcAttr = credentials(uid, gid)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pwfile)

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, uid: uid, gid: gid, durable: durable, Host: "127.0.0.1", Port: port, Password: password}
	if err := s.launch(); err != nil {
		return nil, err
	}
	ok = true // the shell removes dir from now on
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("postgres on port %d: %w\n%s", port, err, s.out.String())
	}
	if err := s.Exec("postgres", fmt.Sprintf(`CREATE ROLE %s LOGIN NOCREATEDB PASSWORD '%s'`, Limited, password)); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// launch starts postgres on s.dir and s.Port under a small shell that
// stops it (fast shutdown) once its standard input closes, at Stop or when
// this process exits, and then removes the directory, unless Crash asked
// to keep it. Settings for a throwaway server: loopback only, no Unix
// socket, and unless durable no durability (a crash loses a test
// database, nothing else).
func (s *Server) launch() error {
	script := `exec 3<&0
"$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
	$PG_OPTS -c max_connections=300 0</dev/null 3<&- &
pid=$!
( cat <&3 >/dev/null 2>&1; kill -INT $pid 2>/dev/null ) >/dev/null 2>&1 &
exec 3<&-
wait $pid
st=$?
if [ -e "$PG_DIR/keep" ]; then rm -f "$PG_DIR/keep"; else rm -rf "$PG_DIR"; fi
exit $st
`
	opts := "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	if s.durable {
		opts = ""
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "PG_BIN=" + binDir(), "PG_DIR=" + s.dir, "PG_PORT=" + strconv.Itoa(s.Port), "PG_OPTS=" + opts}
	attr := credentials(s.uid, s.gid)
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	// Its own process group: a Ctrl+C of go test reaches the test binary,
	// whose exit then closes the pipe; postgres gets one orderly stop.
	attr.Setpgid = true
	cmd.SysProcAttr = attr
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.stdin, s.out, s.exited, s.stopped = cmd, stdin, out, exited, new(sync.Once)
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

// Crash stops the server at once, as a power cut would leave it for its
// next start: SIGQUIT to postgres, an immediate shutdown (no checkpoint;
// what its buffers held but had not written is lost, and the next start
// recovers from the write-ahead log). The data stays for Restart.
func (s *Server) Crash(t testing.TB) {
	t.Helper()
	if !s.durable {
		t.Fatal("pgtest: Crash of a server not started by StartDurable (others share it)")
	}
	if err := os.WriteFile(filepath.Join(s.dir, "keep"), nil, 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("pgtest: postmaster.pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatalf("pgtest: SIGQUIT postgres: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("pgtest: postgres still running 30 s after SIGQUIT\n%s", s.out.String())
	}
}

// Restart starts the server again on its data and port after Crash. The
// port was free meanwhile: if something else took it, postgres cannot
// bind, and Restart tries again for up to 10 s.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := os.WriteFile(filepath.Join(s.dir, "keep"), nil, 0o644); err != nil { // kept if it cannot bind
			t.Fatalf("pgtest: %v", err)
		}
		if err := s.launch(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		err := s.waitReady(60 * time.Second)
		if err == nil {
			_ = os.Remove(filepath.Join(s.dir, "keep")) // a stop removes the directory again
			return
		}
		if !strings.Contains(s.out.String(), "could not bind") || time.Now().After(deadline) {
			t.Fatalf("pgtest: restart on port %d: %v\n%s", s.Port, err, s.out.String())
		}
		<-s.exited
		<-time.After(100 * time.Millisecond) // the port's holder may be gone by then
	}
}

func credentials(uid, gid int) *syscall.SysProcAttr {
	if uid < 0 {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}

// waitReady polls until the superuser can run a query, the server exits,
// or timeout passes.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	step := 10 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("postgres exited while starting")
		default:
		}
		if last = s.Exec("postgres", "SELECT 1"); last == nil {
			return nil
		}
		select {
		case <-s.exited:
		case <-time.After(step):
		}
		step = min(step*2, 200*time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: last error: %w", timeout, last)
}

// Stop stops the server and removes its data directory; it waits at most
// 30 s and is safe to call twice.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		_ = s.stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		// The shell removed it, unless it was killed or a Crash kept it.
		_ = os.RemoveAll(s.dir)
	})
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is a postgres:// URL for the superuser and database db, with extra
// query parameters (e.g. "sslmode=require").
func (s *Server) URL(db string, query ...string) string {
	return s.RoleURL(Superuser, db, query...)
}

// RoleURL is URL for another role (Limited).
func (s *Server) RoleURL(role, db string, query ...string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, s.Password), Host: s.Addr(), Path: "/" + db,
		RawQuery: strings.Join(query, "&")}
	return u.String()
}

// Exec runs statements as the superuser in database db.
func (s *Server) Exec(db string, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(db, "sslmode=disable"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// MustExec is Exec that fails t.
func (s *Server) MustExec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	if err := s.Exec(db, stmts...); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// QueryString returns the first column of the first row of query in db.
func (s *Server) QueryString(t testing.TB, db, query string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(db, "sslmode=disable"))
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", db, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var out string
	if err := conn.QueryRow(ctx, query, args...).Scan(&out); err != nil {
		t.Fatalf("pgtest: %s: %v", query, err)
	}
	return out
}

// DatabaseExists reports whether database name exists.
func (s *Server) DatabaseExists(t testing.TB, name string) bool {
	t.Helper()
	return s.QueryString(t, "postgres", `SELECT count(*)::text FROM pg_database WHERE datname = $1`, name) == "1"
}

// DatabaseName returns a name no other test uses: "t_" and random hex,
// short enough for a "_visibility" suffix.
func DatabaseName() string { return "t_" + randomHex(8) }

// NewDatabase returns the URL of a database name that does not exist yet
// on s (devcluster creates it); the database and its _visibility sibling
// are dropped when t ends.
func (s *Server) NewDatabase(t testing.TB, query ...string) (name, dbURL string) {
	t.Helper()
	name = DatabaseName()
	t.Cleanup(func() { s.Drop(t, name, name+"_visibility") })
	return name, s.URL(name, query...)
}

// Drop drops databases (if they exist), ending their connections; on a
// stopped server it does nothing.
func (s *Server) Drop(t testing.TB, names ...string) {
	t.Helper()
	select {
	case <-s.exited:
		return
	default:
	}
	for _, n := range names {
		if err := s.Exec("postgres", fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, n)); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
