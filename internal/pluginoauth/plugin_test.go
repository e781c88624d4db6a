package pluginoauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

const (
	oauthUID  = "plugd-test/oauthplug:0.0.1@" + "0123456789abcdef0123456789abcdef"
	raiserUID = "plugd-test/raiser:0.0.1@" + "0123456789abcdef0123456789abcdee"
)

// installed says every plugin of the fixture is installed (locally).
type installed map[string]string // uid -> plugin folder

func (in installed) GetPlugin(ctx context.Context, uid string) (store.Plugin, error) {
	if _, ok := in[uid]; ok {
		return store.Plugin{UniqueIdentifier: uid, InstallType: "local"}, nil
	}
	return store.Plugin{}, store.ErrNotFound
}

func (in installed) ListPlugins(ctx context.Context) ([]store.Plugin, error) { return nil, nil }

// folders prepares plugins from their source folders with the SDK interpreter given, as the
// dispatcher package's own tests do: what is tested here is the OAuth plumbing, not
// environment building (the official plugin's test builds one).
type folders struct {
	in installed
	py string
}

func (f folders) Hold(string) (func(), error) { return func() {}, nil }

func (f folders) Prepare(ctx context.Context, uid string, progress func(pyenv.Progress)) (*install.Prepared, error) {
	dir := f.in[uid]
	m, problems := manifest.Load(os.DirFS(dir))
	if m == nil {
		return nil, problems.Err()
	}
	id, err := install.ParseIdentifier(uid)
	if err != nil {
		return nil, err
	}
	return &install.Prepared{ID: id, Plugin: m, Dir: dir, Python: f.py, EnvKey: "env-of-" + id.Name}, nil
}

// sdkPython is the interpreter with the SDK: the 0.7 line, or the newest with
// PLUGD_TEST_SDK_LINE=new (as the runtime's tests).
func sdkPython(t *testing.T) string {
	t.Helper()
	v := "PLUGD_TEST_PYTHON_SDK07"
	if os.Getenv("PLUGD_TEST_SDK_LINE") == "new" {
		v = "PLUGD_TEST_PYTHON_SDK_NEW"
	}
	py := os.Getenv(v)
	if py == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatal(v + " is not set: run scripts/test.sh, or export what scripts/test-deps.sh prints")
	}
	return py
}

