// Package tcdevcluster is a testcontainers-go module for devcluster's
// container image: a real Temporal cluster in a container for a Go test,
// started the way `temporal server start-dev` is, ready (namespaces and
// search attributes registered, not just a port open) when Run returns.
//
//	ctr, err := tcdevcluster.Run(ctx, "localhost/devcluster:dev",
//		tcdevcluster.WithNamespaces("orders"),
//		tcdevcluster.WithSearchAttributes(map[string]string{"CustomerId": "Keyword"}))
//	testcontainers.CleanupContainer(t, ctr)
//	if err != nil { ... }
//	addr, err := ctr.FrontendAddress(ctx)
//	c, err := client.Dial(client.Options{HostPort: addr, Namespace: ctr.Namespace()})
//
// It is its own Go module so that devcluster's main module does not pull a
// container client. It needs a Docker-compatible API (Docker, or podman's
// `podman system service`; DOCKER_HOST names it).
package tcdevcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The image's ports and the ports file its health check reads.
const (
	FrontendPort = "7233/tcp"
	HTTPPort     = "7243/tcp"
	UIPort       = "8233/tcp"
	portsFile    = "/tmp/devcluster-ports.json"
	// startTimeout bounds the wait for readiness (a new PostgreSQL
	// database's schema takes a few seconds of it).
	startTimeout = 90 * time.Second
	certDir      = "/data/certs"
)

// Container is a running devcluster container.
type Container struct {
	*testcontainers.DockerContainer
	namespaces []string
	tls        *TLSFiles
	token      string
	dir        string // host copies of the client files
}

// TLSFiles are the client files of a secure container, copied to the host.
type TLSFiles struct {
	ClientCert, ClientKey, CA string
	// ServerName is the name the frontend's certificate carries.
	ServerName string
}

// settings collects the options that become start-dev flags.
type settings struct {
	namespaces  []string
	searchAttrs map[string]string
	dynamic     []string
	args        []string
	timeSkip    bool
	secure      bool
}

// Option configures the cluster. Run also takes testcontainers' own
// options, applied after its own: those that add to the request
// (WithEnv, WithHostConfigModifier, WithMounts, WithCmdArgs,
// WithAdditionalWaitStrategy, ...) work beside these; WithCmd and
// WithWaitStrategy would replace the cluster's flags and its readiness
// wait (use WithArgs for flags).
type Option func(*settings) error

// Customize makes an Option a testcontainers.ContainerCustomizer, so Run
// takes both kinds in one list. Only Run applies it: given to anything
// else, it is an error rather than silently nothing.
func (o Option) Customize(*testcontainers.GenericContainerRequest) error {
	return errors.New("a tcdevcluster option applies only through tcdevcluster.Run")
}

// WithNamespaces registers namespaces beside "default"; the first is
// Namespace().
func WithNamespaces(names ...string) Option {
	return func(s *settings) error {
		for _, n := range names {
			if n == "" {
				return errors.New("tcdevcluster.WithNamespaces: an empty namespace name")
			}
		}
		s.namespaces = append(s.namespaces, names...)
		return nil
	}
}

// WithSearchAttributes registers custom search attributes, name to type
// (Keyword, Text, Int, Double, Bool, Datetime, KeywordList), in every
// namespace.
func WithSearchAttributes(attrs map[string]string) Option {
	return func(s *settings) error {
		if s.searchAttrs == nil {
			s.searchAttrs = map[string]string{}
		}
		for k, v := range attrs {
			s.searchAttrs[k] = v
		}
		return nil
	}
}

// WithDynamicConfig sets a dynamic-config key of the server (its own
// names, e.g. "limit.maxIDLength") to value, written as JSON.
func WithDynamicConfig(key string, value any) Option {
	return func(s *settings) error {
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("tcdevcluster.WithDynamicConfig %s: %w", key, err)
		}
		s.dynamic = append(s.dynamic, key+"="+string(b))
		return nil
	}
}

// WithTimeSkipping makes workflows skip time whenever they only wait on
// timers: a 30-day sleep ends at once.
func WithTimeSkipping() Option {
	return func(s *settings) error { s.timeSkip = true; return nil }
}

// WithSecure turns on the secure profile: mutual TLS on the frontend and
// JWT auth. TLSConfig, TLSFiles and Token then give a client what it needs.
func WithSecure() Option {
	return func(s *settings) error { s.secure = true; return nil }
}

// WithArgs adds any other flag of `devcluster server start-dev` (e.g.
// "--profile", "ci" or "--db-url", URL).
func WithArgs(args ...string) Option {
	return func(s *settings) error { s.args = append(s.args, args...); return nil }
}

// Run starts img (devcluster's image, e.g. localhost/devcluster:dev) and
// returns once the cluster is ready. On an error after the container was
// created, the container is returned too, for cleanup.
func Run(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	var s settings
	var rest []testcontainers.ContainerCustomizer
	for _, o := range opts {
		if opt, ok := o.(Option); ok {
			if err := opt(&s); err != nil {
				return nil, err
			}
			continue
		}
		rest = append(rest, o)
	}
	cmd := append([]string{"server", "start-dev", "--ip", "0.0.0.0"}, s.flags()...)
	all := append([]testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(FrontendPort, HTTPPort, UIPort),
		testcontainers.WithCmd(cmd...),
		// Ready as devcluster means it (the image's health check); not a
		// port check, which would run a shell the image does not have.
		testcontainers.WithWaitStrategy(
			wait.ForExec([]string{"/usr/local/bin/devcluster", "wait-ready", "--ports-file", portsFile, "--timeout", "2s"}).
				WithPollInterval(50 * time.Millisecond).WithStartupTimeout(90 * time.Second)),
	}, rest...)
	ctr, err := testcontainers.Run(ctx, img, all...)
	var c *Container
	if ctr != nil {
		c = &Container{DockerContainer: ctr, namespaces: append(s.namespaces, "default")}
	}
	if err != nil {
		if c != nil {
			// devcluster says why it did not start (a bad flag or value)
			// in its last lines.
			err = fmt.Errorf("%w; the container's last output:\n%s", err, c.logTail(ctx, 8))
		}
		return c, fmt.Errorf("tcdevcluster: %w", err)
	}
	if s.secure {
		if err := c.fetchClientFiles(ctx); err != nil {
			return c, fmt.Errorf("tcdevcluster: secure profile: %w", err)
		}
	}
	return c, nil
}

