package dynamicconfig

import (
	"sort"
	"sync"
	"testing"
	"time"

	dc "go.temporal.io/server/common/dynamicconfig"
)

const notifyTimeout = 2 * time.Second

func cv(v any) []dc.ConstrainedValue { return []dc.ConstrainedValue{{Value: v}} }

// subscribe registers a subscriber on c (through the server's
// NotifyingClient interface, as the server's Collection does) that forwards
// every notification to the returned channel.
func subscribe(t *testing.T, c dc.NotifyingClient) <-chan map[dc.Key][]dc.ConstrainedValue {
	t.Helper()
	ch := make(chan map[dc.Key][]dc.ConstrainedValue, 16)
	cancel := c.Subscribe(func(changed map[dc.Key][]dc.ConstrainedValue) {
		ch <- changed
	})
	t.Cleanup(cancel)
	return ch
}

// next waits for one notification.
func next(t *testing.T, ch <-chan map[dc.Key][]dc.ConstrainedValue) map[dc.Key][]dc.ConstrainedValue {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(notifyTimeout):
		t.Fatal("no notification within", notifyTimeout)
		return nil
	}
}

// none asserts that no notification is pending. Client.Set publishes
// synchronously, so once Set has returned every notification it caused has
// already been delivered to the buffered channel.
func none(t *testing.T, ch <-chan map[dc.Key][]dc.ConstrainedValue) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected notification: %v", m)
	default:
	}
}

func keyNames(keys []dc.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	sort.Strings(out)
	return out
}

