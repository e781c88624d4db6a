// Package pluginoauth runs a plugin tool provider's own OAuth flow: the plugin, not the
// daemon, knows its provider's endpoints and quirks (GitHub answers form-encoded unless asked
// for JSON, Google wants access_type=offline...), so the daemon only asks it for an
// authorization URL, hands it the provider's callback request as Dify does (the raw HTTP
// request, hex-encoded), and asks it to refresh. The three calls go through the dispatcher as
// the daemon's oauth/* routes do. Keeping state, storing tokens and deciding when to refresh
// belong to the caller (internal/oauth); this package only speaks to the plugin and checks
// what it answers.
package pluginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

var (
	// ErrNotImplemented: the plugin has no OAuth for the provider (no oauth_schema in its
	// declaration, or the provider class lacks the _oauth_* method asked for).
	ErrNotImplemented = errors.New("the plugin does not implement OAuth for this provider")
	// ErrRefused: the plugin ran the action and raised an error (the authorization server
	// refused the code or the refresh token, a required client setting is missing...).
	ErrRefused = errors.New("the plugin refused the OAuth request")
	// ErrBadResponse: the plugin answered something that is not the action's result shape.
	ErrBadResponse = errors.New("the plugin's OAuth answer is malformed")
)

// PluginError is an error the plugin raised while running an OAuth action. It matches
// ErrNotImplemented or ErrRefused under errors.Is.
type PluginError struct {
	Action    wire.Action
	Provider  string
	ErrorType string // the Python exception class
	Message   string
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("oauth %s of provider %s: %s: %s", e.Action, e.Provider, e.ErrorType, e.Message)
}

// Is makes errors.Is(err, ErrNotImplemented) true for the SDK's two ways of saying so: a
// NotImplementedError from the provider base class, and the ValueError it raises when the
// provider declares no oauth_schema.
func (e *PluginError) Is(target error) bool {
	ni := e.ErrorType == "NotImplementedError" || strings.Contains(e.Message, "does not support OAuth")
	return (target == ErrNotImplemented && ni) || (target == ErrRefused && !ni)
}

// Stream is a plugin request's results as the dispatcher streams them.
type Stream interface {
	Next() (wire.SessionMessage, error)
	Close()
}

// InvokeFunc runs one plugin request: the dispatcher's Invoke.
type InvokeFunc func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (Stream, error)

// Client asks plugins for their OAuth steps. Safe for concurrent use.
type Client struct{ invoke InvokeFunc }

// New returns a Client calling plugins through invoke.
func New(invoke InvokeFunc) *Client { return &Client{invoke: invoke} }

// Flow names one provider's OAuth flow: which plugin, on whose behalf, with which client.
type Flow struct {
	Tenant string
	UserID string // optional: the user connecting, passed to the plugin as Dify does
	// PluginUniqueIdentifier is the installed plugin (author/name:version@checksum).
	PluginUniqueIdentifier string
	// Provider is the tool provider's short name inside the plugin (e.g. "github").
	Provider string
	// RedirectURI is the daemon's (or Dify's) callback URL; the plugin puts it in the
	// authorization URL and sends it again with the code exchange, so all three calls of
	// one credential must use the same value.
	RedirectURI string
	// SystemCredentials are the OAuth client's settings (the provider's
	// oauth_schema.client_schema: client_id, client_secret...), decrypted.
	SystemCredentials map[string]any
}

// Credentials are what a plugin's exchange or refresh yields.
type Credentials struct {
	// Values are the provider's oauth_schema.credentials_schema fields (access token,
	// refresh token...): what tool calls of this provider receive as credentials.
	Values map[string]any
	// ExpiresAt is when Values stop working; the zero time means never (the plugin's -1).
	ExpiresAt time.Time
	// Metadata describes the account (name, avatar_url) where the plugin says; tool
	// providers of the SDK up to now never do.
	Metadata map[string]any
}

// MaxCallbackBody bounds the callback request body passed to the plugin: callbacks carry a
// code and a state, a few hundred bytes even as a form post.
const MaxCallbackBody = 1 << 20

// AuthorizationURL asks the plugin for the URL the user opens to grant access. The plugin
// builds it (state included, where it uses one) from the client settings and RedirectURI.
func (c *Client) AuthorizationURL(ctx context.Context, f Flow) (string, error) {
	sys, err := systemCredentials(f)
	if err != nil {
		return "", err
	}
	raw, err := c.call(ctx, f, wire.GetAuthorizationURL{Provider: f.Provider, RedirectURI: f.RedirectURI, SystemCredentials: sys})
	if err != nil {
		return "", err
	}
	u, err := DecodeAuthorizationURL(raw)
	if err != nil {
		return "", fmt.Errorf("oauth %s of provider %s: %w", wire.ActionGetAuthorizationURL, f.Provider, err)
	}
	return u, nil
}

// ExchangeCallback hands the provider's callback request (the request the user's browser
// made to RedirectURI) to the plugin, which reads the code from it and exchanges it for
// credentials. Its body is read (up to MaxCallbackBody) and consumed.
func (c *Client) ExchangeCallback(ctx context.Context, f Flow, callback *http.Request) (Credentials, error) {
	sys, err := systemCredentials(f)
	if err != nil {
		return Credentials{}, err
	}
	raw, err := RawRequest(callback)
	if err != nil {
		return Credentials{}, fmt.Errorf("the callback request: %w", err)
	}
	out, err := c.call(ctx, f, wire.GetOAuthCredentials{Provider: f.Provider, RedirectURI: f.RedirectURI, SystemCredentials: sys, RawHTTPRequest: raw})
	if err != nil {
		return Credentials{}, err
	}
	cr, err := DecodeCredentials(out)
	if err != nil {
		return Credentials{}, fmt.Errorf("oauth %s of provider %s: %w", wire.ActionGetCredentials, f.Provider, err)
	}
	return cr, nil
}

