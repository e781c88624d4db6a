package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/plugd/plugd/internal/oauth"
)

// OAuth for tools (docs/oauth.md): clients, connecting, connections.

// oauthClientsPath is the path of a provider's client: the tenant's, or the system's when
// system is set.
func (c *Client) oauthClientURL(system bool, provider string) string {
	if system {
		u := c.base + "/tools/oauth/system-clients"
		if provider != "" {
			u += "/" + escapeID(provider)
		}
		return u
	}
	p := "oauth/clients"
	if provider != "" {
		p += "/" + escapeID(provider)
	}
	return c.toolsURL(p, nil)
}

func (c *Client) oauthDo(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.call(req, out)
}

// SetOAuthClient stores a provider's OAuth client for the tenant, or for every tenant.
func (c *Client) SetOAuthClient(ctx context.Context, system bool, cs oauth.ClientSettings) (oauth.ClientSettings, error) {
	var out oauth.ClientSettings
	return out, c.oauthDo(ctx, http.MethodPut, c.oauthClientURL(system, cs.Provider), cs, &out)
}

// OAuthClients lists the clients the tenant sees (or the system's).
func (c *Client) OAuthClients(ctx context.Context, system bool) ([]oauth.ClientSettings, error) {
	var out []oauth.ClientSettings
	return out, c.oauthDo(ctx, http.MethodGet, c.oauthClientURL(system, ""), nil, &out)
}

// DeleteOAuthClient deletes a provider's client of the tenant (or the system's).
func (c *Client) DeleteOAuthClient(ctx context.Context, system bool, provider string) error {
	return c.oauthDo(ctx, http.MethodDelete, c.oauthClientURL(system, provider), nil, nil)
}

// ConnectOAuth starts connecting a provider.
func (c *Client) ConnectOAuth(ctx context.Context, providerID, userID string) (oauth.Started, error) {
	var out oauth.Started
	return out, c.toolsDo(ctx, http.MethodPost, "oauth/connect", nil, map[string]string{"provider_id": providerID, "user_id": userID}, &out)
}

// OAuthFlow polls an authorization.
func (c *Client) OAuthFlow(ctx context.Context, id string) (oauth.FlowInfo, error) {
	var out oauth.FlowInfo
	return out, c.toolsDo(ctx, http.MethodGet, "oauth/flows/"+url.PathEscape(id), nil, nil, &out)
}

// OAuthConnections lists the tenant's connections.
func (c *Client) OAuthConnections(ctx context.Context) ([]oauth.Connection, error) {
	var out []oauth.Connection
	return out, c.toolsDo(ctx, http.MethodGet, "oauth/connections", nil, nil, &out)
}

// DisconnectOAuth revokes and forgets a connection.
func (c *Client) DisconnectOAuth(ctx context.Context, providerID string) error {
	return c.toolsDo(ctx, http.MethodDelete, "oauth/connections/"+escapeID(providerID), nil, nil, nil)
}
