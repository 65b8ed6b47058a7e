package main

// Nodes of one secure cluster on two "hosts": network namespaces the test
// makes (a bridge in this namespace, a veth into each host), so that each
// node's certificate names its own address and the nodes check it.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devcluster/devcluster/auth"
	"github.com/devcluster/devcluster/certs"
	"github.com/devcluster/devcluster/internal/pgtest"
)

// hosts is a bridge with an address in this namespace and one network
// namespace per host behind it, removed when the test ends.
type hosts struct {
	bridgeIP string
	ns       map[string]string // name -> IP
}

// makeHosts makes the network, or skips t when this process may not
// (network namespaces need root and the ip command).
func makeHosts(t *testing.T, names ...string) *hosts {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need the ip command (iproute2)")
	}
	id := os.Getpid() % 100000
	subnet := fmt.Sprintf("10.%d.%d", 100+id%100, id/100%250)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	br := fmt.Sprintf("dcbr%d", id)
	if err := ip("link", "add", br, "type", "bridge"); err != nil {
		t.Skipf("cannot make a bridge here: %v", err)
	}
	t.Cleanup(func() { _ = ip("link", "del", br) })
	h := &hosts{bridgeIP: subnet + ".254", ns: map[string]string{}}
	steps := [][]string{{"addr", "add", h.bridgeIP + "/24", "dev", br}, {"link", "set", br, "up"}}
	for i, name := range names {
		ns := fmt.Sprintf("dc%s%d", name, id)
		if err := ip("netns", "add", ns); err != nil {
			t.Skipf("cannot make a network namespace here: %v", err)
		}
		t.Cleanup(func() { _ = ip("netns", "del", ns) })
		in, out := fmt.Sprintf("dc%d%s0", id, name), fmt.Sprintf("dc%d%s1", id, name)
		addr := fmt.Sprintf("%s.%d", subnet, i+1)
		steps = append(steps,
			[]string{"link", "add", in, "type", "veth", "peer", "name", out},
			[]string{"link", "set", in, "netns", ns},
			[]string{"link", "set", out, "master", br, "up"},
			[]string{"-n", ns, "addr", "add", addr + "/24", "dev", in},
			[]string{"-n", ns, "link", "set", in, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"})
		h.ns[name] = addr
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// in returns the command prefix that runs a program on host name.
func (h *hosts) in(name string) []string {
	return []string{"netns", "exec", fmt.Sprintf("dc%s%d", name, os.Getpid()%100000)}
}

// forward accepts on the bridge's address and relays to target (the
// test's PostgreSQL, which listens on this namespace's loopback), until t
// ends; it returns the address the hosts reach it at.
func (h *hosts) forward(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(h.bridgeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer func() { _ = up.Close() }()
				go func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, up)
			})
		}
	})
	return l.Addr().String()
}

// TestSecureNodesOnTwoHosts: a frontend+worker+matching node on one host
// and a history node on another, both --profile secure with the same
// --cert-dir: each node's internode certificate names its own address,
// the nodes check the address they dial against it (not a shared name),
// workflows run through the frontend's address on its host, and a node
// with another cluster's directory on the second host finds the running
// frontend through the database and does not join.
func TestSecureNodesOnTwoHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("makes network namespaces and starts PostgreSQL and two devcluster processes")
	}
	h := makeHosts(t, "A", "B")
	pg := pgtest.Shared(t)
	pgAddr := h.forward(t, pg.Addr())
	u := pg.URL(pgtest.DatabaseName())
	u = strings.Replace(u, pg.Addr(), pgAddr, 1)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	port := freePort(t)
	common := []string{"start", "--db-url", u, "--shards", "4", "--headless", "--http-port", "-1", "--port", strconv.Itoa(port),
		"--profile", "secure", "--cert-dir", certDir}
	node := func(host, name, services string, extra ...string) *ringNode {
		ports := filepath.Join(dir, name+".json")
		args := append(h.in(host), binary)
		args = append(append(append(args, common...), "--ip", h.ns[host], "--services", services, "--ports-file", ports), extra...)
		n := newRingNode(name, ports, args...)
		n.Exe = "ip"
		return n
	}
	a := node("A", "front", "frontend+worker+matching")
	b := node("B", "history", "history")
	a.start(t)
	b.start(t)
	pa, pb := a.waitReady(t, 90*time.Second), b.waitReady(t, 90*time.Second)
	if want := net.JoinHostPort(h.ns["A"], strconv.Itoa(port)); pa.Frontend != want {
		t.Fatalf("frontend at %s, want %s", pa.Frontend, want)
	}
	if hist := pb.Services["history"]; !strings.HasPrefix(hist, h.ns["B"]+":") {
		t.Fatalf("history at %s, want on %s", hist, h.ns["B"])
	}
	key, err := auth.LoadKey(certDir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := key.Mint(auth.Grant{Subject: "netns", SystemAdmin: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := secureWorker(t, pa.Frontend, clientTLSFrom(t, pa.TLS), tok)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checkBatch(t, ctx, startBatch(t, ctx, c, "two-hosts", 10))

	// The history node's certificate names its own address, not host A's.
	own, err := certs.EnsureAuthority(certs.Options{Dir: certDir})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := own.IssueNode(t.TempDir(), nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hist := pb.Services["history"]
	if err := transportErr(t, hist, tlsCreds(mine.InternodeCert, mine.InternodeKey, mine.InternodeCA, h.ns["B"]), ""); err != nil {
		t.Errorf("history on host B checked for its own address: %v", err)
	}
	if err := transportErr(t, hist, tlsCreds(mine.InternodeCert, mine.InternodeKey, mine.InternodeCA, h.ns["A"]), ""); err == nil {
		t.Errorf("history on host B has a certificate for host A's address %s too", h.ns["A"])
	}

	// Another cluster's directory on host B: the frontend is on host A,
	// found through the database's live members.
	foreign := filepath.Join(t.TempDir(), "foreign")
	args := append(h.in("B"), binary)
	args = append(append(args, common[:len(common)-2]...), "--cert-dir", foreign, "--ip", h.ns["B"], "--services", "history")
	cmd := exec.Command("ip", args...)
	cmd.Env = hermeticEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "holds another cluster's CA") ||
		!strings.Contains(string(out), pa.Frontend) {
		t.Fatalf("a node with another cluster's directory on host B: %v\n%s\nwant exit %d naming the frontend at %s", err, out, exitUsage, pa.Frontend)
	}
	checkBatch(t, ctx, startBatch(t, ctx, c, "two-hosts-after", 5))
}