// newDispatcher runs the plugins in dirs with the real SDK; its InvokeFunc is wired as
// cmd/plugd wires it.
func newDispatcher(t *testing.T, prep dispatch.Preparer, plugins dispatch.Plugins) (*dispatch.Dispatcher, pluginoauth.InvokeFunc) {
	t.Helper()
	d := dispatch.New(dispatch.Config{
		Plugins: plugins, Workspace: prep, DataDir: t.TempDir(), StartTimeout: 120 * time.Second, MaxInstances: 1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (pluginoauth.Stream, error) {
		st, err := d.Invoke(ctx, uid, access, action, data, ic)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// authServer is the authorization server the test plugin talks to: codes are single use and
// bound to their redirect URI, refresh tokens rotate (the old pair stops working), userinfo
// answers only for the current access token. It is written here, not a third-party server:
// what is under test is the daemon <-> plugin plumbing (internal/oauth's tests run the
// real-server flows).
type authServer struct {
	*httptest.Server
	mu       sync.Mutex
	codes    map[string]grant
	access   map[string]bool
	refresh  map[string]bool
	n        int
	refreshN int
}

const clientID, clientSecret = "plugd-client", "s3cret/+:"

// grant is what an authorization code stands for.
type grant struct{ redirectURI, challenge string }

func newAuthServer(t *testing.T) *authServer {
	a := &authServer{codes: map[string]grant{}, access: map[string]bool{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad client, response type or PKCE method", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.n++
		code := fmt.Sprintf("code-%d", a.n)
		a.codes[code] = grant{q.Get("redirect_uri"), q.Get("code_challenge")}
		a.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		fail := func(msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": msg})
		}
		// client_secret_basic (RFC 6749 2.3.1: form-encoded, then Basic)
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if id != clientID || secret != clientSecret || r.PostFormValue("client_secret") != "" {
			fail("bad client credentials")
			return
		}
		switch r.PostFormValue("grant_type") {
		case "authorization_code":
			g, ok := a.codes[r.PostFormValue("code")]
			delete(a.codes, r.PostFormValue("code"))
			sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
			if !ok || g.redirectURI != r.PostFormValue("redirect_uri") {
				fail("unknown code or other redirect_uri")
				return
			}
			if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				fail("code_verifier does not match the code_challenge")
				return
			}
		case "refresh_token":
			if !a.refresh[r.PostFormValue("refresh_token")] {
				fail("unknown refresh token")
				return
			}
			clear(a.refresh)
			clear(a.access)
			a.refreshN++
		default:
			fail("unsupported grant")
			return
		}
		a.n++
		at, rt := fmt.Sprintf("access-%d", a.n), fmt.Sprintf("refresh-%d", a.n)
		a.access[at], a.refresh[rt] = true, true
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		ok := a.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		a.mu.Unlock()
		if !ok {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"sub": "alice"})
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) clientSettings() map[string]any {
	return map[string]any{
		"client_id": clientID, "client_secret": clientSecret, "scope": "profile repo", "pkce": true, "token_endpoint_auth_method": "client_secret_basic",
		"authorization_endpoint": a.URL + "/authorize", "token_endpoint": a.URL + "/token", "userinfo_endpoint": a.URL + "/userinfo",
	}
}

// callbackServer stands for the daemon's callback route: it hands the request it gets, as
// net/http parsed it, to the plugin.
func callbackServer(t *testing.T, exchange func(r *http.Request) (any, error)) (*httptest.Server, chan any) {
	got := make(chan any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := exchange(r)
		if err != nil {
			got <- err
		} else {
			got <- v
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestPluginFlow runs a plugin's whole OAuth flow with the real SDK: authorization URL, the
// browser's round trip through the authorization server to the callback, the code exchange
// (the callback request passed raw), a tool call with the token, a refresh that rotates the
// tokens, a tool call with the new token and refusals.
func TestPluginFlow(t *testing.T) {
	py := sdkPython(t)
	in := installed{oauthUID: "testdata/oauthplug", raiserUID: "../runtime/testdata/plugins/raiser"}
	_, invoke := newDispatcher(t, folders{in: in, py: py}, in)
	c := pluginoauth.New(invoke)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	as := newAuthServer(t)
	flow := pluginoauth.Flow{Tenant: "t1", UserID: "u1", PluginUniqueIdentifier: oauthUID, Provider: "oauthplug", SystemCredentials: as.clientSettings()}

	cb, got := callbackServer(t, func(r *http.Request) (any, error) { return c.ExchangeCallback(ctx, flow, r) })
	flow.RedirectURI = cb.URL + "/oauth/plugin/oauthplug/callback"

	authURL, err := c.AuthorizationURL(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != strings.TrimPrefix(as.URL, "http://") || u.Path != "/authorize" || q.Get("client_id") != clientID ||
		q.Get("redirect_uri") != flow.RedirectURI || q.Get("scope") != "profile repo" || len(q.Get("state")) < 16 {
		t.Fatalf("authorization URL %s", authURL)
	}

	// The browser: authorization server, then its redirect to the callback, with cookies of
	// the daemon's host that the plugin must not see.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	req.Header.Set("User-Agent", "plugd-test-browser/1.0")
	jar := &oneCookie{}
	resp, err := (&http.Client{Jar: jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "done" {
		t.Fatalf("the browser's round trip ended with %s: %s", resp.Status, body)
	}
	var cr pluginoauth.Credentials
	switch v := (<-got).(type) {
	case error:
		t.Fatalf("exchange: %v", v)
	case pluginoauth.Credentials:
		cr = v
	}
	if cr.Values["access_token"] != "access-2" || cr.Values["refresh_token"] != "refresh-2" {
		t.Fatalf("credentials %v", cr.Values)
	}
	if d := time.Until(cr.ExpiresAt); d < 50*time.Minute || d > 61*time.Minute {
		t.Errorf("expires at %v, want in about an hour", cr.ExpiresAt)
	}
	want := map[string]any{"method": "GET", "path": "/oauth/plugin/oauthplug/callback", "state": q.Get("state"),
		"user_agent": "plugd-test-browser/1.0", "has_cookie": false}
	if cb, _ := json.Marshal(cr.Values["callback"]); string(cb) != string(mustJSON(want)) {
		t.Errorf("the plugin decoded the callback as %s, want %s", cb, mustJSON(want))
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
		if err != nil {
			return "", err
		}
		return string(m.Message), nil
	}
	if out, err := whoami(cr.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) || !strings.Contains(out, `"credential_type":"oauth2"`) {
		t.Fatalf("tool call with the exchanged token: %s %v", out, err)
	}

	// Refresh: the plugin gets the stored values back and returns the rotated pair.
	time.Sleep(1100 * time.Millisecond) // so that the new expiry is a later second
	fresh, err := c.Refresh(ctx, flow, cr.Values)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Values["access_token"] != "access-3" || fresh.Values["refresh_token"] != "refresh-3" || !fresh.ExpiresAt.After(cr.ExpiresAt) {
		t.Fatalf("refreshed: %+v (before %+v)", fresh, cr)
	}
	if out, err := whoami(fresh.Values); err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("tool call with the refreshed token: %s %v", out, err)
	}
	if out, err := whoami(cr.Values); !errors.Is(err, catalog.ErrCallFailed) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("tool call with the replaced token: %s %v", out, err)
	}

	// A refresh token used twice is refused by the server; the plugin's error comes back typed.
	_, err = c.Refresh(ctx, flow, cr.Values)
	var perr *pluginoauth.PluginError
	if !errors.Is(err, pluginoauth.ErrRefused) || !errors.As(err, &perr) || perr.ErrorType != "ToolProviderOAuthError" ||
		!strings.Contains(perr.Message, "invalid_grant") {
		t.Fatalf("refresh with a used refresh token: %v", err)
	}

	// A callback reporting the user's refusal.
	denied := httptest.NewRequest(http.MethodGet, flow.RedirectURI+"?error=access_denied&state=x", nil)
	if _, err := c.ExchangeCallback(ctx, flow, denied); !errors.Is(err, pluginoauth.ErrRefused) || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("callback with error=access_denied: %v", err)
	}
	// A code replayed (here: posted as a form) is refused by the token endpoint.
	replay := httptest.NewRequest(http.MethodPost, flow.RedirectURI, strings.NewReader("code=code-1"))
	replay.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := c.ExchangeCallback(ctx, flow, replay); !errors.Is(err, pluginoauth.ErrRefused) || !strings.Contains(err.Error(), "unknown code") {
		t.Fatalf("replayed code: %v", err)
	}

	// A provider without OAuth, and a plugin that is not installed.
	other := pluginoauth.Flow{Tenant: "t1", PluginUniqueIdentifier: raiserUID, Provider: "raiser", RedirectURI: flow.RedirectURI}
	if _, err := c.AuthorizationURL(ctx, other); !errors.Is(err, pluginoauth.ErrNotImplemented) || errors.Is(err, pluginoauth.ErrRefused) {
		t.Fatalf("provider without oauth_schema: %v", err)
	}
	other.PluginUniqueIdentifier = "plugd-test/absent:0.0.1@" + strings.Repeat("0", 32)
	if _, err := c.AuthorizationURL(ctx, other); !errors.Is(err, dispatch.ErrNotInstalled) {
		t.Fatalf("plugin not installed: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// oneCookie is a cookie jar holding a session cookie for every host: the daemon's console
// cookie a browser would send along with the callback.
type oneCookie struct{}

func (oneCookie) SetCookies(*url.URL, []*http.Cookie) {}
func (oneCookie) Cookies(*url.URL) []*http.Cookie {
	return []*http.Cookie{{Name: "console_session", Value: "secret-of-the-daemon"}}
}
