// Package container holds the tests of devcluster's container image (the
// Containerfile and build.sh beside them): the contract the Temporal CLI
// image's users rely on, run with podman and the real Go SDK through the
// published ports.
package container

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/devcluster/devcluster/internal/pgtest"
	"github.com/devcluster/devcluster/internal/portsfile"
)

// imageConfig is the part of `podman image inspect` the contract names.
type imageConfig struct {
	Architecture string
	Os           string
	Size         int64
	Healthcheck  *struct{ Test []string }
	Config       struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]any
		Labels       map[string]string
		Volumes      map[string]any
	}
}

func inspectImage(t *testing.T, image string) imageConfig {
	var out []imageConfig
	if err := json.Unmarshal([]byte(podman(t, "image", "inspect", image)), &out); err != nil || len(out) != 1 {
		t.Fatalf("podman image inspect %s: %v (%d images)", image, err, len(out))
	}
	return out[0]
}

// maxImageSize is the bound on the uncompressed image.
const maxImageSize = 130_000_000

func TestImageStartDev(t *testing.T) {
	img := testImage(t)
	cfg := inspectImage(t, img)
	if cfg.Size > maxImageSize {
		t.Errorf("image is %.1f MB, more than %d MB", float64(cfg.Size)/1e6, maxImageSize/1_000_000)
	}
	if cfg.Config.User != "1000:1000" {
		t.Errorf("image user = %q, want 1000:1000 (not root)", cfg.Config.User)
	}
	for _, p := range []string{"7233/tcp", "7243/tcp", "8233/tcp"} {
		if _, ok := cfg.Config.ExposedPorts[p]; !ok {
			t.Errorf("image does not expose %s: %v", p, cfg.Config.ExposedPorts)
		}
	}
	if _, ok := cfg.Config.Volumes["/data"]; !ok {
		t.Errorf("image has no /data volume: %v", cfg.Config.Volumes)
	}
	if got := strings.Join(cfg.Config.Cmd, " "); got != "server start-dev --ip 0.0.0.0" {
		t.Errorf("default command = %q, want the CLI image's server start-dev --ip 0.0.0.0", got)
	}
	for _, l := range []string{"org.opencontainers.image.version", "org.opencontainers.image.source", "io.temporal.server.version"} {
		if cfg.Config.Labels[l] == "" || cfg.Config.Labels[l] == "unknown" {
			t.Errorf("label %s = %q", l, cfg.Config.Labels[l])
		}
	}
	if cfg.Healthcheck == nil || !strings.Contains(strings.Join(cfg.Healthcheck.Test, " "), "wait-ready --ports-file") {
		t.Errorf("health check = %+v, want wait-ready --ports-file", cfg.Healthcheck)
	}

	c := runImage(t, []string{"-p", "127.0.0.1::7233", "-p", "127.0.0.1::7243", "-p", "127.0.0.1::8233"})
	c.waitLog("Temporal Server:", 30*time.Second)
	sdk := dial(t, client.Options{HostPort: c.port(7233)})
	runGreet(t, sdk, "greet")

	// The probes testcontainers modules wait with: the Web UI's API on
	// 8233 (it may come up a moment after the frontend), and the
	// frontend's HTTP API on 7243.
	ui := "http://" + c.port(8233)
	wantJSON(t, ui+"/api/v1/system-info", "serverVersion")
	wantJSON(t, ui+"/api/v1/namespaces", `"default"`)
	wantJSON(t, "http://"+c.port(7243)+"/api/v1/namespaces/default", `"default"`)

	// The health check: healthy once ready (podman runs it on a timer
	// where systemd runs; here the test runs it, as the timer would).
	waitFor(t, 30*time.Second, "health check", func() error {
		if _, errOut, err := podmanErr("healthcheck", "run", c.name); err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		return nil
	})
	if st := c.inspect("{{.State.Health.Status}}"); st != "healthy" {
		t.Errorf("health status = %q after a passing check, want healthy", st)
	}
	// The check can fail: a ports file no cluster writes.
	if out, errOut, err := podmanErr("exec", c.name, "devcluster", "wait-ready", "--ports-file", "/tmp/none.json", "--timeout", "300ms"); err == nil {
		t.Errorf("wait-ready on a missing ports file passed: %s%s", out, errOut)
	} else if !strings.Contains(errOut, "not written within") {
		t.Errorf("wait-ready on a missing ports file: %s", errOut)
	}

	if code := c.stop(); code != "0" {
		t.Errorf("podman stop: exit code %s, want 0 (a clean stop on SIGTERM)", code)
	}
	if !strings.Contains(c.logs(), "devcluster: stopping") {
		t.Errorf("no graceful stop in the log")
	}
}