// Refresh asks the plugin for fresh credentials in place of credentials (the Values of an
// earlier exchange or refresh).
func (c *Client) Refresh(ctx context.Context, f Flow, credentials map[string]any) (Credentials, error) {
	sys, err := systemCredentials(f)
	if err != nil {
		return Credentials{}, err
	}
	if credentials == nil {
		credentials = map[string]any{}
	}
	cj, err := json.Marshal(credentials)
	if err != nil {
		return Credentials{}, fmt.Errorf("the credentials to refresh: %w", err)
	}
	out, err := c.call(ctx, f, wire.RefreshOAuthCredentials{Provider: f.Provider, RedirectURI: f.RedirectURI, SystemCredentials: sys, Credentials: wire.Object(cj)})
	if err != nil {
		return Credentials{}, err
	}
	cr, err := DecodeCredentials(out)
	if err != nil {
		return Credentials{}, fmt.Errorf("oauth %s of provider %s: %w", wire.ActionRefreshCredentials, f.Provider, err)
	}
	return cr, nil
}

func systemCredentials(f Flow) (wire.Object, error) {
	switch {
	case f.PluginUniqueIdentifier == "":
		return nil, errors.New("oauth: no plugin unique identifier")
	case f.Provider == "":
		return nil, errors.New("oauth: no provider")
	case f.RedirectURI == "":
		return nil, errors.New("oauth: no redirect URI")
	}
	sys := f.SystemCredentials
	if sys == nil {
		sys = map[string]any{}
	}
	b, err := json.Marshal(sys)
	if err != nil {
		return nil, fmt.Errorf("oauth client settings of provider %s: %w", f.Provider, err)
	}
	return b, nil
}

// call sends one OAuth action and returns the data of its first stream item: Dify reads only
// that one, and the SDK sends exactly one.
func (c *Client) call(ctx context.Context, f Flow, p wire.Payload) (json.RawMessage, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	action := p.Action()
	st, err := c.invoke(ctx, f.PluginUniqueIdentifier, wire.AccessOAuth, action, data,
		runtime.InvokeContext{TenantID: f.Tenant, UserID: f.UserID})
	if err != nil {
		return nil, fmt.Errorf("oauth %s of provider %s: %w", action, f.Provider, err)
	}
	defer st.Close()
	for {
		m, err := st.Next()
		if err != nil {
			var serr *wire.SessionError
			if errors.As(err, &serr) {
				return nil, &PluginError{Action: action, Provider: f.Provider, ErrorType: serr.ErrorType, Message: serr.Message}
			}
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("oauth %s of provider %s: %w: the plugin ended without a result", action, f.Provider, ErrBadResponse)
			}
			return nil, fmt.Errorf("oauth %s of provider %s: %w", action, f.Provider, err)
		}
		switch m.Type {
		case wire.MessageStream:
			return m.Data, nil
		case wire.MessageEnd:
			return nil, fmt.Errorf("oauth %s of provider %s: %w: the plugin ended without a result", action, f.Provider, ErrBadResponse)
		}
	}
}

// DecodeAuthorizationURL reads a get_authorization_url result: {"authorization_url": URL}
// with an absolute http(s) URL, which the user's browser will be sent to.
func DecodeAuthorizationURL(data []byte) (string, error) {
	var r struct {
		URL *string `json:"authorization_url"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("%w: want {\"authorization_url\": ...}: %v", ErrBadResponse, err)
	}
	if r.URL == nil || *r.URL == "" {
		return "", fmt.Errorf("%w: authorization_url is missing or empty", ErrBadResponse)
	}
	u, err := url.Parse(*r.URL)
	if err != nil {
		return "", fmt.Errorf("%w: authorization_url: %v", ErrBadResponse, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%w: authorization_url %.100q is not an absolute http(s) URL", ErrBadResponse, *r.URL)
	}
	return *r.URL, nil
}

// DecodeCredentials reads a get_credentials or refresh_credentials result:
// {"credentials": {...}, "expires_at": unix seconds, "metadata": {...}}. expires_at -1, any
// other negative number, null or absent means the credentials never expire; 0 means they
// already have (Dify then refreshes them before every use, as we let the caller do).
func DecodeCredentials(data []byte) (Credentials, error) {
	var r struct {
		Credentials map[string]any `json:"credentials"`
		ExpiresAt   *json.Number   `json:"expires_at"`
		Metadata    map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Credentials{}, fmt.Errorf("%w: want {\"credentials\": {...}, \"expires_at\": ...}: %v", ErrBadResponse, err)
	}
	if r.Credentials == nil {
		return Credentials{}, fmt.Errorf("%w: credentials is missing or not an object", ErrBadResponse)
	}
	cr := Credentials{Values: r.Credentials, Metadata: r.Metadata}
	if cr.Metadata == nil {
		cr.Metadata = map[string]any{}
	}
	if r.ExpiresAt != nil {
		sec, err := r.ExpiresAt.Int64()
		if err != nil {
			return Credentials{}, fmt.Errorf("%w: expires_at %q is not whole seconds", ErrBadResponse, r.ExpiresAt.String())
		}
		if sec >= 0 {
			cr.ExpiresAt = time.Unix(sec, 0).UTC()
		}
	}
	return cr, nil
}
