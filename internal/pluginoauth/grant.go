package pluginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth"
)

// Grant is the oauth.Grant of plugin tool providers: the oauth.Manager keeps the flow, the
// client settings and the tokens, and the plugin does the talking to its provider.
//
// The plugin's credentials are opaque to the daemon (GitHub's plugin calls its token
// "access_tokens"), so they travel in Token.Values, which tool calls receive with credential
// type oauth2, and nothing is put in AccessToken or RefreshToken. Values holds strings only
// (JSON for other values); the plugin's own typed map is kept in Token.Secret and is what a
// refresh hands back, so a plugin gets exactly what it returned.
type Grant struct{ Client *Client }

var _ oauth.Grant = Grant{}

// grantMeta is the non-secret record a Grant keeps with the token (Token.Meta).
type grantMeta struct {
	// RedirectURI is the one of the authorization: the plugin gets it again on refresh, as
	// Dify sends it, and an oauth.RefreshRequest does not carry one.
	RedirectURI string         `json:"redirect_uri"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// Start asks the plugin for the authorization URL. The plugin puts its own state in it, so
// the user goes through the daemon's start route, which keeps the daemon's state in a
// cookie (StartResult.Cookie).
func (g Grant) Start(ctx context.Context, req oauth.StartRequest) (oauth.StartResult, error) {
	f, err := flowOf(req.Tenant, req.UserID, req.Provider, req.Client, req.RedirectURL)
	if err != nil {
		return oauth.StartResult{}, err
	}
	u, err := g.Client.AuthorizationURL(ctx, f)
	if err != nil {
		return oauth.StartResult{}, grantErr(err)
	}
	return oauth.StartResult{URL: u, Cookie: true}, nil
}

// Finish hands the callback request to the plugin for the code exchange.
func (g Grant) Finish(ctx context.Context, req oauth.FinishRequest) (oauth.Token, error) {
	f, err := flowOf(req.Tenant, req.UserID, req.Provider, req.Client, req.RedirectURL)
	if err != nil {
		return oauth.Token{}, err
	}
	if req.Request == nil {
		return oauth.Token{}, errors.New("oauth callback of a plugin provider without its request")
	}
	cr, err := g.Client.ExchangeCallback(ctx, f, req.Request)
	if err != nil {
		return oauth.Token{}, grantErr(err)
	}
	return token(cr, f)
}

// Refresh asks the plugin to refresh the credentials it returned last.
func (g Grant) Refresh(ctx context.Context, req oauth.RefreshRequest) (oauth.Token, error) {
	var meta grantMeta
	if len(req.Current.Meta) > 0 {
		if err := json.Unmarshal(req.Current.Meta, &meta); err != nil {
			return oauth.Token{}, fmt.Errorf("the stored oauth record of %s: %w", req.Provider.ID, err)
		}
	}
	f, err := flowOf(req.Tenant, "", req.Provider, req.Client, meta.RedirectURI)
	if err != nil {
		return oauth.Token{}, err
	}
	var creds map[string]any
	if len(req.Current.Secret) > 0 {
		if err := json.Unmarshal(req.Current.Secret, &creds); err != nil {
			return oauth.Token{}, fmt.Errorf("the stored oauth credentials of %s: %w", req.Provider.ID, err)
		}
	} else {
		creds = map[string]any{}
		for k, v := range req.Current.Values {
			creds[k] = v
		}
	}
	cr, err := g.Client.Refresh(ctx, f, creds)
	if err != nil {
		return oauth.Token{}, grantErr(err)
	}
	if len(cr.Metadata) == 0 {
		cr.Metadata = meta.Metadata // a refresh says nothing new about the account
	}
	return token(cr, f)
}

// grantErr makes what the plugin said a refusal for the Manager: a refresh it refuses, or
// cannot do at all, will not succeed by trying again, so the credential needs the user.
func grantErr(err error) error {
	if errors.Is(err, ErrRefused) || errors.Is(err, ErrNotImplemented) {
		return fmt.Errorf("%w: %w", oauth.ErrRefused, err)
	}
	return err
}

// flowOf is the Flow of a plugin provider with the client in force. The plugin gets the
// client as Dify passes it (system_credentials): the client_schema fields, client_id and
// client_secret among them, and scope when one is set and the fields do not have it.
func flowOf(tenant, user string, p catalog.Provider, c *oauth.ClientSettings, redirect string) (Flow, error) {
	if p.Kind != catalog.KindPlugin || p.PluginUniqueIdentifier == "" {
		return Flow{}, fmt.Errorf("provider %s is not a plugin provider: %w", p.ID, catalog.ErrInvalid)
	}
	if c == nil {
		return Flow{}, fmt.Errorf("no OAuth client is configured for %s: set one (client_id, client_secret and the fields its plugin asks for) at system or tenant level: %w", p.ID, catalog.ErrInvalid)
	}
	if redirect == "" {
		return Flow{}, fmt.Errorf("no redirect URI for the OAuth flow of %s: %w", p.ID, catalog.ErrInvalid)
	}
	sys := make(map[string]any, len(c.Params)+3)
	for k, v := range c.Params {
		sys[k] = v
	}
	if c.ClientID != "" {
		sys["client_id"] = c.ClientID
	}
	if c.ClientSecret != "" {
		sys["client_secret"] = c.ClientSecret
	}
	if _, ok := sys["scope"]; !ok && len(c.Scopes) > 0 {
		sys["scope"] = strings.Join(c.Scopes, " ")
	}
	return Flow{Tenant: tenant, UserID: user, PluginUniqueIdentifier: p.PluginUniqueIdentifier, Provider: p.Name,
		RedirectURI: redirect, SystemCredentials: sys}, nil
}

func token(cr Credentials, f Flow) (oauth.Token, error) {
	vals := make(map[string]string, len(cr.Values))
	for k, v := range cr.Values {
		switch x := v.(type) {
		case string:
			vals[k] = x
		case nil:
			vals[k] = ""
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return oauth.Token{}, err
			}
			vals[k] = string(b)
		}
	}
	typed, err := json.Marshal(cr.Values)
	if err != nil {
		return oauth.Token{}, err
	}
	meta, err := json.Marshal(grantMeta{RedirectURI: f.RedirectURI, Metadata: cr.Metadata})
	if err != nil {
		return oauth.Token{}, err
	}
	cid, _ := f.SystemCredentials["client_id"].(string)
	return oauth.Token{Values: vals, Expiry: cr.ExpiresAt, ClientID: cid, Meta: meta, Secret: typed}, nil
}
