package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Discoverer is a Caller whose providers can list their tools anew from where they come from
// (an MCP server's tools/list), so that the catalog's stored copy follows the source. The
// catalog keeps serving the stored copy meanwhile: listing never waits on a provider.
type Discoverer interface {
	Discover(ctx context.Context, tenant string, p Provider) ([]Tool, error)
}

// Refresh asks the provider's source for its tools and stores them when they changed (tools
// gone are logged as removed, new ones as added, like a re-import). It answers the provider
// as stored afterwards, credentials masked. Only kinds whose Caller is a Discoverer refresh.
func (c *Catalog) Refresh(ctx context.Context, tenant, id string) (Provider, error) {
	p, err := c.get(ctx, tenant, id)
	if err != nil {
		return Provider{}, err
	}
	d, ok := c.cfg.Callers[p.Kind].(Discoverer)
	if !ok {
		return Provider{}, fmt.Errorf("providers of kind %s cannot refresh their tools (re-import instead): %w", p.Kind, ErrInvalid)
	}
	tools, err := d.Discover(ctx, tenant, p)
	if err != nil {
		return Provider{}, fmt.Errorf("refreshing the tools of %s provider %q: %w", p.Kind, p.Name, err)
	}
	if sameTools(p.Tools, tools) {
		p.Credentials = maskAll(p.Credentials)
		return p, nil
	}
	return c.Replace(ctx, tenant, id, NewProvider{Kind: p.Kind, Name: p.Name, Label: p.Label, Description: p.Description,
		Icon: p.Icon, Config: p.Config, Tools: tools})
}

// sameTools compares two tool lists as stored (order included).
func sameTools(a, b []Tool) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// Unmask returns creds with every value that equals the mask of the stored provider's value
// under the same key replaced by that value — the rule Replace applies — so that an importer
// can use the real secrets before the re-import is stored (to connect with them, say), when
// the caller sent back what it was shown.
func (c *Catalog) Unmask(ctx context.Context, tenant, id string, creds map[string]string) (map[string]string, error) {
	p, err := c.get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(creds))
	for k, v := range creds {
		if ov, ok := p.Credentials[k]; ok && v == Mask(ov) {
			v = ov
		}
		out[k] = v
	}
	return out, nil
}