// The health check fails while the cluster is not ready: a container whose
// database (a listener that accepts and never answers) holds its start.
func TestImageHealthCheckNotReady(t *testing.T) {
	db, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			conn, err := db.Accept()
			if err != nil {
				return
			}
			accepted <- conn // held open, never answered
		}
	}()
	c := runImage(t, []string{"--network", "host"}, "server", "start-dev", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(freePort(t)), "--ui-port", strconv.Itoa(freePort(t)), "--http-port", "0",
		"--db-url", "postgres://u:p@"+db.Addr().String()+"/silent")
	select {
	case conn := <-accepted:
		defer func() { _ = conn.Close() }()
	case <-time.After(60 * time.Second):
		t.Fatalf("devcluster never dialed the database:\n%s", c.logs())
	}
	if _, _, err := podmanErr("healthcheck", "run", c.name); err == nil {
		t.Fatalf("health check passed while the cluster waits for its database")
	}
	if st := c.inspect("{{.State.Health.Status}}"); st == "healthy" {
		t.Fatalf("health status %q while the cluster waits for its database", st)
	}
}

// wantJSON polls url until it answers 200 with a body holding want.
func wantJSON(t *testing.T, url, want string) {
	t.Helper()
	waitFor(t, 20*time.Second, "GET "+url, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return fmt.Errorf("%s: %.200s", resp.Status, body)
		}
		return nil
	})
}

// Modules written for the CLI's image run its binary's path.
func TestImageTemporalEntrypoint(t *testing.T) {
	c := runImage(t, []string{"-p", "127.0.0.1::7233", "--entrypoint", "/usr/local/bin/temporal"},
		"server", "start-dev", "--ip", "0.0.0.0", "--namespace", "extra", "--log-level", "warn")
	c.waitLog("Temporal Server:", 30*time.Second)
	runGreet(t, dial(t, client.Options{HostPort: c.port(7233), Namespace: "extra"}), "temporal-entrypoint")
	if out := podman(t, "exec", c.name, "temporal", "operator", "cluster", "health", "--namespace", "extra"); !strings.Contains(out, "SERVING") {
		t.Errorf("temporal operator cluster health: %q", out)
	}
}

// A database file on a named volume, written by the image's non-root
// user, survives a stop (SIGTERM, exit 0) and a start of the container.
func TestImageDataVolume(t *testing.T) {
	vol := randomName("dctest-vol-")
	podman(t, "volume", "create", vol)
	t.Cleanup(func() { _, _, _ = podmanErr("volume", "rm", "-f", vol) })
	c := runImage(t, []string{"-p", "127.0.0.1::7233", "-v", vol + ":/data"},
		"server", "start-dev", "--ip", "0.0.0.0", "--db-filename", "/data/dev.db")
	c.waitLog("Temporal Persistence: /data/dev.db", 30*time.Second)
	sdk := dial(t, client.Options{HostPort: c.port(7233)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Started with no worker: it waits in the database across the restart.
	run, err := sdk.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "after-restart"}, Greet, "container")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	sdk.Close()
	if code := c.stop(); code != "0" {
		t.Fatalf("podman stop: exit code %s, want 0", code)
	}
	podman(t, "start", c.name)
	waitFor(t, 30*time.Second, "second start's banner", func() error {
		if n := strings.Count(c.logs(), "Temporal Server:"); n < 2 {
			return fmt.Errorf("%d banners", n)
		}
		return nil
	})
	sdk = dial(t, client.Options{HostPort: c.port(7233)})
	runGreet(t, sdk, "after-restart-check")
	w := newWorker(t, sdk, "after-restart")
	defer w.Stop()
	var got string
	if err := sdk.GetWorkflow(ctx, "kept", run.GetRunID()).Get(ctx, &got); err != nil || got != "hello container" {
		t.Fatalf("workflow started before the restart: %q, %v", got, err)
	}
}

// The secure profile through the image: mTLS and auth with the files and
// a token taken out of the container.
func TestImageSecure(t *testing.T) {
	c := runImage(t, []string{"-p", "127.0.0.1::7233"}, "start", "--profile", "secure", "--ip", "0.0.0.0", "--cert-dir", "/data/certs")
	// The health check's own command, here with TLS and auth on.
	if out, errOut, err := podmanErr("exec", c.name, "devcluster", "wait-ready", "--ports-file", "/tmp/devcluster-ports.json", "--timeout", "30s"); err != nil {
		t.Fatalf("wait-ready --ports-file: %v\n%s%s", err, out, errOut)
	}
	dir := tempDir(t)
	podman(t, "cp", c.name+":/tmp/devcluster-ports.json", dir)
	p, err := portsfile.Read(filepath.Join(dir, "devcluster-ports.json"))
	if err != nil || p.TLS == nil || !p.TLS.Auth {
		t.Fatalf("ports file: %+v, %v; want TLS with auth", p, err)
	}
	files := map[string]string{}
	for name, in := range map[string]string{"cert": p.TLS.ClientCert, "key": p.TLS.ClientKey, "ca": p.TLS.CA} {
		podman(t, "cp", c.name+":"+in, filepath.Join(dir, name+".pem"))
		files[name] = filepath.Join(dir, name+".pem")
	}
	token := strings.TrimSpace(podman(t, "exec", c.name, "devcluster", "token", "--cert-dir", p.TLS.KeyDir, "--system-admin"))
	tc := clientTLS(t, files["cert"], files["key"], files["ca"], p.TLS.ServerName)
	addr := c.port(7233)
	sdk := dial(t, client.Options{HostPort: addr, ConnectionOptions: client.ConnectionOptions{TLS: tc},
		Credentials: client.NewAPIKeyStaticCredentials(token)})
	runGreet(t, sdk, "secure")

	// Without the token, and without TLS, the frontend refuses.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	noToken, err := client.DialContext(ctx, client.Options{HostPort: addr, ConnectionOptions: client.ConnectionOptions{TLS: tc}})
	if err == nil {
		_, err = noToken.WorkflowService().DescribeNamespace(ctx, describe("default"))
		noToken.Close()
	}
	var denied *serviceerror.PermissionDenied
	if !errors.As(err, &denied) {
		t.Errorf("a client with the certificate and no token: %v, want permission denied", err)
	}
	if _, err := client.DialContext(ctx, client.Options{HostPort: addr}); err == nil {
		t.Errorf("a plaintext client connected to the secure frontend")
	}
}

