package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/plugd/plugd/internal/catalog"
)

// Config is what a Manager is built from. Store, Secrets, Providers and CallbackURL are
// required.
type Config struct {
	Store     Store
	Secrets   catalog.Secrets
	Providers Providers
	// Grants are the kinds of providers that can connect, each with its grant.
	Grants map[catalog.Kind]Grant
	// CallbackURL is the daemon's GET /oauth/callback as the browser reaches it
	// (PLUGD_OAUTH_CALLBACK_URL): the redirect URI registered with every client.
	CallbackURL string
	// Locker serialises refreshes across processes; nil: this process only.
	Locker Locker
	// OnConnected runs after a successful connection (the daemon lists an MCP server's
	// tools, which it could not before); its error is logged.
	OnConnected func(ctx context.Context, tenant string, p catalog.Provider) error
	// RefreshTimeout bounds one refresh (it runs detached from the callers that wait on
	// it); default 30 s.
	RefreshTimeout time.Duration
	// Recheck: a cached token is used without reading the store for at most this long, so a
	// refresh or disconnect by another process is seen; default 1 minute.
	Recheck time.Duration
	Logger  *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Manager runs OAuth for every tenant. Safe for concurrent use.
type Manager struct {
	cfg   Config
	sf    singleflight.Group
	cache sync.Map // tenant\x00provider -> *cached
}

// cached is a usable credential held in memory for the hot path.
type cached struct {
	tok     Token
	header  string
	checked time.Time
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("oauth: no store")
	case cfg.Secrets == nil:
		return nil, errors.New("oauth: no secret store (tokens are only kept sealed)")
	case cfg.Providers == nil:
		return nil, errors.New("oauth: no provider source")
	}
	if err := checkCallbackURL(cfg.CallbackURL); err != nil {
		return nil, err
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = 30 * time.Second
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg}, nil
}

func checkCallbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("oauth: callback URL %q (PLUGD_OAUTH_CALLBACK_URL): want an absolute http(s) URL without fragment", s)
	}
	return nil
}

// CallbackURL is the redirect URI clients must register.
func (m *Manager) CallbackURL() string { return m.cfg.CallbackURL }

// ---- clients ----------------------------------------------------------------------------------

// clientBody is the stored non-secret part of a client.
type clientBody struct {
	ClientID         string   `json:"client_id,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`
	AuthorizationURL string   `json:"authorization_url,omitempty"`
	TokenURL         string   `json:"token_url,omitempty"`
	RevocationURL    string   `json:"revocation_url,omitempty"`
}

