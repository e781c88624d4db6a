package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/plugd/plugd/internal/apitools"
	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/mcpclient"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/oauth/oauthtest"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// counting counts the refresh-token grants sent to the token endpoint.
type counting struct {
	base      http.RoundTripper
	refreshes atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if strings.Contains(string(b), "grant_type=refresh_token") {
			c.refreshes.Add(1)
		}
	}
	return c.base.RoundTrip(r)
}

// mcpTokens is the MCP pool's token seam over the Manager (as the daemon wires it).
type mcpTokens struct{ m *oauth.Manager }

func (t mcpTokens) Token(ctx context.Context, tenant, provider string) (string, error) {
	return t.m.Authorization(ctx, tenant, provider)
}

type env struct {
	issuer   string
	cat      *catalog.Catalog
	mgr      *oauth.Manager
	pool     *mcpclient.Pool
	db       *sqlstore.DB
	secrets  *catalogtest.Secrets
	count    *counting
	callback string
	rs       oauthtest.Client // the resource servers' client, for introspection
	egress   *egress.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{issuer: oauthtest.Issuer(t)}
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	allow, err := egress.ParseAllow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.egress = egress.New(egress.Settings{Allow: allow})
	hc := *e.egress.HTTPClient()
	e.count = &counting{base: hc.Transport}
	hc.Transport = e.count
	secrets := catalogtest.NewSecrets()
	e.db, e.secrets = db, secrets

	var mgr *oauth.Manager
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/callback" {
			http.NotFound(w, r)
			return
		}
		info, err := mgr.Callback(r.Context(), r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "connected %s", info.Provider)
	}))
	t.Cleanup(func() { cb.CloseClientConnections(); cb.Close() })
	e.callback = cb.URL + "/oauth/callback"

	// The catalog calls through the Manager, which reads providers from the catalog.
	var cat *catalog.Catalog
	providers := providerFunc(func(ctx context.Context, tenant, id string) (catalog.Provider, error) {
		return cat.Get(ctx, tenant, id)
	})
	std := oauth.Standard{HTTP: &hc}
	mgr, err = oauth.New(oauth.Config{Store: db, Secrets: secrets, Providers: providers, CallbackURL: e.callback,
		// Every use reads the store, so that expire (below) is seen at once.
		Recheck: time.Nanosecond,
		Grants:  map[catalog.Kind]oauth.Grant{catalog.KindAPI: std, catalog.KindMCP: std},
		OnConnected: func(ctx context.Context, tenant string, p catalog.Provider) error {
			if p.Kind == catalog.KindMCP {
				_, err := cat.Refresh(ctx, tenant, p.ID)
				return err
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.mgr = mgr
	e.pool = mcpclient.NewPool(mcpclient.Options{Egress: egress.Settings{Allow: allow}, DataDir: t.TempDir(), Tokens: mcpTokens{mgr}})
	t.Cleanup(e.pool.Close)
	cat = catalog.New(catalog.Config{Store: db, Secrets: secrets, Callers: map[catalog.Kind]catalog.Caller{
		catalog.KindAPI: apitools.Caller{Client: e.egress, Tokens: mgr}, catalog.KindMCP: e.pool,
	}})
	e.cat = cat
	e.pool.Follow(cat)
	e.rs = oauthtest.Register(t, e.issuer)
	return e
}

type providerFunc func(ctx context.Context, tenant, id string) (catalog.Provider, error)

func (f providerFunc) Get(ctx context.Context, tenant, id string) (catalog.Provider, error) {
	return f(ctx, tenant, id)
}

// expire makes the stored token of a connection expire in 10 s, as an hour after it was
// issued, without waiting the hour the real server gave it.
func (e *env) expire(t *testing.T, tenant, provider string) {
	t.Helper()
	sc, err := e.db.GetOAuthCredential(t.Context(), tenant, provider)
	if err != nil {
		t.Fatal(err)
	}
	ref := "oauth-token:" + provider
	plain, err := e.secrets.Open(t.Context(), tenant, ref, sc.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	var tok oauth.Token
	if err := json.Unmarshal(plain, &tok); err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(10 * time.Second)
	plain, _ = json.Marshal(tok)
	if sc.Sealed, err = e.secrets.Seal(t.Context(), tenant, ref, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.PutOAuthCredential(t.Context(), sc, sc.Version); err != nil {
		t.Fatal(err)
	}
}

// connect runs the whole authorization as the user: Connect, the browser through the real
// server's login and consent pages, the callback, and the flow's status.
func (e *env) connect(t *testing.T, tenant, provider, login string) {
	t.Helper()
	st, err := e.mgr.Connect(t.Context(), tenant, provider, "user-1")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if st.RedirectURI != e.callback || !strings.Contains(st.AuthorizationURL, "code_challenge_method=S256") {
		t.Fatalf("started: %+v", st)
	}
	b := oauthtest.NewBrowser(e.callback, login)
	back, err := b.Authorize(t.Context(), st.AuthorizationURL)
	if err != nil {
		t.Fatalf("authorizing: %v", err)
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
	fi, err := e.mgr.FlowStatus(t.Context(), tenant, st.FlowID)
	if err != nil || fi.Status != oauth.FlowDone {
		t.Fatalf("flow after the callback: %+v, %v", fi, err)
	}
	// The state is single use: the same callback again is refused.
	resp, err = b.HTTP().Get(back)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "used already") {
		t.Fatalf("a replayed callback: HTTP %d: %s", resp.StatusCode, body)
	}
}

func (e *env) call(ctx context.Context, tenant, provider, tool string) (string, error) {
	st, err := e.cat.Call(ctx, tenant, catalog.CallRequest{ProviderID: provider, Tool: tool, Arguments: map[string]any{}})
	if err != nil {
		return "", err
	}
	defer st.Close()
	var out strings.Builder
	for {
		m, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out.String(), nil
		}
		if err != nil {
			return "", err
		}
		out.Write(m.Message)
	}
}

// resourceServer is an API that accepts the tokens the real server says are active.
func (e *env) resourceServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		in, err := oauthtest.Introspect(r.Context(), e.issuer, e.rs, tok)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if !in.Active {
			http.Error(w, "inactive token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"sub": in.Sub, "scope": in.Scope})
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv
}

func (e *env) addAPI(t *testing.T, tenant, rsURL string) catalog.Provider {
	t.Helper()
	spec := fmt.Sprintf(`{"openapi": "3.0.3", "info": {"title": "Me", "version": "1"}, "servers": [{"url": %q}],
	  "components": {"securitySchemes": {"as": {"type": "oauth2", "flows": {"authorizationCode": {
	    "authorizationUrl": %q, "tokenUrl": %q, "scopes": {"api:read": "read"}}}}}},
	  "security": [{"as": ["api:read"]}],
	  "paths": {"/me": {"get": {"operationId": "whoami", "responses": {"200": {"description": "ok"}}}}}}`,
		rsURL, e.issuer+"/auth", e.issuer+"/token")
	np, err := apitools.Importer{Client: e.egress}.NewProvider(t.Context(), apitools.Import{Name: "me", Schema: spec, Auth: apitools.Auth{Type: apitools.AuthOAuth2}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.cat.Add(t.Context(), tenant, np)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func needsReauth(t *testing.T, err error, why string) {
	t.Helper()
	var re *oauth.ReauthError
	if !errors.Is(err, oauth.ErrNeedsReauth) || !errors.As(err, &re) || !strings.Contains(err.Error(), "plugd tools connect") {
		t.Fatalf("%s: want a re-authorization error saying how to reconnect, got %v", why, err)
	}
}

// TestAPIToolFullFlow: an OpenAPI tool behind the real server, end to end: authorize →
// callback → token → call → refresh → revoke → re-authorize; then 50 concurrent calls with
// an expired token make one refresh; then a refused refresh marks the credential and the
// next call fails at once.
func TestAPIToolFullFlow(t *testing.T) {
	e := newEnv(t)
	const tenant = "t-api"
	rs := e.resourceServer(t)
	p := e.addAPI(t, tenant, rs.URL)

	// Not connected yet: the call fails saying how to connect.
	_, err := e.call(t.Context(), tenant, p.ID, "whoami")
	needsReauth(t, err, "a call before connecting")
	// No client configured, and no dynamic registration for an API tool.
	if _, err := e.mgr.Connect(t.Context(), tenant, p.ID, ""); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "oauth-client set") {
		t.Fatalf("connect without a client: %v", err)
	}
	client := oauthtest.Register(t, e.issuer, e.callback)
	cs, err := e.mgr.SetClient(t.Context(), tenant, oauth.ClientSettings{Provider: p.ID, ClientID: client.ID, ClientSecret: client.Secret,
		RevocationURL: e.issuer + "/token/revocation", Enabled: true})
	if err != nil || cs.ClientSecret == client.Secret || cs.Level != oauth.LevelTenant {
		t.Fatalf("set client: %+v, %v", cs, err)
	}

	e.connect(t, tenant, p.ID, "alice")
	out, err := e.call(t.Context(), tenant, p.ID, "whoami")
	if err != nil || !strings.Contains(out, `"sub":"alice"`) {
		t.Fatalf("call after connecting: %s, %v", out, err)
	}
	first, err := e.mgr.Token(t.Context(), tenant, p.ID)
	if err != nil || first.RefreshToken == "" || first.Expiry.IsZero() {
		t.Fatalf("stored token: %+v, %v", first, err)
	}

	// The token expires within the margin: the next call refreshes it first.
	e.expire(t, tenant, p.ID)
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("call after expiry: %s, %v", out, err)
	}
	if n := e.count.refreshes.Load(); n != 1 {
		t.Fatalf("refreshes after one expiry: %d", n)
	}
	second, _ := e.mgr.Token(t.Context(), tenant, p.ID)
	if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
		t.Fatal("the refresh did not replace the tokens (the server rotates refresh tokens)")
	}

	// 50 concurrent calls with an expired token: one refresh between them. The server rotates
	// refresh tokens, so a second refresh with the same token would be refused and revoke
	// the grant: every call succeeding proves it too.
	e.expire(t, tenant, p.ID)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			out, err := e.call(t.Context(), tenant, p.ID, "whoami")
			if err == nil && !strings.Contains(out, "alice") {
				err = fmt.Errorf("answer %s", out)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent call: %v", err)
		}
	}
	if n := e.count.refreshes.Load(); n != 2 {
		t.Fatalf("50 concurrent calls with an expired token made %d refreshes, want 1", n-1)
	}

	// Revoke: the server forgets the tokens, the daemon too.
	cur, _ := e.mgr.Token(t.Context(), tenant, p.ID)
	if err := e.mgr.Disconnect(t.Context(), tenant, p.ID); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if in, err := oauthtest.Introspect(t.Context(), e.issuer, e.rs, cur.AccessToken); err != nil || in.Active {
		t.Fatalf("the access token after revocation: %+v, %v", in, err)
	}
	_, err = e.call(t.Context(), tenant, p.ID, "whoami")
	needsReauth(t, err, "a call after disconnecting")

	// Re-authorize, as another user this time.
	e.connect(t, tenant, p.ID, "bob")
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, `"sub":"bob"`) {
		t.Fatalf("call after re-authorizing: %s, %v", out, err)
	}

	// The grant is withdrawn at the server; the next refresh is refused.
	cur, _ = e.mgr.Token(t.Context(), tenant, p.ID)
	oauthtest.Revoke(t, e.issuer, client, cur.RefreshToken)
	e.expire(t, tenant, p.ID)
	before := e.count.refreshes.Load()
	_, err = e.call(t.Context(), tenant, p.ID, "whoami")
	needsReauth(t, err, "the call whose refresh is refused")
	conn, err := e.mgr.Connection(t.Context(), tenant, p.ID)
	if err != nil || conn.Status != oauth.StatusNeedsReauth || !strings.Contains(conn.Reason, "refused") {
		t.Fatalf("connection after a refused refresh: %+v, %v", conn, err)
	}
	// The bound: the next call fails in under 100 ms, without asking the server.
	start := time.Now()
	_, err = e.call(t.Context(), tenant, p.ID, "whoami")
	if took := time.Since(start); took >= 100*time.Millisecond {
		t.Fatalf("the call after a refused refresh took %s", took)
	}
	needsReauth(t, err, "the call after a refused refresh")
	if n := e.count.refreshes.Load(); n != before+1 {
		t.Fatalf("refreshes after the refusal: %d (retried)", n-before)
	}
	// Re-authorizing clears the mark.
	e.connect(t, tenant, p.ID, "alice")
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("call after re-authorizing a marked credential: %s, %v", out, err)
	}
}

// mcpServer is an MCP server (the SDK's) behind the SDK's bearer-token middleware, whose
// tokens the real server says are active and issued for this resource (RFC 8707).
func (e *env) mcpServer(t *testing.T) (url string, calls *atomic.Int64) {
	calls = &atomic.Int64{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	// The pool's session keeps a stream open: cut it rather than wait for it.
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	resource := srv.URL + "/mcp"
	s := mcp.NewServer(&mcp.Implementation{Name: "secure", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "who the token is for"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		calls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sub=" + req.Extra.TokenInfo.UserID}}}, nil, nil
	})
	verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		in, err := oauthtest.Introspect(ctx, e.issuer, e.rs, token)
		if err != nil {
			return nil, err
		}
		aud := fmt.Sprint(in.Aud)
		if !in.Active || !strings.Contains(aud, resource) {
			return nil, fmt.Errorf("token inactive or for %s: %w", aud, auth.ErrInvalidToken)
		}
		return &auth.TokenInfo{Scopes: strings.Fields(in.Scope), Expiration: time.Unix(in.Exp, 0), UserID: in.Sub}, nil
	}
	meta := srv.URL + "/.well-known/oauth-protected-resource/mcp"
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	mux.Handle("/mcp", auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: meta, Scopes: []string{"mcp:tools"}})(h))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: resource, AuthorizationServers: []string{e.issuer}, ScopesSupported: []string{"mcp:tools"}}))
	return resource, calls
}

