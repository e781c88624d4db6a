package pluginoauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth/oauthtest"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

// TestPluginFlowRealServer runs the test plugin's OAuth flow against the project's real
// authorization server (oidc-provider, PLUGD_TEST_OAUTH_ISSUER): a client registered for the
// daemon's callback, PKCE required, the user signing in through the server's own pages, a
// resource server that accepts what the server's introspection says is active, refresh
// tokens rotated on use and a reused one revoking the grant.
func TestPluginFlowRealServer(t *testing.T) {
	issuer := oauthtest.Issuer(t)
	py := sdkPython(t)
	in := installed{oauthUID: "testdata/oauthplug"}
	_, invoke := newDispatcher(t, folders{in: in, py: py}, in)
	c := pluginoauth.New(invoke)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	rs := oauthtest.Register(t, issuer)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := oauthtest.Introspect(r.Context(), issuer, rs, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil || !in.Active {
			http.Error(w, "inactive token", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"sub": in.Sub})
	}))
	defer api.Close()

	flow := pluginoauth.Flow{Tenant: "t1", UserID: "u1", PluginUniqueIdentifier: oauthUID, Provider: "oauthplug"}
	cb, got := callbackServer(t, func(r *http.Request) (any, error) { return c.ExchangeCallback(ctx, flow, r) })
	flow.RedirectURI = cb.URL + "/oauth/plugin/oauthplug/callback"
	client := oauthtest.Register(t, issuer, flow.RedirectURI)
	flow.SystemCredentials = map[string]any{
		"client_id": client.ID, "client_secret": client.Secret, "scope": "api:read", "pkce": true,
		"token_endpoint_auth_method": "client_secret_basic",
		"authorization_endpoint":     issuer + "/auth", "token_endpoint": issuer + "/token", "userinfo_endpoint": api.URL + "/me",
	}

	authURL, err := c.AuthorizationURL(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	browser := oauthtest.NewBrowser(flow.RedirectURI, "alice")
	loc, err := browser.Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(loc); u.Query().Get("code") == "" {
		t.Fatalf("the server redirected to %s", loc)
	}
	resp, err := browser.HTTP().Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var cr pluginoauth.Credentials
	switch v := (<-got).(type) {
	case error:
		t.Fatalf("exchange: %v", v)
	case pluginoauth.Credentials:
		cr = v
	}
	if cr.Values["access_token"] == "" || cr.Values["refresh_token"] == "" || cr.ExpiresAt.IsZero() || !cr.ExpiresAt.After(time.Now()) {
		t.Fatalf("credentials %+v", cr)
	}

	caller := plugintools.NewCaller(func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		return invoke(ctx, uid, access, action, data, ic)
	})
	whoami := func(values map[string]any) (string, error) {
		creds := map[string]string{}
		for _, k := range []string{"access_token", "userinfo_endpoint"} {
			creds[k], _ = values[k].(string)
		}
		st, err := caller.Call(ctx, catalog.Invocation{Tenant: "t1", UserID: "u1", Credentials: creds, CredentialType: "oauth2",
			Provider: catalog.Provider{Name: "oauthplug", PluginUniqueIdentifier: oauthUID}, Tool: catalog.Tool{Name: "whoami"}})
		if err != nil {
			return "", err
		}
		defer st.Close()
		m, err := st.Next()
		return string(m.Message), err
	}
	if out, err := whoami(cr.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("tool call with the exchanged token: %s %v", out, err)
	}

	fresh, err := c.Refresh(ctx, flow, cr.Values)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Values["access_token"] == cr.Values["access_token"] || fresh.Values["refresh_token"] == cr.Values["refresh_token"] ||
		fresh.Values["refresh_token"] == "" || fresh.ExpiresAt.IsZero() {
		t.Fatalf("refresh gave %+v after %+v", fresh, cr)
	}
	if out, err := whoami(fresh.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("tool call with the refreshed token: %s %v", out, err)
	}

	// The rotated-out refresh token is refused (and the server revokes the grant).
	_, err = c.Refresh(ctx, flow, cr.Values)
	var perr *pluginoauth.PluginError
	if !errors.Is(err, pluginoauth.ErrRefused) || !errors.As(err, &perr) || !strings.Contains(perr.Message, "invalid_grant") {
		t.Fatalf("refresh with a used refresh token: %v", err)
	}
	if _, err := whoami(fresh.Values); !errors.Is(err, catalog.ErrCallFailed) {
		t.Fatalf("tool call after the grant was revoked: %v", err)
	}
}
