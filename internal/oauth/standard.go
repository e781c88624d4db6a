package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/openapi"
)

// Standard is the authorization-code grant with PKCE of x/oauth2, for API providers
// (endpoints from the client settings, else from the OpenAPI description's oauth2 security
// scheme) and MCP servers (the MCP authorization spec: RFC 9728 protected-resource metadata,
// RFC 8414 server metadata — both read with the MCP SDK's oauthex — RFC 7591 registration
// when no client is configured, RFC 8707 resource indicators). Every request goes through
// HTTP, the egress client.
type Standard struct {
	HTTP *http.Client
	// ClientName is the client_name of dynamic registrations; default "plugd".
	ClientName string
}

var (
	_ Grant   = Standard{}
	_ Revoker = Standard{}
)

// endpoints are where a flow talks to.
type endpoints struct {
	AuthURL         string   `json:"auth_url"`
	TokenURL        string   `json:"token_url"`
	RevocationURL   string   `json:"revocation_url,omitempty"`
	RegistrationURL string   `json:"registration_url,omitempty"`
	Issuer          string   `json:"issuer,omitempty"`
	IssParam        bool     `json:"iss_param,omitempty"` // RFC 9207 iss in callbacks
	Resource        string   `json:"resource,omitempty"`  // RFC 8707
	AuthMethods     []string `json:"auth_methods,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
}

// stdSaved is kept (sealed) from Start to Finish.
type stdSaved struct {
	Verifier     string           `json:"verifier"`
	Endpoints    endpoints        `json:"endpoints"`
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret,omitempty"`
	AuthStyle    oauth2.AuthStyle `json:"auth_style"`
	Registered   bool             `json:"registered,omitempty"`
}

// stdMeta is the token's Meta: what refresh and revocation need.
type stdMeta struct {
	TokenURL      string           `json:"token_url"`
	RevocationURL string           `json:"revocation_url,omitempty"`
	Resource      string           `json:"resource,omitempty"`
	AuthStyle     oauth2.AuthStyle `json:"auth_style"`
	Registered    bool             `json:"registered,omitempty"`
}

// stdSecret is the token's Secret: a registered client's secret.
type stdSecret struct {
	ClientSecret string `json:"client_secret,omitempty"`
}

// Start resolves the endpoints and the client (registering one for an MCP server without a
// configured client) and builds the authorization URL with an S256 challenge.
func (s Standard) Start(ctx context.Context, req StartRequest) (StartResult, error) {
	var (
		ep  endpoints
		err error
	)
	switch req.Provider.Kind {
	case catalog.KindAPI:
		ep, err = apiEndpoints(req.Provider, req.Client)
	case catalog.KindMCP:
		ep, err = s.mcpEndpoints(ctx, req.Provider, req.Client)
	default:
		err = fmt.Errorf("the standard OAuth grant serves api and mcp providers, not %s: %w", req.Provider.Kind, catalog.ErrInvalid)
	}
	if err != nil {
		return StartResult{}, err
	}
	sv := stdSaved{Verifier: oauth2.GenerateVerifier(), Endpoints: ep}
	if req.Client != nil && req.Client.ClientID != "" {
		sv.ClientID, sv.ClientSecret = req.Client.ClientID, req.Client.ClientSecret
		sv.AuthStyle = authStyle(ep.AuthMethods, sv.ClientSecret != "")
	} else {
		if ep.RegistrationURL == "" {
			return StartResult{}, fmt.Errorf("provider %s has no OAuth client configured and its authorization server offers no dynamic registration: set one with `plugd tools oauth-client set %s --client-id ...`: %w",
				req.Provider.ID, req.Provider.ID, catalog.ErrInvalid)
		}
		if err := s.register(ctx, req, &sv); err != nil {
			return StartResult{}, err
		}
	}
	conf := s.config(sv.ClientID, sv.ClientSecret, sv.AuthStyle, ep, req.RedirectURL)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(sv.Verifier)}
	if ep.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", ep.Resource))
	}
	saved, _ := json.Marshal(sv)
	return StartResult{URL: conf.AuthCodeURL(req.State, opts...), Saved: saved}, nil
}