func clientTLS(t *testing.T, cert, key, ca, serverName string) *tls.Config {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", ca)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Time skipping through the image: a day's sleep ends at once.
func TestImageTimeSkipping(t *testing.T) {
	c := runImage(t, []string{"-p", "127.0.0.1::7233"}, "server", "start-dev", "--ip", "0.0.0.0", "--time-skipping")
	c.waitLog("Temporal Server:", 30*time.Second)
	sdk := dial(t, client.Options{HostPort: c.port(7233)})
	w := newWorker(t, sdk, "nap")
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := sdk.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "nap"}, Nap)
	if err != nil {
		t.Fatal(err)
	}
	var slept time.Duration
	if err := run.Get(ctx, &slept); err != nil || slept < 24*time.Hour {
		t.Fatalf("Nap: slept %s, %v; want 24h of workflow time", slept, err)
	}
}

// PostgreSQL through --db-url: the container on the host's network
// reaches a throwaway server on loopback; devcluster makes the schema.
func TestImagePostgres(t *testing.T) {
	pg := pgtest.Start(t)
	port := freePort(t)
	c := runImage(t, []string{"--network", "host"}, "server", "start-dev", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(freePort(t)), "--http-port", "0",
		"--db-url", pg.URL(pgtest.DatabaseName()))
	c.waitLog("Temporal Persistence: postgres", 60*time.Second)
	runGreet(t, dial(t, client.Options{HostPort: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}), "postgres")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// The arm64 image (make test-image-arm64 builds it and sets
// DCTEST_IMAGE_ARM64): its manifest says linux/arm64 and its binary is
// an arm64 executable. Nothing runs it: this machine is amd64.
func TestImageArm64(t *testing.T) {
	img := os.Getenv("DCTEST_IMAGE_ARM64")
	if img == "" {
		t.Skip("DCTEST_IMAGE_ARM64 is not set: make test-image-arm64 builds the arm64 image and runs this test")
	}
	cfg := inspectImage(t, img)
	if cfg.Architecture != "arm64" || cfg.Os != "linux" {
		t.Errorf("image platform = %s/%s, want linux/arm64", cfg.Os, cfg.Architecture)
	}
	name := randomName("dctest-arm64-")
	t.Cleanup(func() { _, _, _ = podmanErr("rm", "-f", "-v", name) })
	id := strings.TrimSpace(podman(t, "create", "--name", name, "--arch", "arm64", img))
	dir := tempDir(t)
	bin := filepath.Join(dir, "devcluster")
	podman(t, "cp", id+":/usr/local/bin/devcluster", bin)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("binary machine = %s, want EM_AARCH64", f.Machine)
	}

	// The manifest list of both (make image-multiarch).
	list := os.Getenv("DCTEST_MANIFEST")
	if list == "" {
		return
	}
	var m struct {
		Manifests []struct {
			Digest   string
			Platform struct{ Architecture, OS string }
		}
	}
	if err := json.Unmarshal([]byte(podman(t, "manifest", "inspect", list)), &m); err != nil {
		t.Fatalf("podman manifest inspect %s: %v", list, err)
	}
	var platforms []string
	for _, e := range m.Manifests {
		platforms = append(platforms, e.Platform.OS+"/"+e.Platform.Architecture)
	}
	if got := strings.Join(platforms, " "); got != "linux/amd64 linux/arm64" {
		t.Fatalf("manifest list %s has %q, want linux/amd64 linux/arm64", list, got)
	}
	// The images it names are the current ones, not a stale build's.
	amd64 := strings.TrimSuffix(img, "-arm64")
	for i, ref := range []string{amd64, img} {
		if want := strings.TrimSpace(podman(t, "image", "inspect", "--format", "{{.Digest}}", ref)); m.Manifests[i].Digest != want {
			t.Errorf("manifest list %s names %s for %s, whose digest is %s", list, m.Manifests[i].Digest, ref, want)
		}
	}
}
