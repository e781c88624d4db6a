// Package oauth connects tool providers that act for a user (GitHub, Google, a remote MCP
// server behind an authorization server) to their accounts and keeps them connected: OAuth
// client settings at system and tenant level, the authorization-code grant with PKCE and a
// server-side, single-use, five-minute state, tokens sealed at rest with their expiry, refresh
// before use, and a "needs re-authorization" mark when a refresh is refused — so that a call
// fails at once with an error saying how to reconnect instead of a silent 401, and nothing
// retries for ever.
//
// How a kind of provider obtains and renews its credentials is a Grant: the standard one
// (x/oauth2, for API tools with endpoints from their OpenAPI security scheme, and for MCP
// servers with RFC 9728 / RFC 8414 discovery and RFC 7591 registration), or a plugin's own
// oauth/* actions. The Manager owns everything around the grants: client resolution, state,
// storage, the refresh discipline (one refresh at a time per credential: singleflight in the
// process, a Locker across processes, and a re-read of the stored credential once the lock is
// held, since rotating refresh tokens punish a second refresh by revoking the grant).
//
// The package declares what it needs (Store, Secrets, Providers, Locker) and owns no adapter;
// cmd/plugd wires sqlstore, the vault, the catalog and the egress client in. See docs/oauth.md.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/plugd/plugd/internal/catalog"
)

// Errors. Every error wraps one of these or one of catalog's kinds (ErrNotFound, ErrInvalid,
// ErrConflict), which the HTTP API maps to statuses.
var (
	// ErrNeedsReauth: the credential cannot be used until the user connects again (its
	// refresh was refused, it has no refresh token left, or it was never connected).
	ErrNeedsReauth = errors.New("needs re-authorization")
	// ErrRefused: the authorization server (or the plugin) refused a grant; a Grant's
	// Refresh wraps it so the Manager marks the credential instead of retrying.
	ErrRefused = errors.New("refused by the authorization server")
	// ErrFlow: the callback does not belong to a pending authorization (unknown, used or
	// expired state), or the user or the server ended it with an error.
	ErrFlow = errors.New("authorization failed")
)

// ReauthError says a provider needs to be connected again, why, and how.
type ReauthError struct {
	Tenant, Provider, Reason string
}

func (e *ReauthError) Error() string {
	msg := fmt.Sprintf("OAuth provider %s of tenant %s needs re-authorization", e.Provider, e.Tenant)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + fmt.Sprintf(": run `plugd tools connect %s` (or POST /tools/%s/oauth/connect) and open the URL it prints", e.Provider, e.Tenant)
}

func (e *ReauthError) Unwrap() error { return ErrNeedsReauth }

// Credential statuses.
const (
	StatusConnected   = "connected"
	StatusNeedsReauth = "needs_reauthorization"
)

// Flow statuses: a flow is pending until its callback arrives, exchanging while the code is
// turned into tokens, then done or failed. Expired is how a pending flow past its deadline is
// answered (it is never stored).
const (
	FlowPending    = "pending"
	FlowExchanging = "exchanging"
	FlowDone       = "done"
	FlowFailed     = "failed"
	FlowExpired    = "expired"
)

// StateTTL is how long an authorization may take from Connect to the callback.
const StateTTL = 5 * time.Minute

// RefreshMargin: a token expiring within this is refreshed before use.
const RefreshMargin = 60 * time.Second

