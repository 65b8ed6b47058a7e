package services

import (
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/devcluster/devcluster/internal/netaddr"
	"github.com/devcluster/devcluster/profiles"
)

// hold listens on a free loopback port and keeps it until the test ends.
func hold(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All listeners are open at once, so the ports are distinct; they are
// closed before returning (a listener that accepted nothing leaves no
// TIME_WAIT, so the ports can be bound again at once).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// zeroPorts is the default config with every port left for ResolvePorts.
func zeroPorts() profiles.Config {
	cfg := profiles.Default().Clone()
	cfg.Services = profiles.Services{}
	return cfg
}

func TestResolvePortsKeepsFreeExplicitPorts(t *testing.T) {
	p := freePorts(t, 7)
	cfg := zeroPorts()
	cfg.Services.Frontend = profiles.Service{GRPCPort: p[0], HTTPPort: p[1], MembershipPort: p[2]}
	cfg.Services.History = profiles.Service{GRPCPort: p[3]}
	cfg.Services.Matching = profiles.Service{GRPCPort: p[4], MembershipPort: p[5]}
	cfg.Services.Worker = profiles.Service{GRPCPort: p[6]}

	got, err := ResolvePorts(cfg)
	if err != nil {
		t.Fatalf("ResolvePorts: %v", err)
	}
	if !reflect.DeepEqual(got.Services, cfg.Services) {
		t.Errorf("ports changed:\n got  %+v\n want %+v", got.Services, cfg.Services)
	}
	// Nothing is left holding the ports: they can be bound again.
	for _, port := range p {
		l, err := net.Listen("tcp", netaddr.HostPort("127.0.0.1", port))
		if err != nil {
			t.Errorf("port %d still held after ResolvePorts: %v", port, err)
			continue
		}
		_ = l.Close()
	}
}

func TestResolvePortsPicksDistinctFreePorts(t *testing.T) {
	tests := []struct {
		name     string
		ip       string
		httpPort int
		wantHTTP bool
	}{
		{"loopback", "127.0.0.1", 0, true},
		{"localhost", "localhost", 0, true},
		{"http off", "127.0.0.1", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := zeroPorts()
			cfg.IP = tt.ip
			cfg.Services.Frontend.HTTPPort = tt.httpPort
			orig := cfg.Clone()

			got, err := ResolvePorts(cfg)
			if err != nil {
				t.Fatalf("ResolvePorts: %v", err)
			}
			seen := map[int]string{}
			use := func(key string, port int) {
				if port <= 0 || port > 65535 {
					t.Errorf("%s = %d, want a real port", key, port)
					return
				}
				if prev, dup := seen[port]; dup {
					t.Errorf("%s and %s both got port %d", prev, key, port)
				}
				seen[port] = key
			}
			for _, name := range profiles.RoleNames {
				s := got.Services.Get(name)
				use(name+".grpc-port", s.GRPCPort)
				if s.MembershipPort != 0 {
					t.Errorf("%s membership port = %d, want it left unset", name, s.MembershipPort)
				}
				if name != profiles.Frontend && s.HTTPPort != 0 {
					t.Errorf("%s http port = %d, want 0 (only the frontend has one)", name, s.HTTPPort)
				}
			}
			if tt.wantHTTP {
				use("frontend.http-port", got.Services.Frontend.HTTPPort)
			} else if got.Services.Frontend.HTTPPort != -1 {
				t.Errorf("frontend http port = %d, want -1 (off)", got.Services.Frontend.HTTPPort)
			}
			if got.IP != tt.ip {
				t.Errorf("IP = %q, want it unchanged (%q)", got.IP, tt.ip)
			}
			// The input is not modified.
			if !reflect.DeepEqual(cfg.Services, orig.Services) {
				t.Errorf("ResolvePorts modified its input: %+v", cfg.Services)
			}
			// The result is a valid config.
			if err := got.Validate(); err != nil {
				t.Errorf("resolved config is invalid: %v", err)
			}
		})
	}
}

func TestResolvePortsMixesExplicitAndFree(t *testing.T) {
	p := freePorts(t, 1)
	cfg := zeroPorts()
	cfg.Services.History.GRPCPort = p[0]
	got, err := ResolvePorts(cfg)
	if err != nil {
		t.Fatalf("ResolvePorts: %v", err)
	}
	if got.Services.History.GRPCPort != p[0] {
		t.Errorf("history grpc port = %d, want the explicit %d", got.Services.History.GRPCPort, p[0])
	}
	for _, name := range []string{profiles.Frontend, profiles.Matching, profiles.Worker} {
		if port := got.Services.Get(name).GRPCPort; port == 0 || port == p[0] {
			t.Errorf("%s grpc port = %d, want a free port other than %d", name, port, p[0])
		}
	}
}