func (s settings) flags() []string {
	var f []string
	for _, n := range s.namespaces {
		f = append(f, "--namespace", n)
	}
	for k, v := range s.searchAttrs {
		f = append(f, "--search-attribute", k+"="+v)
	}
	for _, kv := range s.dynamic {
		f = append(f, "--dynamic-config-value", kv)
	}
	if s.timeSkip {
		f = append(f, "--time-skipping")
	}
	if s.secure {
		f = append(f, "--profile", "secure", "--cert-dir", certDir)
	}
	return append(f, s.args...)
}

// FrontendAddress is the host:port a client on the host dials.
func (c *Container) FrontendAddress(ctx context.Context) (string, error) {
	return c.PortEndpoint(ctx, FrontendPort, "")
}

// UIURL is the Web UI's address on the host.
func (c *Container) UIURL(ctx context.Context) (string, error) {
	return c.PortEndpoint(ctx, UIPort, "http")
}

// HTTPAddress is the frontend's HTTP API on the host.
func (c *Container) HTTPAddress(ctx context.Context) (string, error) {
	return c.PortEndpoint(ctx, HTTPPort, "http")
}

// Namespace is the first namespace of WithNamespaces, else "default".
func (c *Container) Namespace() string { return c.namespaces[0] }

// TLSFiles are the client certificate, key and CA on the host (nil unless
// WithSecure).
func (c *Container) TLSFiles() *TLSFiles { return c.tls }

// Token is an admin bearer token (system admin) for a secure container
// ("" unless WithSecure). It is valid for an hour from Run; a longer test
// mints another: `devcluster token --cert-dir /data/certs` in the
// container (Exec).
func (c *Container) Token() string { return c.token }

// TLSConfig is a client TLS config for a secure container (nil, nil
// unless WithSecure).
func (c *Container) TLSConfig() (*tls.Config, error) {
	if c.tls == nil {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(c.tls.ClientCert, c.tls.ClientKey)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(c.tls.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", c.tls.CA)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: c.tls.ServerName, MinVersion: tls.VersionTLS12}, nil
}

// Terminate stops the container and removes the client files' copies.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	err := c.DockerContainer.Terminate(ctx, opts...)
	if c.dir != "" {
		err = errors.Join(err, os.RemoveAll(c.dir))
	}
	return err
}

// portsTLS is the part of the ports file (devcluster's --ports-file)
// that names a client's files.
type portsTLS struct {
	TLS *struct {
		ClientCert string `json:"client_cert"`
		ClientKey  string `json:"client_key"`
		CA         string `json:"ca"`
		ServerName string `json:"server_name"`
		KeyDir     string `json:"key_dir"`
	} `json:"tls"`
}

// fetchClientFiles copies the client files out of the container and mints
// a token with its signing key.
func (c *Container) fetchClientFiles(ctx context.Context) error {
	b, err := c.readFile(ctx, portsFile)
	if err != nil {
		return err
	}
	var p portsTLS
	if err := json.Unmarshal(b, &p); err != nil || p.TLS == nil {
		return fmt.Errorf("ports file %s names no TLS files (%v): %s", portsFile, err, b)
	}
	if c.dir, err = os.MkdirTemp("", "tcdevcluster-"); err != nil {
		return err
	}
	files := &TLSFiles{ServerName: p.TLS.ServerName}
	for _, f := range []struct {
		from string
		to   *string
	}{{p.TLS.ClientCert, &files.ClientCert}, {p.TLS.ClientKey, &files.ClientKey}, {p.TLS.CA, &files.CA}} {
		b, err := c.readFile(ctx, f.from)
		if err != nil {
			return err
		}
		*f.to = filepath.Join(c.dir, filepath.Base(f.from))
		if err := os.WriteFile(*f.to, b, 0o600); err != nil {
			return err
		}
	}
	c.tls = files
	code, out, err := c.Exec(ctx, []string{"/usr/local/bin/devcluster", "token", "--cert-dir", p.TLS.KeyDir, "--system-admin"}, tcexec.Multiplexed())
	if err != nil {
		return fmt.Errorf("devcluster token: %w", err)
	}
	tok, _ := io.ReadAll(out)
	if code != 0 {
		return fmt.Errorf("devcluster token: exit %d: %s", code, tok)
	}
	// The token is its only line on stdout; the stream has stderr too.
	lines := strings.Fields(string(tok))
	if len(lines) == 0 {
		return errors.New("devcluster token printed nothing")
	}
	c.token = lines[len(lines)-1]
	return nil
}

func (c *Container) readFile(ctx context.Context, path string) ([]byte, error) {
	r, err := c.CopyFileFromContainer(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("copy %s out of the container: %w", path, err)
	}
	defer func() { _ = r.Close() }()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, r)
	return buf.Bytes(), err
}

// logTail is the container's last n lines of output.
func (c *Container) logTail(ctx context.Context, n int) string {
	r, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer func() { _ = r.Close() }()
	b, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