// ClientSettings are one provider's OAuth client: at system level (every tenant) or for one
// tenant. Endpoints and scopes left empty come from the provider (its OpenAPI security
// scheme, its MCP server's metadata, its plugin).
type ClientSettings struct {
	// Provider is the catalog provider id (author/plugin/provider for plugin providers);
	// a system-level client may also name an api or mcp provider by its name, since their
	// ids differ per tenant.
	Provider     string `json:"provider"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"` // sealed; masked in every answer
	// Params are further client settings a plugin's oauth_schema.client_schema asks for
	// (sealed with the secret, masked in answers).
	Params           map[string]string `json:"params,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	AuthorizationURL string            `json:"authorization_url,omitempty"`
	TokenURL         string            `json:"token_url,omitempty"`
	RevocationURL    string            `json:"revocation_url,omitempty"`
	// Enabled: a tenant client in use; a disabled one leaves the system client in force
	// (Dify's tool_oauth_tenant_clients.enabled). A disabled system client is not used.
	Enabled bool `json:"enabled"`
	// Level is "system" or "tenant" in answers.
	Level     string    `json:"level,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Levels of a client.
const (
	LevelSystem = "system"
	LevelTenant = "tenant"
)

// Connection is a tenant's connection of one provider, as answers show it (no secrets).
type Connection struct {
	Provider  string       `json:"provider_id"`
	Kind      catalog.Kind `json:"kind"`
	Status    string       `json:"status"`
	Reason    string       `json:"reason,omitempty"` // why it needs re-authorization
	Expiry    time.Time    `json:"expires_at,omitzero"`
	Scopes    []string     `json:"scopes,omitempty"`
	ClientID  string       `json:"client_id,omitempty"`
	Refresh   bool         `json:"has_refresh_token"`
	UpdatedAt time.Time    `json:"updated_at,omitzero"`
}

// FlowInfo is what a poller learns of an authorization under way.
type FlowInfo struct {
	ID        string    `json:"flow_id"`
	Provider  string    `json:"provider_id"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Started is the answer to Connect: the URL the user opens and the flow to poll.
type Started struct {
	FlowID           string    `json:"flow_id"`
	Provider         string    `json:"provider_id"`
	AuthorizationURL string    `json:"authorization_url"`
	RedirectURI      string    `json:"redirect_uri"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// Token is what a grant obtains: an access token (API and MCP providers) and/or a plugin's
// credentials map, with the expiry. Meta is the grant's own non-secret record (endpoints,
// the client used) handed back to it on refresh and revocation; Secret is its own secret
// record (a dynamically registered client's secret), sealed with the tokens.
type Token struct {
	AccessToken  string            `json:"access_token,omitempty"`
	TokenType    string            `json:"token_type,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty"`
	Values       map[string]string `json:"values,omitempty"`
	Expiry       time.Time         `json:"expiry,omitzero"`
	Scopes       []string          `json:"scopes,omitempty"`
	ClientID     string            `json:"client_id,omitempty"`
	Meta         json.RawMessage   `json:"meta,omitempty"`
	Secret       json.RawMessage   `json:"secret,omitempty"`
}

// AuthorizationHeader is the Authorization header value of an access token.
func (t Token) AuthorizationHeader() string {
	if t.AccessToken == "" {
		return ""
	}
	typ := t.TokenType
	if typ == "" || equalFold(typ, "bearer") {
		typ = "Bearer"
	}
	return typ + " " + t.AccessToken
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// StartRequest is what a Grant gets to begin an authorization.
type StartRequest struct {
	Tenant   string
	UserID   string
	Provider catalog.Provider
	// Client is the client in force (tenant over system), nil when none is configured.
	Client      *ClientSettings
	RedirectURL string
	State       string
}

// StartResult is where to send the user and what the grant keeps until the callback
// (sealed, with the flow).
type StartResult struct {
	URL   string
	Saved json.RawMessage
	// Cookie: the URL the grant made does not carry the state (a plugin builds its own), so
	// the user is sent through the daemon's start route, which sets the state in a cookie
	// the callback reads.
	Cookie bool
}

// FinishRequest is the callback, for a Grant to turn into a Token.
type FinishRequest struct {
	StartRequest
	Saved    json.RawMessage
	Callback Callback
	// Request is the callback request as the browser sent it (a plugin gets it raw).
	Request *http.Request
}

// RefreshRequest asks a Grant for fresh credentials.
type RefreshRequest struct {
	Tenant   string
	Provider catalog.Provider
	Client   *ClientSettings
	Current  Token
}

// Grant obtains and renews the credentials of one kind of provider.
type Grant interface {
	Start(ctx context.Context, req StartRequest) (StartResult, error)
	Finish(ctx context.Context, req FinishRequest) (Token, error)
	// Refresh returns new credentials; an error wrapping ErrRefused marks the credential
	// "needs re-authorization", any other fails this one use only.
	Refresh(ctx context.Context, req RefreshRequest) (Token, error)
}

// Revoker is a Grant that can tell the server to forget a token (RFC 7009).
type Revoker interface {
	Revoke(ctx context.Context, req RefreshRequest) error
}

// Locker serialises refreshes of one credential across processes (the cluster's Redis
// lock); within a process singleflight already does. Lock blocks until the lock is held or
// ctx ends, and returns the function that releases it.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Providers finds catalog providers: the catalog.
type Providers interface {
	Get(ctx context.Context, tenant, providerID string) (catalog.Provider, error)
}

// StoredClient is a client as the Store keeps it. Tenant "" is the system level.
type StoredClient struct {
	Tenant   string
	Provider string
	Enabled  bool
	// Body is the non-secret settings (ClientSettings without secret and params), JSON.
	Body json.RawMessage
	// Sealed holds the secret and params.
	Sealed    []byte
	UpdatedAt time.Time
}

// StoredCredential is a connection as the Store keeps it.
type StoredCredential struct {
	Tenant   string
	Provider string
	Status   string
	// Body is the non-secret part (credentialBody), JSON.
	Body json.RawMessage
	// Sealed is the Token, sealed.
	Sealed []byte
	// Version increases by one with every write (compare-and-swap on refresh).
	Version   int64
	UpdatedAt time.Time
}

// StoredFlow is an authorization under way. Only the SHA-256 of its state is stored.
type StoredFlow struct {
	ID        string
	StateHash string
	Tenant    string
	Provider  string
	UserID    string
	Status    string
	Error     string
	Sealed    []byte // the grant's saved data and the redirect URL
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps clients, flows and credentials. sqlstore.DB implements it.
type Store interface {
	PutOAuthClient(ctx context.Context, c StoredClient) error
	GetOAuthClient(ctx context.Context, tenant, provider string) (StoredClient, error)
	ListOAuthClients(ctx context.Context, tenant string) ([]StoredClient, error)
	DeleteOAuthClient(ctx context.Context, tenant, provider string) error

	// CreateOAuthFlow stores a pending flow (and drops flows that ended long ago).
	CreateOAuthFlow(ctx context.Context, f StoredFlow) error
	// ClaimOAuthFlow moves the flow of stateHash from pending to exchanging, once: a second
	// claim, or a claim after ExpiresAt (now given), fails with catalog.ErrConflict and the
	// flow as stored; an unknown state with catalog.ErrNotFound.
	ClaimOAuthFlow(ctx context.Context, stateHash string, now time.Time) (StoredFlow, error)
	// FinishOAuthFlow records how a claimed flow ended (done or failed, with its error).
	FinishOAuthFlow(ctx context.Context, id, status, errText string) error
	GetOAuthFlow(ctx context.Context, tenant, id string) (StoredFlow, error)
	OAuthFlowByState(ctx context.Context, stateHash string) (StoredFlow, error)

	GetOAuthCredential(ctx context.Context, tenant, provider string) (StoredCredential, error)
	// PutOAuthCredential writes c with the stored version plus one and returns it; when
	// expect >= 0 only if the stored version is expect (0: none stored), else
	// catalog.ErrConflict.
	PutOAuthCredential(ctx context.Context, c StoredCredential, expect int64) (int64, error)
	DeleteOAuthCredential(ctx context.Context, tenant, provider string) error
	ListOAuthCredentials(ctx context.Context, tenant string) ([]StoredCredential, error)
}