func TestResolvePortsPortInUse(t *testing.T) {
	tests := []struct {
		name     string
		set      func(c *profiles.Config, held []int)
		nHeld    int
		wantKeys []string
	}{
		{
			name:     "history grpc",
			set:      func(c *profiles.Config, h []int) { c.Services.History.GRPCPort = h[0] },
			nHeld:    1,
			wantKeys: []string{"services.history.grpc-port"},
		},
		{
			name:     "frontend http",
			set:      func(c *profiles.Config, h []int) { c.Services.Frontend.HTTPPort = h[0] },
			nHeld:    1,
			wantKeys: []string{"services.frontend.http-port"},
		},
		{
			name:     "matching membership",
			set:      func(c *profiles.Config, h []int) { c.Services.Matching.MembershipPort = h[0] },
			nHeld:    1,
			wantKeys: []string{"services.matching.membership-port"},
		},
		{
			name: "two taken, all reported",
			set: func(c *profiles.Config, h []int) {
				c.Services.Frontend.GRPCPort = h[0]
				c.Services.Worker.GRPCPort = h[1]
			},
			nHeld:    2,
			wantKeys: []string{"services.frontend.grpc-port", "services.worker.grpc-port"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var held []int
			for i := 0; i < tt.nHeld; i++ {
				held = append(held, hold(t))
			}
			cfg := zeroPorts()
			tt.set(&cfg, held)

			got, err := ResolvePorts(cfg)
			if err == nil {
				t.Fatalf("ResolvePorts succeeded with held ports %v: %+v", held, got.Services)
			}
			if !errors.Is(err, profiles.ErrPortInUse) {
				t.Errorf("errors.Is(err, ErrPortInUse) = false for %v", err)
			}
			var fe *profiles.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T (%v) is not a *profiles.FieldError", err, err)
			}
			if fe.Key != tt.wantKeys[0] || fe.Value != held[0] {
				t.Errorf("FieldError = {Key:%q Value:%v}, want {Key:%q Value:%d}", fe.Key, fe.Value, tt.wantKeys[0], held[0])
			}
			fes := profiles.FieldErrors(err)
			if len(fes) != len(tt.wantKeys) {
				t.Fatalf("got %d field errors, want %d: %v", len(fes), len(tt.wantKeys), err)
			}
			for i, fe := range fes {
				if fe.Key != tt.wantKeys[i] {
					t.Errorf("field error %d key = %q, want %q", i, fe.Key, tt.wantKeys[i])
				}
				if !errors.Is(fe, profiles.ErrPortInUse) {
					t.Errorf("field error %q does not wrap ErrPortInUse", fe.Key)
				}
			}
			// On error the input comes back unresolved.
			if !reflect.DeepEqual(got.Services, cfg.Services) {
				t.Errorf("on error ResolvePorts returned %+v, want the input %+v", got.Services, cfg.Services)
			}
		})
	}
}

func TestResolvePortsUnbindableAddress(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is not an address of this machine: binding it
	// fails with EADDRNOTAVAIL, which is not "in use".
	cfg := zeroPorts()
	cfg.IP = "192.0.2.1"
	cfg.Services.History.GRPCPort = 7234
	_, err := ResolvePorts(cfg)
	if err == nil {
		t.Skip("192.0.2.1 is bindable on this machine")
	}
	var fe *profiles.FieldError
	if !errors.As(err, &fe) || fe.Key != "services.history.grpc-port" {
		t.Fatalf("error = %v, want a FieldError for services.history.grpc-port", err)
	}
	if errors.Is(err, profiles.ErrPortInUse) {
		t.Errorf("unbindable address reported as port in use: %v", err)
	}
}

// TestListenLowSkipsParkedPorts: a ringpop port another process picked and
// parked in TIME_WAIT until its server binds it is not picked again, while
// the server's own bind (SO_REUSEADDR, as Go sets it) still succeeds. Two
// nodes of --nodes once picked the same ringpop port, and the second was
// refused for an address the first announced.
func TestListenLowSkipsParkedPorts(t *testing.T) {
	t.Parallel()
	l, err := listenLow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	addr := netaddr.HostPort("127.0.0.1", port)
	netaddr.ParkInTimeWait(l)
	_ = l.Close()
	// The parked socket passes through FIN_WAIT to TIME_WAIT in a moment,
	// and only then can the server bind the port: as it does, later.
	for deadline := time.Now().Add(5 * time.Second); ; {
		server, err := net.Listen("tcp", addr)
		if err == nil {
			_ = server.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's own bind of its parked port %d, after 5s: %v", port, err)
		}
		<-time.After(5 * time.Millisecond) // polling interval
	}
	again, err := listenLowFrom("127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Addr().(*net.TCPAddr).Port; got == port {
		t.Errorf("port %d, parked in TIME_WAIT by another start, was picked again", port)
	}
	_ = again.Close()
	server, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the server's own bind of its parked port %d: %v", port, err)
	}
	_ = server.Close()
}