// TestMCPServerFullFlow: an MCP server requiring a bearer token, no client configured: the
// daemon discovers the server (RFC 9728, RFC 8414), registers a client (RFC 7591), asks for
// a token for the server (RFC 8707); then call → refresh → revoke → re-authorize.
func TestMCPServerFullFlow(t *testing.T) {
	e := newEnv(t)
	const tenant = "t-mcp"
	u, calls := e.mcpServer(t)
	np, err := e.pool.NewProvider(t.Context(), tenant, mcpclient.Server{Name: "secure", URL: u, OAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.cat.Add(t.Context(), tenant, np)
	if err != nil {
		t.Fatal(err)
	}
	e.connect(t, tenant, p.ID, "carol")
	p, err = e.cat.Get(t.Context(), tenant, p.ID)
	if err != nil || len(p.Tools) != 1 || p.Tools[0].Name != "whoami" {
		t.Fatalf("tools listed after connecting: %+v, %v", p.Tools, err)
	}
	conn, err := e.mgr.Connection(t.Context(), tenant, p.ID)
	if err != nil || conn.ClientID == "" || conn.Status != oauth.StatusConnected {
		t.Fatalf("connection: %+v, %v", conn, err)
	}
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, "sub=carol") {
		t.Fatalf("call: %s, %v", out, err)
	}

	e.expire(t, tenant, p.ID)
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, "sub=carol") {
		t.Fatalf("call after expiry: %s, %v", out, err)
	}
	if n := e.count.refreshes.Load(); n != 1 {
		t.Fatalf("refreshes: %d", n)
	}

	if err := e.mgr.Disconnect(t.Context(), tenant, p.ID); err != nil {
		t.Fatalf("disconnect (revocation at the discovered endpoint): %v", err)
	}
	n := calls.Load()
	_, err = e.call(t.Context(), tenant, p.ID, "whoami")
	needsReauth(t, err, "an MCP call after disconnecting")
	if calls.Load() != n {
		t.Fatal("the server was reached without a token")
	}
	e.connect(t, tenant, p.ID, "carol")
	if out, err := e.call(t.Context(), tenant, p.ID, "whoami"); err != nil || !strings.Contains(out, "sub=carol") {
		t.Fatalf("call after re-authorizing: %s, %v", out, err)
	}
}
