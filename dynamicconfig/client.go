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

// Layer names where a value comes from, lowest first: the static values
// (profiles and flags), the watched file, and overrides made while running
// (the Go API). A key set in a higher layer replaces the key's whole list of
// constrained values below it.
type Layer int

const (
	LayerStatic Layer = iota
	LayerFile
	LayerOverride
	// LayerGate is devcluster's own, above everything: values the server
	// wiring sets while the cluster runs (see services: fresh reads after a
	// change).
	LayerGate
	numLayers
)

func (l Layer) String() string {
	switch l {
	case LayerStatic:
		return "static (profile, config file or flag)"
	case LayerFile:
		return "dynamic-config file"
	case LayerOverride:
		return "override (Go API)"
	case LayerGate:
		return "devcluster (server.fresh-reads-after-change)"
	}
	return "unknown"
}

// Client is the server's dynamicconfig.Client over layered value maps that
// can be replaced while the cluster runs. Subscribers (the server's
// Collection) are told which keys changed. Safe for concurrent use.
type Client struct {
	dc.NotifyingClientImpl

	mu     sync.RWMutex
	setMu  sync.Mutex // serialises changes, so notifications arrive in order
	layers [numLayers]dc.ConfigValueMap
	values dc.ConfigValueMap // effective
	from   map[dc.Key]Layer
}

var _ dc.NotifyingClient = (*Client)(nil)

// NewClient returns a client serving values as its static layer.
func NewClient(values dc.ConfigValueMap) *Client {
	c := &Client{NotifyingClientImpl: dc.NewNotifyingClientImpl(), values: dc.ConfigValueMap{}, from: map[dc.Key]Layer{}}
	c.setLayer(LayerStatic, values)
	return c
}

// ConstrainedValue is one value of a setting with the constraints it
// applies under (the server's type, named here so that callers need not
// import the server).
type ConstrainedValue = dc.ConstrainedValue

// GetValue returns the constrained values of key, or nil. For an unchanged
// key it returns the same slice every time, which lets the server cache its
// conversion.
func (c *Client) GetValue(key dc.Key) []dc.ConstrainedValue {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.values[key]
}

// Values returns a copy of the effective map.
func (c *Client) Values() dc.ConfigValueMap {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(dc.ConfigValueMap, len(c.values))
	for k, v := range c.values {
		out[k] = v
	}
	return out
}

// Source returns the layer the effective value of key comes from.
func (c *Client) Source(key dc.Key) (Layer, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.from[key]
	return l, ok
}

// Set replaces the static layer and notifies subscribers of the keys whose
// effective value changed (a removed key is reported with a nil slice). It
// returns the changed keys.
func (c *Client) Set(values dc.ConfigValueMap) []dc.Key {
	return c.SetLayer(LayerStatic, values)
}

// SetLayer replaces one layer; see Set.
func (c *Client) SetLayer(l Layer, values dc.ConfigValueMap) []dc.Key {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return c.setLayer(l, values)
}

// setLayer does SetLayer's work; the caller holds setMu (or owns c), so that
// notifications reach subscribers in the order the values were set.
func (c *Client) setLayer(l Layer, in dc.ConfigValueMap) []dc.Key {
	layer := make(dc.ConfigValueMap, len(in)) // never keep the caller's map
	for k, v := range in {
		layer[k] = v
	}
	c.mu.Lock()
	c.layers[l] = layer
	values := dc.ConfigValueMap{}
	from := map[dc.Key]Layer{}
	for i, m := range c.layers {
		for k, v := range m {
			values[k] = v
			from[k] = Layer(i)
		}
	}
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
	c.values, c.from = values, from
	c.mu.Unlock()

	c.PublishUpdates(changed)
	keys := make([]dc.Key, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	return keys
}

// Override sets one key to an unconstrained value above every other layer
// and returns a function that restores what was there. Tests use it to
// change a value on a running cluster.
func (c *Client) Override(key string, value any) (restore func()) {
	k := dc.MakeKey(key)
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.mu.RLock()
	next := make(dc.ConfigValueMap, len(c.layers[LayerOverride])+1)
	for kk, v := range c.layers[LayerOverride] {
		next[kk] = v
	}
	c.mu.RUnlock()
	prev, had := next[k]
	next[k] = []dc.ConstrainedValue{{Value: value}}
	c.setLayer(LayerOverride, next)
	return func() {
		c.setMu.Lock()
		defer c.setMu.Unlock()
		c.mu.RLock()
		restored := make(dc.ConfigValueMap, len(c.layers[LayerOverride]))
		for kk, v := range c.layers[LayerOverride] {
			restored[kk] = v
		}
		c.mu.RUnlock()
		if had {
			restored[k] = prev
		} else {
			delete(restored, k)
		}
		c.setLayer(LayerOverride, restored)
	}
}
