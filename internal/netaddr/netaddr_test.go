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