// register makes a client at the server (RFC 7591) for this redirect URI.
func (s Standard) register(ctx context.Context, req StartRequest, sv *stdSaved) error {
	name := s.ClientName
	if name == "" {
		name = "plugd"
	}
	method := "client_secret_basic"
	if len(sv.Endpoints.AuthMethods) > 0 && !slices.Contains(sv.Endpoints.AuthMethods, method) {
		switch {
		case slices.Contains(sv.Endpoints.AuthMethods, "client_secret_post"):
			method = "client_secret_post"
		case slices.Contains(sv.Endpoints.AuthMethods, "none"):
			method = "none"
		}
	}
	meta := &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{req.RedirectURL}, TokenEndpointAuthMethod: method, ClientName: name,
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scope: strings.Join(sv.Endpoints.Scopes, " "),
	}
	reg, err := oauthex.RegisterClient(ctx, sv.Endpoints.RegistrationURL, meta, s.HTTP)
	if err != nil {
		return fmt.Errorf("registering a client at %s (RFC 7591): %w", sv.Endpoints.RegistrationURL, err)
	}
	sv.ClientID, sv.ClientSecret, sv.Registered = reg.ClientID, reg.ClientSecret, true
	switch reg.TokenEndpointAuthMethod {
	case "client_secret_post", "none":
		sv.AuthStyle = oauth2.AuthStyleInParams
	default:
		sv.AuthStyle = oauth2.AuthStyleInHeader
	}
	return nil
}

// authStyle is how the client authenticates at the token endpoint: basic when the server
// takes it (or says nothing: RFC 6749 §2.3.1 makes it the one every server supports), in the
// form when it takes only that, and in the form without secret for a public client. Never
// x/oauth2's auto-detection, which sends a refused refresh twice.
func authStyle(methods []string, secret bool) oauth2.AuthStyle {
	switch {
	case !secret:
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

func (s Standard) config(id, secret string, style oauth2.AuthStyle, ep endpoints, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: ep.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: style}}
}

func (s Standard) ctx(ctx context.Context) context.Context {
	if s.HTTP == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, s.HTTP)
}

// Finish exchanges the code with the verifier (and the resource) for tokens.
func (s Standard) Finish(ctx context.Context, req FinishRequest) (Token, error) {
	var sv stdSaved
	if err := json.Unmarshal(req.Saved, &sv); err != nil {
		return Token{}, fmt.Errorf("reading the saved flow: %w", err)
	}
	// RFC 9207: a callback naming another issuer is a mix-up attack.
	if req.Callback.Iss != "" && sv.Endpoints.Issuer != "" && strings.TrimSuffix(req.Callback.Iss, "/") != strings.TrimSuffix(sv.Endpoints.Issuer, "/") {
		return Token{}, fmt.Errorf("the callback names issuer %q, not %q", req.Callback.Iss, sv.Endpoints.Issuer)
	}
	if req.Callback.Iss == "" && sv.Endpoints.IssParam {
		return Token{}, fmt.Errorf("the callback lacks the iss parameter its server (%s) promises", sv.Endpoints.Issuer)
	}
	conf := s.config(sv.ClientID, sv.ClientSecret, sv.AuthStyle, sv.Endpoints, req.RedirectURL)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(sv.Verifier)}
	if sv.Endpoints.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", sv.Endpoints.Resource))
	}
	t, err := conf.Exchange(s.ctx(ctx), req.Callback.Code, opts...)
	if err != nil {
		return Token{}, fmt.Errorf("exchanging the code at %s: %w", sv.Endpoints.TokenURL, err)
	}
	meta, _ := json.Marshal(stdMeta{TokenURL: sv.Endpoints.TokenURL, RevocationURL: sv.Endpoints.RevocationURL,
		Resource: sv.Endpoints.Resource, AuthStyle: sv.AuthStyle, Registered: sv.Registered})
	tok := token(t, sv.Endpoints.Scopes)
	tok.ClientID, tok.Meta = sv.ClientID, meta
	if sv.Registered && sv.ClientSecret != "" {
		tok.Secret, _ = json.Marshal(stdSecret{ClientSecret: sv.ClientSecret})
	}
	return tok, nil
}

