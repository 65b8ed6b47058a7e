// Package webui runs the Temporal Web UI (github.com/temporalio/ui-server)
// next to a cluster, under devcluster's lifecycle: a start failure is an
// error of Start (never a panic or exit in a goroutine), the UI makes no
// outbound call, and Stop frees its ports.
//
// On a cluster with auth on, the UI holds no credential of its own: it
// serves HTTPS and each request must carry a token, which goes on to the
// frontend, whose authorizer decides (see Auth).
package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/internal/oserr"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/labstack/echo/v4"
	"github.com/temporalio/ui-server/v2/server/api"
	"google.golang.org/grpc/metadata"
)

// Config says where the UI listens and which frontend it talks to.
type Config struct {
	IP               string
	Port             int
	FrontendAddr     string // host:port of the frontend's gRPC API
	DefaultNamespace string
	// TLS, when set, is how the UI reaches a frontend that requires mTLS.
	TLS *TLS
	// Auth, when set, puts the UI behind a sign-in (a cluster with auth
	// on); nil serves plain HTTP to anyone, acting with the rights of the
	// client certificate in TLS alone.
	Auth *Auth
	// Logger receives the UI's own messages (refused TLS handshakes, proxy
	// errors) at debug level; nil drops them.
	Logger *slog.Logger
	// PublicPath, CodecEndpoint and AssetPath are the ui-server's
	// publicPath, codec.endpoint and uiAssetPath (see profiles.UI).
	PublicPath, CodecEndpoint, AssetPath string
}

// TLS names the client certificate the UI presents to the frontend.
type TLS struct {
	CAFile, CertFile, KeyFile, ServerName string
}

// Auth is the sign-in of a UI on a cluster with auth on. The UI then
// serves HTTPS on IP:Port with CertFile and KeyFile, and answers a request
// (but /healthz) only when it carries a token Verify accepts, in an
// "Authorization: Bearer" header or in the cookie CookieName, which opening
// a URL with ?token=TOKEN sets. Calls to the frontend carry that token in
// the metadata key Header, so the frontend's authorizer decides what the
// person may do; the UI's client certificate must give no rights by itself.
//
// Behind the front, the ui-server listens on 127.0.0.1:InternalPort.
type Auth struct {
	CertFile, KeyFile string
	// Verify checks a token and returns its expiry.
	Verify func(token string) (expires time.Time, err error)
	// Header is the gRPC metadata key the frontend reads tokens from (lower
	// case); empty is "authorization".
	Header string
	// SignInToken is the token URL carries (the start banner's); empty
	// makes URL the bare address.
	SignInToken string
	// InternalPort is the ui-server's port on 127.0.0.1; it must be free.
	InternalPort int
}

// Server is a running UI.
type Server struct {
	s      *uiserver.Server
	addr   string // advertised host:port
	health string // the ui-server's own host:port
	front  *front // nil without auth
	signIn string
	path   string // the public path, without a trailing slash
	done   chan error
}

