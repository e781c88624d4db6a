package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/plugd/plugd/internal/catalog"
)

// The tool catalog's routes (/tools/{tenant}/..., docs/tools.md), answered by plugd only.

// toolsURL is the URL of a path under /tools/{tenant}/.
func (c *Client) toolsURL(path string, query url.Values) string {
	u := c.base + "/tools/" + url.PathEscape(c.tenant) + "/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

func (c *Client) toolsDo(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = c.newRequest(ctx, method, c.toolsURL(path, query), rd)
	} else {
		req, err = c.newRequest(ctx, method, c.toolsURL(path, query), nil)
	}
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.call(req, out)
}

// ToolProviders lists the tenant's tool providers (kind "" for all).
func (c *Client) ToolProviders(ctx context.Context, kind catalog.Kind, hidden bool) ([]catalog.Provider, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", string(kind))
	}
	if hidden {
		q.Set("hidden", "true")
	}
	var out []catalog.Provider
	return out, c.toolsDo(ctx, http.MethodGet, "providers", q, nil, &out)
}

// ToolProvider reads one provider. Plugin provider ids keep their slashes in the path.
func (c *Client) ToolProvider(ctx context.Context, id string) (catalog.Provider, error) {
	var out catalog.Provider
	return out, c.toolsDo(ctx, http.MethodGet, "providers/"+escapeID(id), nil, nil, &out)
}

// RemoveToolProvider deletes an api, workflow or mcp provider.
func (c *Client) RemoveToolProvider(ctx context.Context, id string) error {
	return c.toolsDo(ctx, http.MethodDelete, "providers/"+escapeID(id), nil, nil, nil)
}

// escapeID escapes each segment of a provider id.
func escapeID(id string) string {
	var b bytes.Buffer
	seg := ""
	flush := func() { b.WriteString(url.PathEscape(seg)); seg = "" }
	for _, r := range id {
		if r == '/' {
			flush()
			b.WriteByte('/')
			continue
		}
		seg += string(r)
	}
	flush()
	return b.String()
}

// ImportTools posts an import: kind "openapi" or "workflow", body the route's fields.
func (c *Client) ImportTools(ctx context.Context, kind string, body map[string]any) (catalog.Provider, error) {
	var out catalog.Provider
	return out, c.toolsDo(ctx, http.MethodPost, "import/"+kind, nil, body, &out)
}

// RefreshTools lists a provider's tools anew from its source (an MCP server).
func (c *Client) RefreshTools(ctx context.Context, id string) (catalog.Provider, error) {
	var out catalog.Provider
	return out, c.toolsDo(ctx, http.MethodPost, "refresh/"+escapeID(id), nil, nil, &out)
}

// SetToolPreference pins/unpins and hides/shows a provider or tool.
func (c *Client) SetToolPreference(ctx context.Context, ch catalog.PreferenceChange) (catalog.Preference, error) {
	var out catalog.Preference
	return out, c.toolsDo(ctx, http.MethodPost, "preferences", nil, ch, &out)
}

// SetToolCredentials stores a plugin provider's credentials (empty: deletes them).
func (c *Client) SetToolCredentials(ctx context.Context, providerID string, creds map[string]string) (catalog.Provider, error) {
	var out catalog.Provider
	return out, c.toolsDo(ctx, http.MethodPost, "credentials", nil, map[string]any{"provider_id": providerID, "credentials": creds}, &out)
}

// CheckTools asks which configured tools are gone.
func (c *Client) CheckTools(ctx context.Context, refs []catalog.ToolRef) ([]catalog.Deleted, error) {
	var out struct {
		Deleted []catalog.Deleted `json:"deleted"`
	}
	err := c.toolsDo(ctx, http.MethodPost, "check", nil, map[string]any{"tools": refs}, &out)
	return out.Deleted, err
}

// ToolChanges lists what changed after version since.
func (c *Client) ToolChanges(ctx context.Context, since int64) (catalog.ChangeSet, error) {
	var out catalog.ChangeSet
	return out, c.toolsDo(ctx, http.MethodGet, "changes", url.Values{"since": {strconv.FormatInt(since, 10)}}, nil, &out)
}

// CallTool runs a tool; each gets every message's JSON ({type, message, meta}) in order.
func (c *Client) CallTool(ctx context.Context, providerID, tool string, args map[string]any, creds map[string]string, each func(json.RawMessage) error) error {
	if args == nil {
		args = map[string]any{}
	}
	data, err := json.Marshal(map[string]any{"provider_id": providerID, "tool": tool, "arguments": args, "credentials": creds, "user_id": "plugd-cli"})
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.toolsURL("call", nil), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.StatusCode, resp.Body, each)
}

// MarketplaceInstall is what POST /tools/{tenant}/install answers: the install task the daemon
// started for a Marketplace plugin, or AllInstalled when the tenant already has the plugin.
type MarketplaceInstall struct {
	UniqueIdentifier string `json:"unique_identifier"`
	TaskID           string `json:"task_id"`
	AllInstalled     bool   `json:"all_installed"`
	Cached           bool   `json:"cached"`
}

// InstallFromMarketplace asks the daemon to download plugin (org/name[:version] or a unique
// identifier) from its Marketplace, verify and install it; follow the answer's task with Task.
func (c *Client) InstallFromMarketplace(ctx context.Context, plugin string, verify bool) (MarketplaceInstall, error) {
	var out MarketplaceInstall
	body := map[string]any{"plugin": plugin}
	if verify {
		body["verify_signature"] = true
	}
	return out, c.toolsDo(ctx, http.MethodPost, "install", nil, body, &out)
}