// token is an x/oauth2 token in this package's form; the granted scopes are the answer's
// scope, else (RFC 6749 §5.1) the requested ones.
func token(t *oauth2.Token, requested []string) Token {
	tok := Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry, Scopes: requested}
	if sc, ok := t.Extra("scope").(string); ok && sc != "" {
		tok.Scopes = strings.Fields(sc)
	}
	if !tok.Expiry.IsZero() {
		tok.Expiry = tok.Expiry.UTC().Truncate(time.Second)
	}
	return tok
}

// clientOf is the client a token was issued to: its registered one, else the configured one
// when it is still the same client.
func clientOf(req RefreshRequest) (id, secret string, meta stdMeta, err error) {
	if err := json.Unmarshal(req.Current.Meta, &meta); err != nil {
		return "", "", meta, fmt.Errorf("the stored token of %s has no grant record: %w", req.Provider.ID, err)
	}
	id = req.Current.ClientID
	if meta.Registered {
		var s stdSecret
		if len(req.Current.Secret) > 0 {
			if err := json.Unmarshal(req.Current.Secret, &s); err != nil {
				return "", "", meta, err
			}
		}
		return id, s.ClientSecret, meta, nil
	}
	if req.Client == nil || req.Client.ClientID != id {
		return "", "", meta, fmt.Errorf("the OAuth client %q that issued the token of %s is no longer configured: %w", id, req.Provider.ID, ErrRefused)
	}
	if req.Client.RevocationURL != "" {
		meta.RevocationURL = req.Client.RevocationURL
	}
	if req.Client.TokenURL != "" {
		meta.TokenURL = req.Client.TokenURL
	}
	return id, req.Client.ClientSecret, meta, nil
}

// Refresh uses the refresh token (x/oauth2's refresh). A 4xx answer of the token endpoint
// (invalid_grant: revoked, expired, already rotated) is a refusal.
func (s Standard) Refresh(ctx context.Context, req RefreshRequest) (Token, error) {
	if req.Current.RefreshToken == "" {
		return Token{}, fmt.Errorf("no refresh token: %w", ErrRefused)
	}
	id, secret, meta, err := clientOf(req)
	if err != nil {
		return Token{}, err
	}
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: meta.TokenURL, AuthStyle: meta.AuthStyle}}
	t, err := conf.TokenSource(s.ctx(ctx), &oauth2.Token{RefreshToken: req.Current.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return Token{}, fmt.Errorf("%s answered HTTP %d %s: %w", meta.TokenURL, re.Response.StatusCode, re.ErrorCode, ErrRefused)
		}
		return Token{}, fmt.Errorf("refreshing at %s: %w", meta.TokenURL, err)
	}
	tok := token(t, req.Current.Scopes)
	return tok, nil
}

