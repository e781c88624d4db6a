package pluginoauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/oauth/oauthtest"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/wire"
)

type providerFunc func(ctx context.Context, tenant, id string) (catalog.Provider, error)

func (f providerFunc) Get(ctx context.Context, tenant, id string) (catalog.Provider, error) {
	return f(ctx, tenant, id)
}

// TestGrantThroughManager connects the test plugin's provider through oauth.Manager, as
// `plugd tools connect` does: a system-level client, Connect, the daemon's start route (the
// state cookie, since the plugin's URL carries the plugin's own state), the real server's
// sign-in, the daemon's callback, the token used by a tool call, and a refresh when the
// clock passes its expiry.
func TestGrantThroughManager(t *testing.T) {
	issuer := oauthtest.Issuer(t)
	py := sdkPython(t)
	in := installed{oauthUID: "testdata/oauthplug"}
	_, invoke := newDispatcher(t, folders{in: in, py: py}, in)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const providerID = "plugd-test/oauthplug/oauthplug"
	prov := catalog.Provider{ID: providerID, Kind: catalog.KindPlugin, Name: "oauthplug", PluginUniqueIdentifier: oauthUID}
	var skew atomic.Int64 // the Manager's clock runs ahead by this much
	var mgr *oauth.Manager
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth/start": // what the daemon's start route does
			state := r.URL.Query().Get("state")
			u, err := mgr.StartRedirect(r.Context(), state)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: oauth.StateCookie, Value: state, Path: "/oauth", HttpOnly: true, MaxAge: 300})
			http.Redirect(w, r, u, http.StatusFound)
		case "/oauth/callback":
			info, err := mgr.Callback(r.Context(), r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			io.WriteString(w, "connected "+info.Provider)
		default:
			http.NotFound(w, r)
		}
	}))
	defer daemon.Close()
	callback := daemon.URL + "/oauth/callback"
	mgr, err = oauth.New(oauth.Config{Store: db, Secrets: catalogtest.NewSecrets(), CallbackURL: callback,
		Providers: providerFunc(func(ctx context.Context, tenant, id string) (catalog.Provider, error) {
			if id != providerID {
				return catalog.Provider{}, catalog.ErrNotFound
			}
			return prov, nil
		}),
		Grants: map[catalog.Kind]oauth.Grant{catalog.KindPlugin: pluginoauth.Grant{Client: pluginoauth.New(invoke)}},
		Now:    func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}

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
	client := oauthtest.Register(t, issuer, callback)
	if _, err := mgr.SetClient(ctx, "", oauth.ClientSettings{Provider: providerID, ClientID: client.ID, ClientSecret: client.Secret,
		Scopes: []string{"api:read"}, Enabled: true, Params: map[string]string{
			"pkce": "true", "token_endpoint_auth_method": "client_secret_basic",
			"authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token", "userinfo_endpoint": api.URL + "/me",
		}}); err != nil {
		t.Fatal(err)
	}

	st, err := mgr.Connect(ctx, "t1", providerID, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.AuthorizationURL, daemon.URL+"/oauth/start?state=") {
		t.Fatalf("a plugin's flow starts at the daemon's start route: %+v", st)
	}
	b := oauthtest.NewBrowser(callback, "alice")
	back, err := b.Authorize(ctx, st.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.HTTP().Get(back)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback %s: HTTP %d: %s", back, resp.StatusCode, body)
	}

	tok, err := mgr.Token(ctx, "t1", providerID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Values["access_token"] == "" || tok.Values["refresh_token"] == "" || tok.Expiry.IsZero() || tok.ClientID != client.ID {
		t.Fatalf("token %+v", tok)
	}
	caller := plugintools.NewCaller(func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		return invoke(ctx, uid, access, action, data, ic)
	})
	whoami := func(values map[string]string) (string, error) {
		st, err := caller.Call(ctx, catalog.Invocation{Tenant: "t1", Credentials: values, CredentialType: "oauth2", Provider: prov, Tool: catalog.Tool{Name: "whoami"}})
		if err != nil {
			return "", err
		}
		defer st.Close()
		m, err := st.Next()
		return string(m.Message), err
	}
	if out, err := whoami(tok.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("tool call: %s %v", out, err)
	}
	// The browser sent the daemon's state cookie with the callback; the plugin did not get it.
	if !strings.Contains(tok.Values["callback"], `"has_cookie":false`) {
		t.Errorf("the plugin saw the callback as %s", tok.Values["callback"])
	}

	// Two hours on, the token has expired: the Manager has the plugin refresh it.
	skew.Store(int64(2 * time.Hour))
	fresh, err := mgr.Token(ctx, "t1", providerID)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Values["access_token"] == tok.Values["access_token"] || fresh.Values["refresh_token"] == tok.Values["refresh_token"] ||
		fresh.Expiry.Before(tok.Expiry) {
		t.Fatalf("after the refresh: %+v (before: %+v)", fresh, tok)
	}
	if out, err := whoami(fresh.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("tool call after the refresh: %s %v", out, err)
	}
}