// Start binds the UI's port and waits until it answers. The ui-server binds
// inside its own Start and exits the process on a bind error, so its port is
// checked free first, and its Start runs on a goroutine that is watched.
// With Auth, the public port is the front's, bound here and kept.
func Start(ctx context.Context, cfg Config) (srv *Server, err error) {
	addr := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))
	uiHost, uiPort := cfg.IP, cfg.Port
	var fr *front
	if cfg.Auth != nil {
		if cfg.Auth.Verify == nil {
			return nil, errors.New("UI: auth without a token verifier")
		}
		uiHost, uiPort = "127.0.0.1", cfg.Auth.InternalPort
		if fr, err = newFront(cfg, net.JoinHostPort(uiHost, strconv.Itoa(uiPort))); err != nil {
			return nil, err
		}
	}
	uiAddr := net.JoinHostPort(uiHost, strconv.Itoa(uiPort))
	ln, err := net.Listen("tcp", uiAddr)
	if err != nil {
		if fr != nil {
			fr.close()
			return nil, fmt.Errorf("UI internal port %s: %w", uiAddr, oserr.Cause(err))
		}
		return nil, fmt.Errorf("UI port %s: %w", addr, oserr.Cause(err))
	}
	_ = ln.Close()

	uc := &uiconfig.Config{
		TemporalGRPCAddress: cfg.FrontendAddr,
		Host:                uiHost,
		Port:                uiPort,
		EnableUI:            true,
		DefaultNamespace:    cfg.DefaultNamespace,
		DisableNewsFetch:    true, // no outbound call
		NotifyOnNewVersion:  false,
		HideLogs:            true,
		// The CSRF cookie is Secure when browsers reach the UI over HTTPS.
		CORS:        uiconfig.CORS{CookieInsecure: cfg.Auth == nil},
		PublicPath:  strings.TrimSuffix(cfg.PublicPath, "/"),
		UIAssetPath: cfg.AssetPath,
	}
	uc.Codec.Endpoint = cfg.CodecEndpoint
	if cfg.TLS != nil {
		uc.TLS = uiconfig.TLS{CaFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			ServerName: cfg.TLS.ServerName, EnableHostVerification: true}
	}
	defer func() {
		if r := recover(); r != nil { // NewServer panics on a bad config
			if fr != nil {
				fr.close()
			}
			srv, err = nil, fmt.Errorf("UI: %v", r)
		}
	}()
	opts := []server_options.ServerOption{server_options.WithConfigProvider(uc)}
	if cfg.Auth != nil {
		header := cfg.Auth.Header
		if header == "" {
			header = "authorization"
		}
		opts = append(opts, server_options.WithAPIMiddleware([]api.Middleware{
			func(echo.Context) runtime.ServeMuxOption {
				return runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
					return callerToken(r, header)
				})
			},
		}))
	}
	s := uiserver.NewServer(opts...)
	srv = &Server{s: s, addr: net.JoinHostPort(netaddr.DialIP(cfg.IP), strconv.Itoa(cfg.Port)), health: net.JoinHostPort(netaddr.DialIP(uiHost), strconv.Itoa(uiPort)),
		front: fr, done: make(chan error, 2), path: uc.PublicPath}
	if cfg.Auth != nil {
		srv.signIn = cfg.Auth.SignInToken
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				srv.done <- fmt.Errorf("UI stopped: %v", r)
			}
		}()
		srv.done <- s.Start()
	}()
	if fr != nil {
		go func() { srv.done <- fr.serve() }()
	}
	if err := srv.waitAnswering(ctx); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

// callerToken is the metadata a call to the frontend carries: the token the
// front verified, sent on in header. A token the client sent in an
// Authorization header reaches the frontend as "authorization" through the
// gateway itself, so it is repeated only under another header name.
func callerToken(r *http.Request, header string) metadata.MD {
	if tok := r.Header.Get(tokenHeader); tok != "" {
		return metadata.Pairs(header, "Bearer "+tok)
	}
	if a := r.Header.Get("Authorization"); a != "" && header != "authorization" {
		return metadata.Pairs(header, a)
	}
	return nil
}

// waitAnswering polls the ui-server's health route until it answers. With
// auth, the front's listener is already bound and served.
func (s *Server) waitAnswering(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.health+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("UI on %s did not start: %v", s.addr, err)
		case <-ctx.Done():
			return fmt.Errorf("UI on %s did not answer: %w", s.addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// URL is the address a browser opens: http://HOST:PORT, or, with auth,
// https://HOST:PORT/?token=TOKEN when a sign-in token was given (the
// token is then a secret: print it only to who may use it).
func (s *Server) URL() string {
	if s.front == nil {
		return "http://" + s.addr + s.path
	}
	if s.signIn == "" {
		return "https://" + s.addr + s.path
	}
	return "https://" + s.addr + s.path + "/?" + tokenParam + "=" + s.signIn
}

// Addr is the UI's advertised host:port.
func (s *Server) Addr() string { return s.addr }

// Stop closes the UI's listeners and connections: the front's, then the
// ui-server's. It frees both ports.
func (s *Server) Stop() {
	if s.front != nil {
		s.front.close()
	}
	s.s.Stop()
}
