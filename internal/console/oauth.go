package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/catalog"
)

// The OAuth page: the tenant's OAuth clients (its own and the system's), and per provider
// that authenticates with OAuth (API tools of auth type oauth2, MCP servers added with
// oauth) its connection, with "connect" / "re-authorize" / "disconnect". Connecting opens the
// authorization server's page in a new window while this page follows the flow
// (/tools/{t}/oauth/flows/{id}) until the daemon's /oauth/callback has finished it.

type oauthClient struct {
	Provider         string    `json:"provider"`
	ClientID         string    `json:"client_id"`
	ClientSecret     string    `json:"client_secret"`
	Scopes           []string  `json:"scopes"`
	AuthorizationURL string    `json:"authorization_url"`
	TokenURL         string    `json:"token_url"`
	RevocationURL    string    `json:"revocation_url"`
	Enabled          bool      `json:"enabled"`
	Level            string    `json:"level"`
	UpdatedAt        time.Time `json:"updated_at"`
}

type oauthConnection struct {
	Provider  string    `json:"provider_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	Expiry    time.Time `json:"expires_at"`
	Scopes    []string  `json:"scopes"`
	Refresh   bool      `json:"has_refresh_token"`
	UpdatedAt time.Time `json:"updated_at"`
}

type oauthRow struct {
	Provider   catalog.Provider
	Connection *oauthConnection
	Client     *oauthClient
}

type oauthData struct {
	Available   bool
	CallbackURL string
	Rows        []oauthRow
	Clients     []oauthClient
	Providers   []catalog.Provider // OAuth providers, for the client form
	Flow        *oauthFlow
}

type oauthFlow struct {
	ID               string    `json:"flow_id"`
	Provider         string    `json:"provider_id"`
	Status           string    `json:"status"`
	Error            string    `json:"error,omitempty"`
	AuthorizationURL string    `json:"authorization_url,omitempty"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// usesOAuth tells from a provider's config whether it authenticates with OAuth.
func usesOAuth(p catalog.Provider) bool {
	var cfg struct {
		Auth struct {
			Type string `json:"type"`
		} `json:"auth"`
		OAuth bool `json:"oauth"`
	}
	_ = json.Unmarshal(p.Config, &cfg)
	return cfg.Auth.Type == "oauth2" || cfg.OAuth
}

func (c *Console) oauthData(r *http.Request) (oauthData, error) {
	d := oauthData{CallbackURL: c.cfg.OAuthCallbackURL}
	var clients []oauthClient
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/oauth/clients", nil, &clients); err != nil {
		var ae *apiError
		if asAPIError(err, &ae) && ae.Status == http.StatusNotFound {
			return d, nil // the daemon serves no OAuth
		}
		return d, err
	}
	d.Available, d.Clients = true, clients
	var conns []oauthConnection
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/oauth/connections", nil, &conns); err != nil {
		return d, err
	}
	var provs []catalog.Provider
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/providers?hidden=true", nil, &provs); err != nil {
		return d, err
	}
	for _, p := range provs {
		ci := slices.IndexFunc(conns, func(x oauthConnection) bool { return x.Provider == p.ID })
		if !usesOAuth(p) && ci < 0 {
			continue
		}
		row := oauthRow{Provider: p}
		if ci >= 0 {
			row.Connection = &conns[ci]
		}
		// The tenant's own client comes first in the list, then the system's; a system client
		// may name an api or mcp provider by its name.
		if k := slices.IndexFunc(clients, func(x oauthClient) bool { return x.Provider == p.ID || x.Provider == p.Name }); k >= 0 {
			row.Client = &clients[k]
		}
		d.Rows = append(d.Rows, row)
		d.Providers = append(d.Providers, p)
	}
	return d, nil
}

func (c *Console) oauthPage(w http.ResponseWriter, r *http.Request, s session) {
	c.renderOAuth(w, r, s, http.StatusOK, nil, nil)
}

func (c *Console) renderOAuth(w http.ResponseWriter, r *http.Request, s session, status int, flow *oauthFlow, fail error) {
	p := c.base(r, s, "OAuth", "oauth")
	d, err := c.oauthData(r)
	if fail != nil {
		err = fail
	}
	if err != nil {
		p.Error = err.Error()
	}
	d.Flow = flow
	p.Data = d
	c.render(w, status, "oauth.html", p)
}

// oauthSetClient stores the tenant's client of a provider.
func (c *Console) oauthSetClient(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	provider := strings.TrimSpace(f.Get("provider"))
	body := map[string]any{
		"client_id": strings.TrimSpace(f.Get("client_id")), "enabled": f.Get("enabled") == "true",
		"authorization_url": strings.TrimSpace(f.Get("authorization_url")), "token_url": strings.TrimSpace(f.Get("token_url")),
		"revocation_url": strings.TrimSpace(f.Get("revocation_url")),
	}
	if v := f.Get("client_secret"); v != "" {
		body["client_secret"] = v
	}
	if sc := strings.FieldsFunc(f.Get("scopes"), func(r rune) bool { return r == ' ' || r == ',' }); len(sc) > 0 {
		body["scopes"] = sc
	}
	if err := c.call(r.Context(), "PUT", "/tools/"+apiTenant(r)+"/oauth/clients/"+escapeID(provider), body, nil); err != nil {
		c.renderOAuth(w, r, s, http.StatusBadRequest, nil, fmt.Errorf("saving the client of %s: %w", provider, err))
		return
	}
	back(w, r, "oauth", "Saved the OAuth client of "+provider+".")
}

func (c *Console) oauthDeleteClient(w http.ResponseWriter, r *http.Request, s session) {
	provider := r.PostForm.Get("provider")
	if err := c.call(r.Context(), "DELETE", "/tools/"+apiTenant(r)+"/oauth/clients/"+escapeID(provider), nil, nil); err != nil {
		c.failPage(w, r, s, "oauth", err)
		return
	}
	back(w, r, "oauth", "Removed the OAuth client of "+provider+".")
}

// oauthConnect starts an authorization and shows the page that follows it.
func (c *Console) oauthConnect(w http.ResponseWriter, r *http.Request, s session) {
	provider := r.PostForm.Get("provider")
	var flow oauthFlow
	body := map[string]string{"provider_id": provider, "user_id": "console:" + userLabel(s.user)}
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/oauth/connect", body, &flow); err != nil {
		c.renderOAuth(w, r, s, http.StatusBadRequest, nil, fmt.Errorf("connecting %s: %w", provider, err))
		return
	}
	flow.Status = "pending"
	c.renderOAuth(w, r, s, http.StatusOK, &flow, nil)
}

// oauthFlowStatus answers the flow page's polls.
func (c *Console) oauthFlowStatus(w http.ResponseWriter, r *http.Request, s session) {
	var flow oauthFlow
	err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/oauth/flows/"+url.PathEscape(r.PathValue("id")), nil, &flow)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(flow)
}

func (c *Console) oauthDisconnect(w http.ResponseWriter, r *http.Request, s session) {
	provider := r.PostForm.Get("provider")
	if err := c.call(r.Context(), "DELETE", "/tools/"+apiTenant(r)+"/oauth/connections/"+escapeID(provider), nil, nil); err != nil {
		c.failPage(w, r, s, "oauth", err)
		return
	}
	back(w, r, "oauth", "Disconnected "+provider+".")
}
