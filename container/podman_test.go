package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// The image under test: DCTEST_IMAGE (make test builds it first), else
// one built here once with container/build.sh.
var (
	imageOnce sync.Once
	imageName string
	imageErr  error
)

func testImage(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		if _, err := exec.LookPath("podman"); err != nil {
			imageErr = fmt.Errorf("podman is needed (apt-get install podman runc; settings in container/containers.conf): %v", err)
			return
		}
		if imageName = os.Getenv("DCTEST_IMAGE"); imageName != "" {
			return
		}
		imageName = "localhost/devcluster-test:dev"
		cmd := exec.Command("./build.sh")
		cmd.Env = append(os.Environ(), "IMAGE=localhost/devcluster-test", "VERSION=test")
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("container/build.sh: %v\n%s", err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageName
}

// podman runs podman and returns its stdout; a failure fails the test.
func podman(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := podmanErr(args...)
	if err != nil {
		hint := ""
		if os.Getenv("CONTAINERS_CONF") == "" {
			hint = "\n(on machines like the CI's, podman needs the settings of container/containers.conf: export CONTAINERS_CONF=$PWD/container/containers.conf)"
		}
		t.Fatalf("podman %s: %v\n%s%s%s", strings.Join(args, " "), err, out, errOut, hint)
	}
	return out
}

func podmanErr(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// container is one running container of the image.
type container struct {
	t    testing.TB
	name string
}

// runImage starts the image detached with podman run's args (before the
// image) and the command after it (none: the image's default). It is
// removed when the test ends; its log is printed when the test failed.
func runImage(t testing.TB, runArgs []string, command ...string) *container {
	t.Helper()
	name := randomName("dctest-")
	// Registered first: a run that fails after creating the container
	// leaves it behind too. -v: the image's /data is an anonymous volume.
	t.Cleanup(func() {
		if t.Failed() {
			out, errOut, _ := podmanErr("logs", name)
			t.Logf("container %s log:\n%s%s", name, out, errOut)
		}
		_, _, _ = podmanErr("rm", "-f", "-v", "-t", "0", name)
	})
	args := append([]string{"run", "-d", "--name", name}, runArgs...)
	args = append(append(args, testImage(t)), command...)
	podman(t, args...)
	return &container{t: t, name: name}
}

// port is the host address podman published the container's port on.
func (c *container) port(containerPort int) string {
	c.t.Helper()
	out := strings.TrimSpace(podman(c.t, "port", c.name, fmt.Sprintf("%d/tcp", containerPort)))
	if out == "" {
		c.t.Fatalf("container %s publishes no port %d", c.name, containerPort)
	}
	line := strings.Split(out, "\n")[0]
	host, port, err := net.SplitHostPort(line)
	if err != nil {
		c.t.Fatalf("podman port %s: %q: %v", c.name, out, err)
	}
	if host == "0.0.0.0" || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (c *container) logs() string {
	out, errOut, _ := podmanErr("logs", c.name)
	return out + errOut
}

// waitLog polls the container's log until it holds s.
func (c *container) waitLog(s string, timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, "log line "+s, func() error {
		if strings.Contains(c.logs(), s) {
			return nil
		}
		if st := c.inspect("{{.State.Status}}"); st == "exited" {
			c.t.Fatalf("container exited before %q:\n%s", s, c.logs())
		}
		return fmt.Errorf("not in the log yet")
	})
}

func (c *container) inspect(format string) string {
	return strings.TrimSpace(podman(c.t, "inspect", "--format", format, c.name))
}

// stop is podman stop (SIGTERM, SIGKILL after 10 s) and returns the exit
// code.
func (c *container) stop() string {
	podman(c.t, "stop", "-t", "10", c.name)
	return c.inspect("{{.State.ExitCode}}")
}

// waitFor polls f until it returns nil, and fails t when timeout passes
// (or the test's context ends) first.
func waitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := poll(ctx, 10*time.Millisecond, 200*time.Millisecond, f); err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, err)
	}
}

// poll calls f until it returns nil or ctx ends (then its last error),
// first every step, backing off to every most.
func poll(ctx context.Context, step, most time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(step):
		}
		step = min(2*step, most)
	}
}

// dial connects an SDK client once the frontend at addr answers a
// namespace's describe.
func dial(t testing.TB, opts client.Options) client.Client {
	t.Helper()
	var c client.Client
	waitFor(t, 30*time.Second, "SDK client at "+opts.HostPort, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		if c, err = client.DialContext(ctx, opts); err != nil {
			return err
		}
		ns := opts.Namespace
		if ns == "" {
			ns = client.DefaultNamespace
		}
		if _, err = c.WorkflowService().DescribeNamespace(ctx, describe(ns)); err != nil {
			c.Close()
			return err
		}
		return nil
	})
	t.Cleanup(c.Close)
	return c
}

// tempDir is a directory for files copied out of a container.
func tempDir(t testing.TB) string {
	d := t.TempDir()
	return filepath.Clean(d)
}
