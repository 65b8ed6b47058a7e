package netaddr

import "testing"

func TestBindAndDial(t *testing.T) {
	for _, tc := range []struct{ ip, bind, dial string }{
		{"", "127.0.0.1", "127.0.0.1"},
		{"localhost", "127.0.0.1", "127.0.0.1"},
		{"0.0.0.0", "0.0.0.0", "127.0.0.1"},
		{"::", "::", "::1"},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5"},
		{"::1", "::1", "::1"},
	} {
		if got := BindIP(tc.ip); got != tc.bind {
			t.Errorf("BindIP(%q) = %q, want %q", tc.ip, got, tc.bind)
		}
		if got := DialIP(tc.ip); got != tc.dial {
			t.Errorf("DialIP(%q) = %q, want %q", tc.ip, got, tc.dial)
		}
	}
	if got := HostPort("::1", 7233); got != "[::1]:7233" {
		t.Errorf("HostPort: %q", got)
	}
}

func TestDialHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:7233": "127.0.0.1:7233", "[::]:9090": "[::1]:9090", "10.0.0.5:7233": "10.0.0.5:7233",
		"localhost:80": "127.0.0.1:80", "no-port": "no-port",
	} {
		if got := DialHostPort(in); got != want {
			t.Errorf("DialHostPort(%q) = %q, want %q", in, got, want)
		}
	}
}
