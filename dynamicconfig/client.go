// Package dynamicconfig gives the embedded server its dynamic configuration:
// a dynamicconfig.Client (the server's interface, with change notifications)
// whose values devcluster validates against the server's registered settings
// before they take effect.
package dynamicconfig

import (
	"reflect"
	"sync"

	dc "go.temporal.io/server/common/dynamicconfig"
)

// Client is the server's dynamicconfig.Client over a value map that can be
// replaced while the cluster runs. Subscribers (the server's Collection) are
// told which keys changed. Safe for concurrent use.
type Client struct {
	dc.NotifyingClientImpl

	mu     sync.RWMutex
	setMu  sync.Mutex // serialises Set and Override, so notifications arrive in order
	values dc.ConfigValueMap
}

var _ dc.NotifyingClient = (*Client)(nil)

// NewClient returns a client serving values (which it does not copy; the
// caller must not modify the map afterwards).
func NewClient(values dc.ConfigValueMap) *Client {
	if values == nil {
		values = dc.ConfigValueMap{}
	}
	return &Client{NotifyingClientImpl: dc.NewNotifyingClientImpl(), values: values}
}

// GetValue returns the constrained values of key, or nil. For an unchanged
// key it returns the same slice every time, which lets the server cache its
// conversion.
func (c *Client) GetValue(key dc.Key) []dc.ConstrainedValue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.values[key]
}

// Values returns a copy of the current map.
func (c *Client) Values() dc.ConfigValueMap {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(dc.ConfigValueMap, len(c.values))
	for k, v := range c.values {
		out[k] = v
	}
	return out
}

// Set replaces every value and notifies subscribers of the keys that
// changed (a removed key is reported with a nil slice). It returns the
// changed keys.
func (c *Client) Set(values dc.ConfigValueMap) []dc.Key {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return c.set(values)
}

// set does Set's work; the caller holds setMu, so that notifications reach
// subscribers in the order the values were set.
func (c *Client) set(in dc.ConfigValueMap) []dc.Key {
	values := make(dc.ConfigValueMap, len(in)) // never keep the caller's map
	for k, v := range in {
		values[k] = v
	}
	c.mu.Lock()
	changed := map[dc.Key][]dc.ConstrainedValue{}
	for k, v := range values {
		if old, ok := c.values[k]; !ok || !reflect.DeepEqual(old, v) {
			changed[k] = v
		} else {
			values[k] = old // keep the old slice so its identity is stable
		}
	}
	for k := range c.values {
		if _, ok := values[k]; !ok {
			changed[k] = nil
		}
	}
	c.values = values
	c.mu.Unlock()

	c.PublishUpdates(changed)
	keys := make([]dc.Key, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	return keys
}

// Override sets one key to an unconstrained value on top of the current map
// and returns a function that restores the previous value. Tests use it to
// change a value on a running cluster.
func (c *Client) Override(key string, value any) (restore func()) {
	k := dc.MakeKey(key)
	c.setMu.Lock()
	defer c.setMu.Unlock()
	next := c.Values()
	prev, had := next[k]
	next[k] = []dc.ConstrainedValue{{Value: value}}
	c.set(next)
	return func() {
		c.setMu.Lock()
		defer c.setMu.Unlock()
		restored := c.Values()
		if had {
			restored[k] = prev
		} else {
			delete(restored, k)
		}
		c.set(restored)
	}
}
