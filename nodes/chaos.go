package nodes

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// Chaos kills nodes on a schedule, for tests of what a workflow survives:
// every Every, one running and ready node that runs no frontend (so the
// cluster's address stays up), drawn from Seed, gets SIGKILL; the
// supervisor restarts it (Restart must be on) and reports how long it took
// to be ready again, that is, to rejoin the ring.
type Chaos struct {
	Every time.Duration
	Seed  int64
}

// ChaosExample is what a chaos spec looks like.
const ChaosExample = "e.g. --chaos kill-every=30s or --chaos kill-every=30s,seed=7"

// ParseChaos reads a chaos spec: kill-every=DURATION and optionally
// seed=N, comma-separated. A spec without a seed gets one from the clock
// (the supervisor prints it).
func ParseChaos(spec string) (Chaos, error) {
	c := Chaos{Seed: time.Now().UnixNano()}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		var err error
		switch {
		case !ok:
			return Chaos{}, fmt.Errorf("%q is not KEY=VALUE; %s", part, ChaosExample)
		case k == "kill-every":
			if c.Every, err = time.ParseDuration(v); err != nil || c.Every <= 0 {
				return Chaos{}, fmt.Errorf("kill-every=%s is not a positive duration; %s", v, ChaosExample)
			}
		case k == "seed":
			if c.Seed, err = strconv.ParseInt(v, 10, 64); err != nil {
				return Chaos{}, fmt.Errorf("seed=%s is not a whole number; %s", v, ChaosExample)
			}
		default:
			return Chaos{}, fmt.Errorf("%q is not a chaos setting (kill-every, seed); %s", k, ChaosExample)
		}
	}
	if c.Every == 0 {
		return Chaos{}, fmt.Errorf("%q says no kill-every; %s", spec, ChaosExample)
	}
	return c, nil
}

// chaos is the supervisor's running chaos: its draws and the kills whose
// nodes are not ready again yet.
type chaos struct {
	Chaos
	rng    *rand.Rand
	killed map[*Node]time.Time
}

func newChaos(c Chaos) *chaos {
	return &chaos{Chaos: c, rng: rand.New(rand.NewSource(c.Seed)), killed: map[*Node]time.Time{}}
}

// kill SIGKILLs one running, ready node without a frontend, drawn from
// the seed; it reports what it did.
func (c *chaos) kill(s *Supervisor) {
	var candidates []*Node
	for _, n := range s.Nodes {
		if !n.Has("frontend") && n.run != nil && n.run.ready {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		s.report("chaos: no node to kill (every node without a frontend is down or starting)")
		return
	}
	n := candidates[c.rng.Intn(len(candidates))]
	pid := n.PID()
	_ = n.run.cmd.Process.Kill()
	c.killed[n] = time.Now()
	s.report("chaos: killed %s (pid %d)", n, pid)
}

// ready reports a killed node that is ready again.
func (c *chaos) ready(s *Supervisor, n *Node) {
	if at, ok := c.killed[n]; ok {
		delete(c.killed, n)
		s.report("chaos: %s ready again %s after its kill (rejoined the ring)", n, time.Since(at).Round(time.Millisecond))
	}
}