// Revoke tells the server to forget the refresh token, then the access token (RFC 7009),
// when it has a revocation endpoint; without one there is nothing to do.
func (s Standard) Revoke(ctx context.Context, req RefreshRequest) error {
	id, secret, meta, err := clientOf(req)
	if err != nil || meta.RevocationURL == "" {
		return nil // nothing to revoke with
	}
	for _, t := range []struct{ value, hint string }{{req.Current.RefreshToken, "refresh_token"}, {req.Current.AccessToken, "access_token"}} {
		if t.value == "" {
			continue
		}
		form := url.Values{"token": {t.value}, "token_type_hint": {t.hint}}
		if secret == "" || meta.AuthStyle == oauth2.AuthStyleInParams {
			form.Set("client_id", id)
			if secret != "" {
				form.Set("client_secret", secret)
			}
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.RevocationURL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if secret != "" && meta.AuthStyle != oauth2.AuthStyleInParams {
			r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		}
		resp, err := s.HTTP.Do(r)
		if err != nil {
			return fmt.Errorf("revoking the %s at %s: %w", t.hint, meta.RevocationURL, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("revoking the %s at %s: HTTP %d: %s", t.hint, meta.RevocationURL, resp.StatusCode, bytes.TrimSpace(body))
		}
	}
	return nil
}

// ---- endpoints --------------------------------------------------------------------------------

// apiEndpoints reads an api provider's endpoints: the client settings' first, else the
// authorizationCode flow of its oauth2 security scheme (the scheme named by its auth, else
// the first such scheme by name).
func apiEndpoints(p catalog.Provider, c *ClientSettings) (endpoints, error) {
	var cfg struct {
		Auth struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"auth"`
		Schemes map[string]openapi.SecurityScheme `json:"schemes"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		return endpoints{}, fmt.Errorf("api provider %s has an unreadable config: %w", p.ID, err)
	}
	if cfg.Auth.Type != "oauth2" {
		return endpoints{}, fmt.Errorf("api provider %s authenticates with %q, not oauth2 (re-import it with auth type oauth2): %w", p.ID, cfg.Auth.Type, catalog.ErrInvalid)
	}
	var ep endpoints
	names := make([]string, 0, len(cfg.Schemes))
	for n := range cfg.Schemes {
		names = append(names, n)
	}
	slices.Sort(names)
	if cfg.Auth.Name != "" {
		names = []string{cfg.Auth.Name}
	}
	for _, n := range names {
		for _, f := range cfg.Schemes[n].OAuthFlows {
			if f.Flow == "authorizationCode" && ep.AuthURL == "" {
				ep.AuthURL, ep.TokenURL = f.AuthorizationURL, f.TokenURL
				for s := range f.Scopes {
					ep.Scopes = append(ep.Scopes, s)
				}
				slices.Sort(ep.Scopes)
			}
		}
	}
	if c != nil {
		override(&ep, c)
	}
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return endpoints{}, fmt.Errorf("api provider %s: no authorization and token URL (its description has no oauth2 authorizationCode flow; set them with `plugd tools oauth-client set %s --authorization-url ... --token-url ...`): %w",
			p.ID, p.ID, catalog.ErrInvalid)
	}
	return ep, nil
}

func override(ep *endpoints, c *ClientSettings) {
	if c.AuthorizationURL != "" {
		ep.AuthURL = c.AuthorizationURL
	}
	if c.TokenURL != "" {
		ep.TokenURL = c.TokenURL
	}
	if c.RevocationURL != "" {
		ep.RevocationURL = c.RevocationURL
	}
	if len(c.Scopes) > 0 {
		ep.Scopes = c.Scopes
	}
}

// mcpEndpoints discovers an MCP server's authorization server as the MCP authorization spec
// says: the resource_metadata of the server's 401 challenge, else the well-known protected
// resource metadata (RFC 9728) at the endpoint's path and at the root; then the server's
// metadata (RFC 8414, or OpenID discovery); the 2025-03-26 fallbacks when there is none.
func (s Standard) mcpEndpoints(ctx context.Context, p catalog.Provider, c *ClientSettings) (endpoints, error) {
	var cfg struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil || cfg.URL == "" {
		return endpoints{}, fmt.Errorf("mcp provider %s is not a remote server (OAuth needs a url): %w", p.ID, catalog.ErrInvalid)
	}
	if c != nil && c.AuthorizationURL != "" && c.TokenURL != "" {
		ep := endpoints{Resource: cfg.URL}
		override(&ep, c)
		return ep, nil
	}
	challenges, err := s.challenge(ctx, cfg.URL)
	if err != nil {
		return endpoints{}, err
	}
	var metaURL, scope string
	for _, ch := range challenges {
		if ch.Scheme == "bearer" {
			metaURL, scope = ch.Params["resource_metadata"], ch.Params["scope"]
		}
	}
	ru, _ := url.Parse(cfg.URL)
	root := *ru
	root.Path, root.RawQuery = "", ""
	type cand struct{ url, resource string }
	var cands []cand
	if metaURL != "" {
		cands = append(cands, cand{metaURL, cfg.URL})
	}
	at := root
	at.Path = "/.well-known/oauth-protected-resource/" + strings.TrimLeft(ru.Path, "/")
	cands = append(cands, cand{at.String(), cfg.URL})
	at.Path = "/.well-known/oauth-protected-resource"
	cands = append(cands, cand{at.String(), root.String()})
	var prm *oauthex.ProtectedResourceMetadata
	var prmErrs []string
	for _, cd := range cands {
		m, err := oauthex.GetProtectedResourceMetadata(ctx, cd.url, cd.resource, s.HTTP)
		if err == nil && m != nil {
			prm = m
			break
		}
		if err != nil {
			prmErrs = append(prmErrs, err.Error())
		}
	}
	ep := endpoints{Resource: cfg.URL}
	issuer := root.String()
	if prm != nil {
		if len(prm.AuthorizationServers) == 0 {
			return endpoints{}, fmt.Errorf("mcp server %s: its protected resource metadata names no authorization server: %w", cfg.URL, catalog.ErrInvalid)
		}
		issuer, ep.Resource = prm.AuthorizationServers[0], prm.Resource
		ep.Scopes = prm.ScopesSupported
	}
	if scope != "" {
		ep.Scopes = strings.Fields(scope)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, issuer, s.HTTP)
	if err != nil {
		return endpoints{}, fmt.Errorf("mcp server %s: authorization server metadata of %s: %w", cfg.URL, issuer, err)
	}
	if asm == nil {
		if prm == nil && len(challenges) == 0 {
			return endpoints{}, fmt.Errorf("mcp server %s does not ask for OAuth (no 401 challenge, no protected resource metadata: %s) and %s has no authorization server metadata: %w",
				cfg.URL, strings.Join(prmErrs, "; "), issuer, catalog.ErrInvalid)
		}
		base := strings.TrimSuffix(issuer, "/")
		asm = &oauthex.AuthServerMeta{Issuer: issuer, AuthorizationEndpoint: base + "/authorize", TokenEndpoint: base + "/token", RegistrationEndpoint: base + "/register"}
	}
	ep.AuthURL, ep.TokenURL, ep.RevocationURL = asm.AuthorizationEndpoint, asm.TokenEndpoint, asm.RevocationEndpoint
	ep.RegistrationURL, ep.Issuer, ep.IssParam = asm.RegistrationEndpoint, asm.Issuer, asm.AuthorizationResponseIssParameterSupported
	ep.AuthMethods = asm.TokenEndpointAuthMethodsSupported
	if len(ep.Scopes) == 0 {
		ep.Scopes = nil
	}
	if c != nil {
		override(&ep, c)
	}
	return ep, nil
}

// challenge sends the server an unauthenticated initialize and reads its WWW-Authenticate.
func (s Standard) challenge(ctx context.Context, endpoint string) ([]oauthex.Challenge, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"plugd","version":"0"}}}`
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("mcp server %s: %w", endpoint, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := s.HTTP.Do(r)
	if err != nil {
		return nil, fmt.Errorf("mcp server %s: %w", endpoint, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, nil
	}
	ch, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return nil, fmt.Errorf("mcp server %s: its WWW-Authenticate header: %w", endpoint, err)
	}
	return ch, nil
}