// clientSecret is the sealed part.
type clientSecret struct {
	ClientSecret string            `json:"client_secret,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
}

func clientRef(provider string) string { return "oauth-client:" + provider }

// systemSealTenant is the vault tenant system-level clients are sealed for: the vault binds
// every secret to a tenant and "" is none. Dify's tenant ids are UUIDs, so the parentheses
// keep it apart from every real tenant (and the credential id in the sealed data's context
// keeps it apart from a tenant someone named so).
const systemSealTenant = "(system)"

// sealTenant is the vault tenant of a client stored for tenant ("" = system level).
func sealTenant(tenant string) string {
	if tenant == "" {
		return systemSealTenant
	}
	return tenant
}

// SetClient stores a provider's client for the tenant, or for every tenant when tenant is
// "" (system level). A secret or param sent back as its mask keeps the stored value.
func (m *Manager) SetClient(ctx context.Context, tenant string, cs ClientSettings) (ClientSettings, error) {
	cs.Provider = strings.TrimSpace(cs.Provider)
	if cs.Provider == "" || len(cs.Provider) > 255 {
		return ClientSettings{}, fmt.Errorf("oauth client: provider is required (1-255 characters): %w", catalog.ErrInvalid)
	}
	for name, v := range map[string]string{"authorization_url": cs.AuthorizationURL, "token_url": cs.TokenURL, "revocation_url": cs.RevocationURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ClientSettings{}, fmt.Errorf("oauth client %s: %s %q: want an absolute http(s) URL: %w", cs.Provider, name, v, catalog.ErrInvalid)
		}
	}
	if cs.ClientID == "" && cs.ClientSecret != "" {
		return ClientSettings{}, fmt.Errorf("oauth client %s: a client_secret without client_id: %w", cs.Provider, catalog.ErrInvalid)
	}
	if old, err := m.client(ctx, tenant, cs.Provider); err == nil {
		if cs.ClientSecret != "" && cs.ClientSecret == catalog.Mask(old.ClientSecret) {
			cs.ClientSecret = old.ClientSecret
		}
		for k, v := range cs.Params {
			if ov, ok := old.Params[k]; ok && v == catalog.Mask(ov) {
				cs.Params[k] = ov
			}
		}
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return ClientSettings{}, err
	}
	body, _ := json.Marshal(clientBody{ClientID: cs.ClientID, Scopes: cs.Scopes, AuthorizationURL: cs.AuthorizationURL,
		TokenURL: cs.TokenURL, RevocationURL: cs.RevocationURL})
	plain, _ := json.Marshal(clientSecret{ClientSecret: cs.ClientSecret, Params: cs.Params})
	sealed, err := m.cfg.Secrets.Seal(ctx, sealTenant(tenant), clientRef(cs.Provider), plain)
	if err != nil {
		return ClientSettings{}, fmt.Errorf("sealing the oauth client of %s: %w", cs.Provider, err)
	}
	now := m.cfg.Now().UTC().Truncate(time.Microsecond)
	if err := m.cfg.Store.PutOAuthClient(ctx, StoredClient{Tenant: tenant, Provider: cs.Provider, Enabled: cs.Enabled, Body: body,
		Sealed: sealed, UpdatedAt: now}); err != nil {
		return ClientSettings{}, fmt.Errorf("storing the oauth client of %s: %w", cs.Provider, err)
	}
	cs.UpdatedAt = now
	cs.Level = level(tenant)
	return masked(cs), nil
}

func level(tenant string) string {
	if tenant == "" {
		return LevelSystem
	}
	return LevelTenant
}

// client reads one stored client, in clear.
func (m *Manager) client(ctx context.Context, tenant, provider string) (ClientSettings, error) {
	sc, err := m.cfg.Store.GetOAuthClient(ctx, tenant, provider)
	if err != nil {
		return ClientSettings{}, err
	}
	return m.openClient(ctx, sc)
}

func (m *Manager) openClient(ctx context.Context, sc StoredClient) (ClientSettings, error) {
	var b clientBody
	if err := json.Unmarshal(sc.Body, &b); err != nil {
		return ClientSettings{}, fmt.Errorf("stored oauth client of %s: %w", sc.Provider, err)
	}
	var s clientSecret
	if len(sc.Sealed) > 0 {
		plain, err := m.cfg.Secrets.Open(ctx, sealTenant(sc.Tenant), clientRef(sc.Provider), sc.Sealed)
		if err != nil {
			return ClientSettings{}, fmt.Errorf("opening the oauth client of %s: %w", sc.Provider, err)
		}
		if err := json.Unmarshal(plain, &s); err != nil {
			return ClientSettings{}, fmt.Errorf("stored oauth client of %s: %w", sc.Provider, err)
		}
	}
	return ClientSettings{Provider: sc.Provider, ClientID: b.ClientID, ClientSecret: s.ClientSecret, Params: s.Params, Scopes: b.Scopes,
		AuthorizationURL: b.AuthorizationURL, TokenURL: b.TokenURL, RevocationURL: b.RevocationURL, Enabled: sc.Enabled,
		Level: level(sc.Tenant), UpdatedAt: sc.UpdatedAt}, nil
}

func masked(cs ClientSettings) ClientSettings {
	if cs.ClientSecret != "" {
		cs.ClientSecret = catalog.Mask(cs.ClientSecret)
	}
	if len(cs.Params) > 0 {
		p := make(map[string]string, len(cs.Params))
		for k, v := range cs.Params {
			p[k] = catalog.Mask(v)
		}
		cs.Params = p
	}
	return cs
}

// Clients lists the clients a tenant sees, masked: its own, then the system's. With tenant
// "", the system's only.
func (m *Manager) Clients(ctx context.Context, tenant string) ([]ClientSettings, error) {
	out := []ClientSettings{}
	levels := []string{""}
	if tenant != "" {
		levels = []string{tenant, ""}
	}
	for _, t := range levels {
		list, err := m.cfg.Store.ListOAuthClients(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("listing oauth clients: %w", err)
		}
		for _, sc := range list {
			cs, err := m.openClient(ctx, sc)
			if err != nil {
				return nil, err
			}
			out = append(out, masked(cs))
		}
	}
	return out, nil
}

// DeleteClient removes a tenant's client (tenant "": the system's).
func (m *Manager) DeleteClient(ctx context.Context, tenant, provider string) error {
	if err := m.cfg.Store.DeleteOAuthClient(ctx, tenant, provider); err != nil {
		return fmt.Errorf("deleting the oauth client of %s (%s level): %w", provider, level(tenant), err)
	}
	return nil
}

// clientFor is the client in force for a tenant's provider: the tenant's own when enabled,
// else the system's for the provider id, else (api and mcp providers, whose ids differ per
// tenant) the system's for its name. Nil when none applies.
func (m *Manager) clientFor(ctx context.Context, tenant string, p catalog.Provider) (*ClientSettings, error) {
	try := func(t, key string) (*ClientSettings, error) {
		cs, err := m.client(ctx, t, key)
		if errors.Is(err, catalog.ErrNotFound) || (err == nil && !cs.Enabled) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &cs, nil
	}
	keys := []struct{ tenant, key string }{{tenant, p.ID}, {"", p.ID}}
	if p.Kind != catalog.KindPlugin && p.Name != "" {
		keys = append(keys, struct{ tenant, key string }{tenant, p.Name}, struct{ tenant, key string }{"", p.Name})
	}
	for _, k := range keys {
		if cs, err := try(k.tenant, k.key); cs != nil || err != nil {
			return cs, err
		}
	}
	return nil, nil
}

// ---- authorization ----------------------------------------------------------------------------

// flowSaved is what a flow keeps, sealed, until its callback.
type flowSaved struct {
	RedirectURL string          `json:"redirect_url"`
	URL         string          `json:"url"` // where the start route sends the user
	Grant       json.RawMessage `json:"grant,omitempty"`
}

func flowRef(id string) string             { return "oauth-flow:" + id }
func credentialRef(provider string) string { return "oauth-token:" + provider }

func hashState(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

// Connect starts an authorization of the tenant's provider: the answer is the URL the user
// opens and the flow id to poll. Connecting a connected provider re-authorizes it; the old
// credential stays in use until the new one arrives.
func (m *Manager) Connect(ctx context.Context, tenant, providerID, userID string) (Started, error) {
	if tenant == "" {
		return Started{}, fmt.Errorf("tenant is empty: %w", catalog.ErrInvalid)
	}
	p, err := m.cfg.Providers.Get(ctx, tenant, providerID)
	if err != nil {
		return Started{}, err
	}
	grant := m.cfg.Grants[p.Kind]
	if grant == nil {
		return Started{}, fmt.Errorf("providers of kind %s do not connect with OAuth: %w", p.Kind, catalog.ErrInvalid)
	}
	client, err := m.clientFor(ctx, tenant, p)
	if err != nil {
		return Started{}, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	res, err := grant.Start(ctx, StartRequest{Tenant: tenant, UserID: userID, Provider: p, Client: client, RedirectURL: m.cfg.CallbackURL, State: state})
	if err != nil {
		return Started{}, fmt.Errorf("starting the authorization of %s: %w", p.ID, err)
	}
	id := uuid.NewString()
	plain, _ := json.Marshal(flowSaved{RedirectURL: m.cfg.CallbackURL, URL: res.URL, Grant: res.Saved})
	sealed, err := m.cfg.Secrets.Seal(ctx, tenant, flowRef(id), plain)
	if err != nil {
		return Started{}, fmt.Errorf("sealing the authorization of %s: %w", p.ID, err)
	}
	now := m.cfg.Now().UTC().Truncate(time.Microsecond)
	f := StoredFlow{ID: id, StateHash: hashState(state), Tenant: tenant, Provider: p.ID, UserID: userID, Status: FlowPending,
		Sealed: sealed, CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if err := m.cfg.Store.CreateOAuthFlow(ctx, f); err != nil {
		return Started{}, fmt.Errorf("storing the authorization of %s: %w", p.ID, err)
	}
	u := res.URL
	if res.Cookie {
		u = startURL(m.cfg.CallbackURL, state)
	}
	return Started{FlowID: id, Provider: p.ID, AuthorizationURL: u, RedirectURI: m.cfg.CallbackURL, ExpiresAt: f.ExpiresAt}, nil
}

// startURL is the daemon's start route beside the callback: it sets the state cookie and
// redirects to the grant's URL.
func startURL(callback, state string) string {
	u, _ := url.Parse(callback)
	u.Path = strings.TrimSuffix(u.Path, "/callback") + "/start"
	u.RawQuery = url.Values{"state": {state}}.Encode()
	return u.String()
}

// StateCookie names the cookie the start route sets for grants whose URL carries no state.
const StateCookie = "plugd_oauth_state"

// StartRedirect is the start route's answer: the grant's URL of the pending flow of state.
func (m *Manager) StartRedirect(ctx context.Context, state string) (string, error) {
	f, err := m.cfg.Store.OAuthFlowByState(ctx, hashState(state))
	if errors.Is(err, catalog.ErrNotFound) {
		return "", fmt.Errorf("%w: the state belongs to no authorization of this daemon", ErrFlow)
	}
	if err != nil {
		return "", err
	}
	if f.Status != FlowPending || !m.cfg.Now().Before(f.ExpiresAt) {
		return "", fmt.Errorf("%w: the authorization of %s is over (used or expired); connect again", ErrFlow, f.Provider)
	}
	plain, err := m.cfg.Secrets.Open(ctx, f.Tenant, flowRef(f.ID), f.Sealed)
	if err != nil {
		return "", fmt.Errorf("opening the flow: %w", err)
	}
	var saved flowSaved
	if err := json.Unmarshal(plain, &saved); err != nil {
		return "", fmt.Errorf("reading the flow: %w", err)
	}
	return saved.URL, nil
}

// FlowStatus answers a poll of the flow id of the tenant.
func (m *Manager) FlowStatus(ctx context.Context, tenant, id string) (FlowInfo, error) {
	f, err := m.cfg.Store.GetOAuthFlow(ctx, tenant, id)
	if err != nil {
		return FlowInfo{}, fmt.Errorf("oauth flow %s: %w", id, err)
	}
	fi := FlowInfo{ID: f.ID, Provider: f.Provider, Status: f.Status, Error: f.Error, ExpiresAt: f.ExpiresAt}
	if f.Status == FlowPending && !m.cfg.Now().Before(f.ExpiresAt) {
		fi.Status, fi.Error = FlowExpired, "the authorization was not completed within 5 minutes; connect again"
	}
	return fi, nil
}

// Callback finishes the flow the callback request belongs to: the state (from the query,
// else the start route's cookie) is claimed once, the grant turns the code into a token,
// which is stored sealed. The answer names the flow; an error wraps ErrFlow for a callback
// that belongs to no pending flow or reports a failure.
func (m *Manager) Callback(ctx context.Context, r *http.Request) (FlowInfo, error) {
	cb, err := ParseCallback(r.URL.RawQuery)
	if err != nil {
		return FlowInfo{}, fmt.Errorf("%w: %w", ErrFlow, err)
	}
	if cb.State == "" {
		if c, err := r.Cookie(StateCookie); err == nil {
			cb.State = c.Value
		}
	}
	if cb.State == "" {
		return FlowInfo{}, fmt.Errorf("%w: the callback has no state parameter", ErrFlow)
	}
	f, err := m.cfg.Store.ClaimOAuthFlow(ctx, hashState(cb.State), m.cfg.Now())
	// A plugin's provider echoes the state the plugin put in its URL, not the daemon's: the
	// daemon's is in the start route's cookie.
	if errors.Is(err, catalog.ErrNotFound) {
		if c, cerr := r.Cookie(StateCookie); cerr == nil && c.Value != "" && c.Value != cb.State {
			cb.State = c.Value
			f, err = m.cfg.Store.ClaimOAuthFlow(ctx, hashState(cb.State), m.cfg.Now())
		}
	}
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return FlowInfo{}, fmt.Errorf("%w: the state belongs to no authorization of this daemon", ErrFlow)
	case errors.Is(err, catalog.ErrConflict):
		why := "it was used already"
		if f.Status == FlowPending || f.Status == FlowFailed && strings.Contains(f.Error, "expired") {
			why = "it expired (5 minutes)"
		}
		return FlowInfo{ID: f.ID, Provider: f.Provider, Status: f.Status}, fmt.Errorf("%w: the authorization of %s cannot complete: %s; connect again", ErrFlow, f.Provider, why)
	case err != nil:
		return FlowInfo{}, err
	}
	info := FlowInfo{ID: f.ID, Provider: f.Provider, ExpiresAt: f.ExpiresAt}
	fail := func(err error) (FlowInfo, error) {
		info.Status, info.Error = FlowFailed, err.Error()
		if ferr := m.cfg.Store.FinishOAuthFlow(context.WithoutCancel(ctx), f.ID, FlowFailed, err.Error()); ferr != nil {
			m.cfg.Logger.Warn("recording a failed oauth flow", "flow", f.ID, "err", ferr)
		}
		return info, fmt.Errorf("%w: %w", ErrFlow, err)
	}
	if cb.Error != "" {
		msg := "the authorization server answered " + cb.Error
		if cb.ErrorDescription != "" {
			msg += ": " + cb.ErrorDescription
		}
		return fail(errors.New(msg))
	}
	plain, err := m.cfg.Secrets.Open(ctx, f.Tenant, flowRef(f.ID), f.Sealed)
	if err != nil {
		return fail(fmt.Errorf("opening the flow: %w", err))
	}
	var saved flowSaved
	if err := json.Unmarshal(plain, &saved); err != nil {
		return fail(fmt.Errorf("reading the flow: %w", err))
	}
	p, err := m.cfg.Providers.Get(ctx, f.Tenant, f.Provider)
	if err != nil {
		return fail(err)
	}
	grant := m.cfg.Grants[p.Kind]
	if grant == nil {
		return fail(fmt.Errorf("providers of kind %s do not connect with OAuth", p.Kind))
	}
	client, err := m.clientFor(ctx, f.Tenant, p)
	if err != nil {
		return fail(err)
	}
	tok, err := grant.Finish(ctx, FinishRequest{
		StartRequest: StartRequest{Tenant: f.Tenant, UserID: f.UserID, Provider: p, Client: client, RedirectURL: saved.RedirectURL, State: cb.State},
		Saved:        saved.Grant, Callback: cb, Request: r,
	})
	if err != nil {
		return fail(err)
	}
	if _, err := m.store(ctx, f.Tenant, p, tok, StatusConnected, "", -1); err != nil {
		return fail(err)
	}
	if err := m.cfg.Store.FinishOAuthFlow(context.WithoutCancel(ctx), f.ID, FlowDone, ""); err != nil {
		return info, err
	}
	info.Status = FlowDone
	if m.cfg.OnConnected != nil {
		if err := m.cfg.OnConnected(ctx, f.Tenant, p); err != nil {
			m.cfg.Logger.Warn("after connecting an oauth provider", "tenant", f.Tenant, "provider", p.ID, "err", err)
		}
	}
	return info, nil
}

// ---- credentials ------------------------------------------------------------------------------

// credentialBody is the stored non-secret part of a credential.
type credentialBody struct {
	Kind       catalog.Kind `json:"kind"`
	Reason     string       `json:"reason,omitempty"`
	Expiry     time.Time    `json:"expiry,omitzero"`
	Scopes     []string     `json:"scopes,omitempty"`
	ClientID   string       `json:"client_id,omitempty"`
	HasRefresh bool         `json:"has_refresh_token,omitempty"`
}

// store seals and writes a credential (expect as PutOAuthCredential) and refreshes the
// cache.
func (m *Manager) store(ctx context.Context, tenant string, p catalog.Provider, tok Token, status, reason string, expect int64) (int64, error) {
	plain, err := json.Marshal(tok)
	if err != nil {
		return 0, err
	}
	sealed, err := m.cfg.Secrets.Seal(ctx, tenant, credentialRef(p.ID), plain)
	if err != nil {
		return 0, fmt.Errorf("sealing the token of %s: %w", p.ID, err)
	}
	body, _ := json.Marshal(credentialBody{Kind: p.Kind, Reason: reason, Expiry: tok.Expiry, Scopes: tok.Scopes, ClientID: tok.ClientID,
		HasRefresh: tok.RefreshToken != ""})
	now := m.cfg.Now().UTC().Truncate(time.Microsecond)
	v, err := m.cfg.Store.PutOAuthCredential(ctx, StoredCredential{Tenant: tenant, Provider: p.ID, Status: status, Body: body,
		Sealed: sealed, UpdatedAt: now}, expect)
	if err != nil {
		return 0, fmt.Errorf("storing the token of %s: %w", p.ID, err)
	}
	key := cacheKey(tenant, p.ID)
	if status == StatusConnected {
		m.cache.Store(key, &cached{tok: tok, header: tok.AuthorizationHeader(), checked: m.cfg.Now()})
	} else {
		m.cache.Delete(key)
	}
	return v, nil
}

func cacheKey(tenant, provider string) string { return tenant + "\x00" + provider }

// open reads a stored credential.
func (m *Manager) open(ctx context.Context, sc StoredCredential) (credentialBody, Token, error) {
	var b credentialBody
	if err := json.Unmarshal(sc.Body, &b); err != nil {
		return b, Token{}, fmt.Errorf("stored oauth credential of %s: %w", sc.Provider, err)
	}
	plain, err := m.cfg.Secrets.Open(ctx, sc.Tenant, credentialRef(sc.Provider), sc.Sealed)
	if err != nil {
		return b, Token{}, fmt.Errorf("opening the oauth credential of %s: %w", sc.Provider, err)
	}
	var tok Token
	if err := json.Unmarshal(plain, &tok); err != nil {
		return b, Token{}, fmt.Errorf("stored oauth credential of %s: %w", sc.Provider, err)
	}
	return b, tok, nil
}

// fresh tells whether tok can be used now without a refresh.
func fresh(tok Token, now time.Time) bool {
	return tok.Expiry.IsZero() || tok.Expiry.After(now.Add(RefreshMargin))
}

// Token returns the tenant's usable credentials for the provider, refreshing them first
// when they expire within RefreshMargin. It fails with a *ReauthError (ErrNeedsReauth) at
// once for a provider never connected or marked as needing re-authorization.
func (m *Manager) Token(ctx context.Context, tenant, provider string) (Token, error) {
	key := cacheKey(tenant, provider)
	now := m.cfg.Now()
	if c, ok := m.cache.Load(key); ok {
		e := c.(*cached)
		if fresh(e.tok, now) && now.Sub(e.checked) < m.cfg.Recheck {
			return e.tok, nil
		}
	}
	sc, err := m.cfg.Store.GetOAuthCredential(ctx, tenant, provider)
	if errors.Is(err, catalog.ErrNotFound) {
		m.cache.Delete(key)
		return Token{}, &ReauthError{Tenant: tenant, Provider: provider, Reason: "not connected yet"}
	}
	if err != nil {
		return Token{}, fmt.Errorf("reading the oauth credential of %s: %w", provider, err)
	}
	b, tok, err := m.open(ctx, sc)
	if err != nil {
		return Token{}, err
	}
	if sc.Status != StatusConnected {
		m.cache.Delete(key)
		return Token{}, &ReauthError{Tenant: tenant, Provider: provider, Reason: b.Reason}
	}
	if fresh(tok, now) {
		m.cache.Store(key, &cached{tok: tok, header: tok.AuthorizationHeader(), checked: now})
		return tok, nil
	}
	return m.refresh(ctx, tenant, provider)
}

// Authorization is Token as an Authorization header value ("Bearer ..."): the seam of the
// MCP client's pool and of API tools.
func (m *Manager) Authorization(ctx context.Context, tenant, provider string) (string, error) {
	key := cacheKey(tenant, provider)
	if c, ok := m.cache.Load(key); ok {
		e := c.(*cached)
		if now := m.cfg.Now(); fresh(e.tok, now) && now.Sub(e.checked) < m.cfg.Recheck {
			return e.header, nil
		}
	}
	tok, err := m.Token(ctx, tenant, provider)
	if err != nil {
		return "", err
	}
	return tok.AuthorizationHeader(), nil
}

// refresh renews the credential: one refresh at a time per credential (singleflight here,
// the Locker across processes), the stored credential read again once the lock is held (it
// may have been refreshed meanwhile), the refresh detached from the callers so that one
// giving up does not fail the others.
func (m *Manager) refresh(ctx context.Context, tenant, provider string) (Token, error) {
	key := cacheKey(tenant, provider)
	ch := m.sf.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RefreshTimeout)
		defer cancel()
		if m.cfg.Locker != nil {
			unlock, err := m.cfg.Locker.Lock(rctx, "oauth-refresh:"+tenant+":"+provider)
			if err != nil {
				return Token{}, fmt.Errorf("locking the oauth credential of %s for a refresh: %w", provider, err)
			}
			defer unlock()
		}
		return m.refreshLocked(rctx, tenant, provider)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

func (m *Manager) refreshLocked(ctx context.Context, tenant, provider string) (Token, error) {
	sc, err := m.cfg.Store.GetOAuthCredential(ctx, tenant, provider)
	if errors.Is(err, catalog.ErrNotFound) {
		return Token{}, &ReauthError{Tenant: tenant, Provider: provider, Reason: "not connected yet"}
	}
	if err != nil {
		return Token{}, fmt.Errorf("reading the oauth credential of %s: %w", provider, err)
	}
	b, tok, err := m.open(ctx, sc)
	if err != nil {
		return Token{}, err
	}
	if sc.Status != StatusConnected {
		return Token{}, &ReauthError{Tenant: tenant, Provider: provider, Reason: b.Reason}
	}
	if fresh(tok, m.cfg.Now()) { // refreshed by someone else while we waited
		m.cache.Store(cacheKey(tenant, provider), &cached{tok: tok, header: tok.AuthorizationHeader(), checked: m.cfg.Now()})
		return tok, nil
	}
	p, err := m.cfg.Providers.Get(ctx, tenant, provider)
	if err != nil {
		return Token{}, err
	}
	mark := func(reason string) (Token, error) {
		if _, err := m.store(ctx, tenant, p, tok, StatusNeedsReauth, reason, sc.Version); err != nil && !errors.Is(err, catalog.ErrConflict) {
			m.cfg.Logger.Warn("marking an oauth credential as needing re-authorization", "tenant", tenant, "provider", provider, "err", err)
		}
		m.cfg.Logger.Warn("oauth credential needs re-authorization", "tenant", tenant, "provider", provider, "reason", reason)
		return Token{}, &ReauthError{Tenant: tenant, Provider: provider, Reason: reason}
	}
	grant := m.cfg.Grants[p.Kind]
	if grant == nil {
		return Token{}, fmt.Errorf("providers of kind %s do not connect with OAuth: %w", p.Kind, catalog.ErrInvalid)
	}
	if tok.RefreshToken == "" && len(tok.Values) == 0 {
		return mark("the token expired and the server gave no refresh token")
	}
	client, err := m.clientFor(ctx, tenant, p)
	if err != nil {
		return Token{}, err
	}
	nt, err := grant.Refresh(ctx, RefreshRequest{Tenant: tenant, Provider: p, Client: client, Current: tok})
	if errors.Is(err, ErrRefused) {
		return mark("the refresh was refused: " + err.Error())
	}
	if err != nil {
		return Token{}, fmt.Errorf("refreshing the oauth token of %s (not marked; the next call tries again): %w", provider, err)
	}
	if nt.RefreshToken == "" {
		nt.RefreshToken = tok.RefreshToken
	}
	if nt.ClientID == "" {
		nt.ClientID = tok.ClientID
	}
	if nt.Meta == nil {
		nt.Meta = tok.Meta
	}
	if nt.Secret == nil {
		nt.Secret = tok.Secret
	}
	if len(nt.Scopes) == 0 {
		nt.Scopes = tok.Scopes
	}
	if _, err := m.store(ctx, tenant, p, nt, StatusConnected, "", sc.Version); err != nil {
		return Token{}, err
	}
	return nt, nil
}

// Connection is the tenant's connection of one provider.
func (m *Manager) Connection(ctx context.Context, tenant, provider string) (Connection, error) {
	sc, err := m.cfg.Store.GetOAuthCredential(ctx, tenant, provider)
	if err != nil {
		return Connection{}, fmt.Errorf("oauth connection of %s: %w", provider, err)
	}
	return connection(sc)
}

func connection(sc StoredCredential) (Connection, error) {
	var b credentialBody
	if err := json.Unmarshal(sc.Body, &b); err != nil {
		return Connection{}, fmt.Errorf("stored oauth credential of %s: %w", sc.Provider, err)
	}
	return Connection{Provider: sc.Provider, Kind: b.Kind, Status: sc.Status, Reason: b.Reason, Expiry: b.Expiry, Scopes: b.Scopes,
		ClientID: b.ClientID, Refresh: b.HasRefresh, UpdatedAt: sc.UpdatedAt}, nil
}

// Connections lists the tenant's connections.
func (m *Manager) Connections(ctx context.Context, tenant string) ([]Connection, error) {
	list, err := m.cfg.Store.ListOAuthCredentials(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("listing oauth connections: %w", err)
	}
	out := make([]Connection, 0, len(list))
	for _, sc := range list {
		c, err := connection(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Connection) int { return strings.Compare(a.Provider, b.Provider) })
	return out, nil
}

// Disconnect revokes the tenant's tokens of the provider at the server when its grant can
// (RFC 7009), then forgets them. A revocation that fails is reported after the local copy is
// gone (the user asked for it to be gone).
func (m *Manager) Disconnect(ctx context.Context, tenant, provider string) error {
	sc, err := m.cfg.Store.GetOAuthCredential(ctx, tenant, provider)
	if err != nil {
		return fmt.Errorf("oauth connection of %s: %w", provider, err)
	}
	var revokeErr error
	if _, tok, err := m.open(ctx, sc); err == nil {
		if p, err := m.cfg.Providers.Get(ctx, tenant, provider); err == nil {
			if rv, ok := m.cfg.Grants[p.Kind].(Revoker); ok {
				client, _ := m.clientFor(ctx, tenant, p)
				revokeErr = rv.Revoke(ctx, RefreshRequest{Tenant: tenant, Provider: p, Client: client, Current: tok})
			}
		}
	}
	m.cache.Delete(cacheKey(tenant, provider))
	if err := m.cfg.Store.DeleteOAuthCredential(ctx, tenant, provider); err != nil {
		return fmt.Errorf("forgetting the oauth credential of %s: %w", provider, err)
	}
	if revokeErr != nil {
		return fmt.Errorf("the credential of %s is forgotten, but revoking it at the server failed: %w", provider, revokeErr)
	}
	return nil
}
