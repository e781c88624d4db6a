package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/plugd/plugd/internal/manifest"
)

// decl is a stored declaration, parsed once: the typed form to read names and settings from,
// and the raw parts to send, so that what Dify receives is exactly what was stored.
type decl struct {
	uid          string
	raw          json.RawMessage
	verification json.RawMessage
	plugin       manifest.Plugin
	parts        struct {
		Tool          json.RawMessage `json:"tool"`
		Model         json.RawMessage `json:"model"`
		Endpoint      json.RawMessage `json:"endpoint"`
		AgentStrategy json.RawMessage `json:"agent_strategy"`
		Datasource    json.RawMessage `json:"datasource"`
		Trigger       json.RawMessage `json:"trigger"`
		Meta          json.RawMessage `json:"meta"`
	}
}

// verified reports whether the package's signature was checked at upload.
func (d *decl) verified() bool { return d.plugin.Verified || !isNull(d.verification) }

// declCache keeps parsed declarations. A unique identifier ends in the package checksum, so
// its declaration never changes and entries need no invalidation; the bound only limits
// memory.
type declCache struct {
	store Store
	max   int
	mu    sync.Mutex
	m     map[string]*decl
}

func newDeclCache(st Store, max int) *declCache {
	return &declCache{store: st, max: max, m: map[string]*decl{}}
}

func (c *declCache) get(ctx context.Context, uid string) (*decl, error) {
	c.mu.Lock()
	d := c.m[uid]
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	row, err := c.store.GetDeclaration(ctx, uid)
	if err != nil {
		return nil, fmt.Errorf("declaration of %s: %w", uid, err)
	}
	d = &decl{uid: uid, raw: row.Declaration, verification: row.Verification}
	if err := json.Unmarshal(row.Declaration, &d.plugin); err != nil {
		return nil, fmt.Errorf("declaration of %s is unreadable: %w", uid, err)
	}
	if err := json.Unmarshal(row.Declaration, &d.parts); err != nil {
		return nil, fmt.Errorf("declaration of %s is unreadable: %w", uid, err)
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // crude, but declarations are cheap to reload
	}
	c.m[uid] = d
	c.mu.Unlock()
	return d, nil
}

// providerKind is a kind of provider a plugin declares, with the management routes that list
// providers of that kind.
type providerKind int

const (
	kindTool providerKind = iota
	kindModel
	kindAgent
	kindDatasource
	kindTrigger
)

// provider returns the name and raw declaration of the plugin's provider of kind k, and
// false when it declares none.
func (d *decl) provider(k providerKind) (string, json.RawMessage, bool) {
	p := &d.plugin
	switch k {
	case kindTool:
		if p.Tool != nil {
			return p.Tool.Identity.Name, d.parts.Tool, true
		}
	case kindModel:
		if p.Model != nil {
			return p.Model.Provider, d.parts.Model, true
		}
	case kindAgent:
		if p.AgentStrategy != nil {
			return p.AgentStrategy.Identity.Name, d.parts.AgentStrategy, true
		}
	case kindDatasource:
		if p.Datasource != nil {
			return p.Datasource.Identity.Name, d.parts.Datasource, true
		}
	case kindTrigger:
		if p.Trigger != nil {
			return p.Trigger.Identity.Name, d.parts.Trigger, true
		}
	}
	return "", nil, false
}
