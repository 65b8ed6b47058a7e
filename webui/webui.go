// Package webui runs the Temporal Web UI (github.com/temporalio/ui-server)
// next to a cluster, under devcluster's lifecycle: a start failure is an
// error of Start (never a panic or exit in a goroutine), the UI makes no
// outbound call, and Stop frees its port.
package webui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"

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
	// Token, when set, is the bearer token the UI's calls to the frontend
	// carry (a cluster with auth on), in the metadata key TokenHeader
	// (lower case; empty is "authorization").
	Token, TokenHeader string
}

// TLS names the client certificate the UI presents to the frontend.
type TLS struct {
	CAFile, CertFile, KeyFile, ServerName string
}

// Server is a running UI.
type Server struct {
	s    *uiserver.Server
	addr string
	done chan error
}

// Start binds the UI's port and waits until it answers. The ui-server binds
// inside its own Start and exits the process on a bind error, so the port is
// checked free first, and its Start runs on a goroutine that is watched.
func Start(ctx context.Context, cfg Config) (srv *Server, err error) {
	addr := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("UI port %s: %w", addr, unwrapOp(err))
	}
	_ = ln.Close()

	uc := &uiconfig.Config{
		TemporalGRPCAddress: cfg.FrontendAddr,
		Host:                cfg.IP,
		Port:                cfg.Port,
		EnableUI:            true,
		DefaultNamespace:    cfg.DefaultNamespace,
		DisableNewsFetch:    true, // no outbound call
		NotifyOnNewVersion:  false,
		HideLogs:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
	}
	if cfg.TLS != nil {
		uc.TLS = uiconfig.TLS{CaFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			ServerName: cfg.TLS.ServerName, EnableHostVerification: true}
	}
	defer func() {
		if r := recover(); r != nil { // NewServer panics on a bad config
			srv, err = nil, fmt.Errorf("UI: %v", r)
		}
	}()
	opts := []server_options.ServerOption{server_options.WithConfigProvider(uc)}
	if cfg.Token != "" {
		token, header := cfg.Token, cfg.TokenHeader
		if header == "" {
			header = "authorization"
		}
		opts = append(opts, server_options.WithAPIMiddleware([]api.Middleware{
			func(echo.Context) runtime.ServeMuxOption {
				return runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
					return metadata.Pairs(header, "Bearer "+token)
				})
			},
		}))
	}
	s := uiserver.NewServer(opts...)
	srv = &Server{s: s, addr: net.JoinHostPort(advertise(cfg.IP), strconv.Itoa(cfg.Port)), done: make(chan error, 1)}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				srv.done <- fmt.Errorf("UI stopped: %v", r)
			}
		}()
		srv.done <- s.Start()
	}()
	if err := srv.waitAnswering(ctx); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

func advertise(ip string) string {
	if ip == "0.0.0.0" || ip == "" {
		return "127.0.0.1"
	}
	return ip
}

func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// waitAnswering polls the UI's health route until it answers.
func (s *Server) waitAnswering(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/healthz", nil)
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

// URL is the address a browser opens.
func (s *Server) URL() string { return "http://" + s.addr }

// Stop closes the UI's listener and connections.
func (s *Server) Stop() {
	s.s.Stop()
}