func mapKeyNames(m map[dc.Key][]dc.ConstrainedValue) []string {
	keys := make([]dc.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keyNames(keys)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func value(t *testing.T, c *Client, key string) any {
	t.Helper()
	cvs := c.GetValue(dc.MakeKey(key))
	if len(cvs) != 1 {
		t.Fatalf("GetValue(%s) = %v, want one value", key, cvs)
	}
	return cvs[0].Value
}

func TestClientGetValue(t *testing.T) {
	a := dc.MakeKey("limit.maxIDLength")
	c := NewClient(nil)
	if got := c.GetValue(a); got != nil {
		t.Fatalf("GetValue on empty client = %v, want nil", got)
	}
	if n := len(c.Values()); n != 0 {
		t.Fatalf("Values() on empty client has %d entries", n)
	}

	c = NewClient(dc.ConfigValueMap{a: cv(10)})
	if got := value(t, c, "LIMIT.MAXIDLENGTH"); got != 10 {
		t.Errorf("GetValue from NewClient = %v, want 10", got)
	}
	c.Set(dc.ConfigValueMap{a: cv(20)})
	if got := value(t, c, "limit.maxIDLength"); got != 20 {
		t.Errorf("GetValue after Set = %v, want 20", got)
	}
	if got := c.GetValue(dc.MakeKey("other.key")); got != nil {
		t.Errorf("GetValue(unset key) = %v, want nil", got)
	}

	// Values is a copy.
	vs := c.Values()
	vs[dc.MakeKey("other.key")] = cv(1)
	delete(vs, a)
	if c.GetValue(dc.MakeKey("other.key")) != nil || c.GetValue(a) == nil {
		t.Error("modifying Values() changed the client")
	}
}

func TestClientSetNotifiesChangedKeys(t *testing.T) {
	a, b, c3, d := dc.MakeKey("a.key"), dc.MakeKey("b.key"), dc.MakeKey("c.key"), dc.MakeKey("d.key")
	tests := []struct {
		name        string
		initial     dc.ConfigValueMap
		set         dc.ConfigValueMap
		wantChanged map[dc.Key]any // nil value: removed
	}{
		{
			name:        "add to empty",
			initial:     nil,
			set:         dc.ConfigValueMap{a: cv(1)},
			wantChanged: map[dc.Key]any{a: 1},
		},
		{
			name:        "equal values under new slices are unchanged",
			initial:     dc.ConfigValueMap{a: cv(1), b: cv("x")},
			set:         dc.ConfigValueMap{a: cv(1), b: cv("x")},
			wantChanged: map[dc.Key]any{},
		},
		{
			name:        "one of three changes",
			initial:     dc.ConfigValueMap{a: cv(1), b: cv(2), c3: cv(3)},
			set:         dc.ConfigValueMap{a: cv(1), b: cv(20), c3: cv(3)},
			wantChanged: map[dc.Key]any{b: 20},
		},
		{
			name:        "change, add and remove",
			initial:     dc.ConfigValueMap{a: cv(1), b: cv(2), c3: cv(true)},
			set:         dc.ConfigValueMap{a: cv(1), b: cv(3), d: cv("new")},
			wantChanged: map[dc.Key]any{b: 3, c3: nil, d: "new"},
		},
		{
			name:        "type change of equal-looking value",
			initial:     dc.ConfigValueMap{a: cv(1)},
			set:         dc.ConfigValueMap{a: cv(1.0)},
			wantChanged: map[dc.Key]any{a: 1.0},
		},
		{
			name:    "constraint change",
			initial: dc.ConfigValueMap{a: cv(1)},
			set: dc.ConfigValueMap{a: {
				{Value: 1},
				{Value: 5, Constraints: dc.Constraints{Namespace: "ns"}},
			}},
			wantChanged: map[dc.Key]any{a: 1},
		},
		{
			name:        "set nil removes everything",
			initial:     dc.ConfigValueMap{a: cv(1), b: cv(2)},
			set:         nil,
			wantChanged: map[dc.Key]any{a: nil, b: nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.initial)
			ch := subscribe(t, c)
			changed := c.Set(tt.set)

			var want []string
			for k := range tt.wantChanged {
				want = append(want, k.String())
			}
			sort.Strings(want)
			if got := keyNames(changed); !equalStrings(got, want) {
				t.Errorf("Set returned changed keys %v, want %v", got, want)
			}
			if len(want) == 0 {
				none(t, ch)
				return
			}
			n := next(t, ch)
			if got := mapKeyNames(n); !equalStrings(got, want) {
				t.Fatalf("notified keys %v, want %v", got, want)
			}
			for k, wv := range tt.wantChanged {
				cvs := n[k]
				if wv == nil {
					if cvs != nil {
						t.Errorf("removed key %s notified with %v, want nil", k, cvs)
					}
					if c.GetValue(k) != nil {
						t.Errorf("removed key %s still has %v", k, c.GetValue(k))
					}
					continue
				}
				if len(cvs) == 0 || cvs[0].Value != wv {
					t.Errorf("key %s notified with %v, want first value %v", k, cvs, wv)
				}
			}
			none(t, ch) // exactly one notification per Set
		})
	}
}

func TestClientSetKeepsSliceOfUnchangedKey(t *testing.T) {
	a, b := dc.MakeKey("a.key"), dc.MakeKey("b.key")
	c := NewClient(dc.ConfigValueMap{a: cv(1), b: cv(2)})
	before := c.GetValue(a)
	c.Set(dc.ConfigValueMap{a: cv(1), b: cv(3)})
	after := c.GetValue(a)
	if &before[0] != &after[0] {
		t.Error("GetValue of an unchanged key returns a new slice after Set; the server's conversion cache is lost")
	}
	if c.GetValue(b)[0].Value != 3 {
		t.Errorf("b = %v, want 3", c.GetValue(b))
	}
}

func TestClientCancelledSubscription(t *testing.T) {
	c := NewClient(nil)
	ch := make(chan map[dc.Key][]dc.ConstrainedValue, 4)
	cancel := c.Subscribe(func(m map[dc.Key][]dc.ConstrainedValue) { ch <- m })
	c.Set(dc.ConfigValueMap{dc.MakeKey("a.key"): cv(1)})
	next(t, ch)
	cancel()
	c.Set(dc.ConfigValueMap{dc.MakeKey("a.key"): cv(2)})
	none(t, ch)
}

func TestClientOverride(t *testing.T) {
	const key = "limit.maxIDLength"
	k := dc.MakeKey(key)
	other := dc.MakeKey("frontend.rps")

	t.Run("existing key", func(t *testing.T) {
		c := NewClient(dc.ConfigValueMap{k: cv(10), other: cv(5)})
		prev := c.GetValue(k)
		otherBefore := c.GetValue(other)
		ch := subscribe(t, c)

		restore := c.Override("LIMIT.MAXIDLENGTH", 99)
		if got := value(t, c, key); got != 99 {
			t.Fatalf("after Override, value = %v, want 99", got)
		}
		if got := mapKeyNames(next(t, ch)); !equalStrings(got, []string{k.String()}) {
			t.Errorf("Override notified %v, want only %s", got, k)
		}
		if &c.GetValue(other)[0] != &otherBefore[0] {
			t.Error("Override replaced the slice of an untouched key")
		}

		restore()
		if got := value(t, c, key); got != 10 {
			t.Fatalf("after restore, value = %v, want 10", got)
		}
		if got := c.GetValue(k); &got[0] != &prev[0] {
			t.Error("restore did not put back the previous slice")
		}
		n := next(t, ch)
		if got := mapKeyNames(n); !equalStrings(got, []string{k.String()}) {
			t.Errorf("restore notified %v, want only %s", got, k)
		}
		if v := n[k]; len(v) != 1 || v[0].Value != 10 {
			t.Errorf("restore notified %v, want 10", v)
		}
		if value(t, c, "frontend.rps") != 5 {
			t.Error("untouched key changed")
		}
	})

	t.Run("absent key", func(t *testing.T) {
		c := NewClient(dc.ConfigValueMap{other: cv(5)})
		ch := subscribe(t, c)
		restore := c.Override(key, true)
		if got := value(t, c, key); got != true {
			t.Fatalf("after Override, value = %v, want true", got)
		}
		next(t, ch)

		restore()
		if got := c.GetValue(k); got != nil {
			t.Errorf("after restore, value = %v, want the key removed", got)
		}
		n := next(t, ch)
		if v, ok := n[k]; !ok || v != nil {
			t.Errorf("restore notified %v, want %s removed (nil)", n, k)
		}
		if len(c.Values()) != 1 {
			t.Errorf("Values() after restore = %v, want only %s", c.Values(), other)
		}
	})

	t.Run("nested restores in reverse order", func(t *testing.T) {
		c := NewClient(dc.ConfigValueMap{k: cv(1)})
		r2 := c.Override(key, 2)
		r3 := c.Override(key, 3)
		if got := value(t, c, key); got != 3 {
			t.Fatalf("value = %v, want 3", got)
		}
		r3()
		if got := value(t, c, key); got != 2 {
			t.Fatalf("after inner restore, value = %v, want 2", got)
		}
		r2()
		if got := value(t, c, key); got != 1 {
			t.Fatalf("after outer restore, value = %v, want 1", got)
		}
	})
}

// Readers, Set and Override at once; meaningful under -race.
func TestClientConcurrentUse(t *testing.T) {
	k := dc.MakeKey("limit.maxIDLength")
	c := NewClient(dc.ConfigValueMap{k: cv(0)})
	cancel := c.Subscribe(func(map[dc.Key][]dc.ConstrainedValue) {})
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				switch g {
				case 0:
					c.Set(dc.ConfigValueMap{k: cv(i)})
				case 1:
					c.Override("frontend.rps", i)()
				default:
					_ = c.GetValue(k)
					_ = c.Values()
				}
			}
		}(g)
	}
	wg.Wait()
	if c.GetValue(k) == nil {
		t.Error("key lost after concurrent use")
	}
}
