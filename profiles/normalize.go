package profiles

import (
	"path/filepath"
	"strings"
	"time"
)

// Normalized returns a copy of c with what Load fills in filled in (see
// normalize): bootstrap.Start normalizes every config it is given, so a
// Go caller's config needs no "default" namespace or resolved paths.
// Normalizing a normalized config changes nothing.
func (c Config) Normalized() Config {
	out := c.Clone()
	out.normalize()
	return out
}

// normalize fills what layering cannot express: the namespace "default"
// always exists and comes first, a namespace without retention gets 24h,
// and relative paths are resolved under data-dir.
func (c *Config) normalize() {
	hasDefault := false
	for i := range c.Namespaces {
		if c.Namespaces[i].Retention == 0 {
			c.Namespaces[i].Retention = DefaultRetention
		}
		if c.Namespaces[i].Name == DefaultNamespace {
			hasDefault = true
			if i != 0 {
				def := c.Namespaces[i]
				rest := append(append([]Namespace(nil), c.Namespaces[:i]...), c.Namespaces[i+1:]...)
				c.Namespaces = append([]Namespace{def}, rest...)
			}
		}
	}
	if !hasDefault {
		c.Namespaces = append([]Namespace{{Name: DefaultNamespace, Retention: DefaultRetention}}, c.Namespaces...)
	}
	c.Persistence.File = c.underDataDir(c.Persistence.File)
	c.Visibility.File = c.underDataDir(c.Visibility.File)
	c.Archival.History.Dir = c.underDataDir(c.Archival.History.Dir)
	c.Archival.Visibility.Dir = c.underDataDir(c.Archival.Visibility.Dir)
	c.dbs = nil
	if c.Persistence.URL != "" {
		d := &decodedDatabases{url: c.Persistence.URL, visURL: c.Visibility.URL}
		d.main, d.vis, d.err = c.decodeDatabases()
		c.dbs = d
	}
}

// underDataDir puts a relative path under data-dir, unless it is already
// there (normalize may run on a config it normalized before): "data/x.db"
// and "./data/x.db" under data-dir "data" both stay data/x.db.
func (c *Config) underDataDir(p string) string {
	if p == "" || c.DataDir == "" || filepath.IsAbs(p) {
		return p
	}
	if clean := filepath.Clean(p); strings.HasPrefix(clean, filepath.Clean(c.DataDir)+string(filepath.Separator)) {
		return clean
	}
	return filepath.Join(c.DataDir, p)
}

// DefaultRetention is the retention of a namespace that names none.
const DefaultRetention = 24 * time.Hour
