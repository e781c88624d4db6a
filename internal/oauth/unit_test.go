package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// grant is a Grant whose answers the test sets: the Manager's own rules (state, clients,
// storage, refresh discipline) are what these tests check; the real grants are checked
// against the real server in flow_test.go.
type grant struct {
	refreshes atomic.Int64
	refresh   func(n int64) (oauth.Token, error)
}

func (g *grant) Start(_ context.Context, req oauth.StartRequest) (oauth.StartResult, error) {
	id := ""
	if req.Client != nil {
		id = req.Client.ClientID
	}
	return oauth.StartResult{URL: "https://as.example/auth?client_id=" + id + "&state=" + req.State, Saved: []byte(`{"n":1}`)}, nil
}

func (g *grant) Finish(_ context.Context, req oauth.FinishRequest) (oauth.Token, error) {
	if string(req.Saved) != `{"n":1}` {
		return oauth.Token{}, fmt.Errorf("saved data lost: %s", req.Saved)
	}
	return oauth.Token{AccessToken: "at-" + req.Callback.Code, RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}, nil
}

func (g *grant) Refresh(_ context.Context, req oauth.RefreshRequest) (oauth.Token, error) {
	n := g.refreshes.Add(1)
	time.Sleep(20 * time.Millisecond) // long enough for every concurrent caller to arrive
	return g.refresh(n)
}

type unitEnv struct {
	mgr   *oauth.Manager
	db    *sqlstore.DB
	g     *grant
	now   atomic.Int64 // offset
	locks atomic.Int64
}

type countingLocker struct {
	mu sync.Mutex
	n  *atomic.Int64
}

func (l *countingLocker) Lock(ctx context.Context, key string) (func(), error) {
	l.n.Add(1)
	l.mu.Lock()
	return l.mu.Unlock, nil
}

func newUnitEnv(t testing.TB) *unitEnv {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := &unitEnv{db: db}
	// A refreshed token lives an hour from the Manager's (moved) clock.
	u.g = &grant{refresh: func(n int64) (oauth.Token, error) {
		return oauth.Token{AccessToken: fmt.Sprintf("refreshed-%d", n), Expiry: time.Now().Add(time.Duration(u.now.Load()) + time.Hour)}, nil
	}}
	providers := providerFunc(func(_ context.Context, tenant, id string) (catalog.Provider, error) {
		if id == "missing" {
			return catalog.Provider{}, fmt.Errorf("provider %s: %w", id, catalog.ErrNotFound)
		}
		return catalog.Provider{ID: id, Name: "name-of-" + id, Kind: catalog.KindAPI}, nil
	})
	u.mgr, err = oauth.New(oauth.Config{Store: db, Secrets: catalogtest.NewSecrets(), Providers: providers,
		CallbackURL: "http://127.0.0.1:5002/oauth/callback", Grants: map[catalog.Kind]oauth.Grant{catalog.KindAPI: u.g},
		Locker: &countingLocker{n: &u.locks},
		Now:    func() time.Time { return time.Now().Add(time.Duration(u.now.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// callback delivers a callback for the state of a started flow.
func (u *unitEnv) callback(t testing.TB, query string) (oauth.FlowInfo, error) {
	t.Helper()
	return u.mgr.Callback(t.Context(), httptest.NewRequest("GET", "/oauth/callback?"+query, nil))
}

func stateOf(t testing.TB, st oauth.Started) string {
	t.Helper()
	_, s, ok := strings.Cut(st.AuthorizationURL, "state=")
	if !ok {
		t.Fatalf("no state in %s", st.AuthorizationURL)
	}
	return s
}

func TestClientsTenantOverSystem(t *testing.T) {
	u := newUnitEnv(t)
	ctx := t.Context()
	if _, err := u.mgr.SetClient(ctx, "", oauth.ClientSettings{Provider: "p1", ClientID: "system-id", ClientSecret: "system-secret", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	clientIn := func() string {
		st, err := u.mgr.Connect(ctx, "t1", "p1", "")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(st.AuthorizationURL, "client_id=")
		id, _, _ := strings.Cut(rest, "&")
		return id
	}
	if got := clientIn(); got != "system-id" {
		t.Fatalf("system client not used: %q", got)
	}
	cs, err := u.mgr.SetClient(ctx, "t1", oauth.ClientSettings{Provider: "p1", ClientID: "tenant-id", ClientSecret: "tenant-secret-1", Enabled: true})
	if err != nil || cs.ClientSecret != catalog.Mask("tenant-secret-1") {
		t.Fatalf("set: %+v %v", cs, err)
	}
	if got := clientIn(); got != "tenant-id" {
		t.Fatalf("tenant client does not override: %q", got)
	}
	// Sending back the mask keeps the secret; disabling falls back to the system client.
	if _, err := u.mgr.SetClient(ctx, "t1", oauth.ClientSettings{Provider: "p1", ClientID: "tenant-id", ClientSecret: cs.ClientSecret, Enabled: false}); err != nil {
		t.Fatal(err)
	}
	if got := clientIn(); got != "system-id" {
		t.Fatalf("a disabled tenant client is still used: %q", got)
	}
	list, err := u.mgr.Clients(ctx, "t1")
	if err != nil || len(list) != 2 || list[0].Level != oauth.LevelTenant || list[1].Level != oauth.LevelSystem || list[0].ClientSecret != catalog.Mask("tenant-secret-1") {
		t.Fatalf("clients: %+v %v", list, err)
	}
	// A system client may name an api provider by its name.
	if err := u.mgr.DeleteClient(ctx, "", "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.mgr.SetClient(ctx, "", oauth.ClientSettings{Provider: "name-of-p1", ClientID: "by-name", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if got := clientIn(); got != "by-name" {
		t.Fatalf("system client by name: %q", got)
	}
	if _, err := u.mgr.SetClient(ctx, "t1", oauth.ClientSettings{Provider: "p2", TokenURL: "ftp://x"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("a bad URL: %v", err)
	}
	if err := u.mgr.DeleteClient(ctx, "t1", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("deleting a missing client: %v", err)
	}
}

func TestStateSingleUseAndExpiry(t *testing.T) {
	u := newUnitEnv(t)
	ctx := t.Context()
	st, err := u.mgr.Connect(ctx, "t1", "p1", "u1")
	if err != nil {
		t.Fatal(err)
	}
	state := stateOf(t, st)
	if _, err := u.callback(t, "state=wrong&code=c"); !errors.Is(err, oauth.ErrFlow) {
		t.Fatalf("an unknown state: %v", err)
	}
	if _, err := u.callback(t, "state="+state); !errors.Is(err, oauth.ErrFlow) {
		t.Fatalf("neither code nor error: %v", err)
	}
	fi, err := u.callback(t, "state="+state+"&code=c1")
	if err != nil || fi.Status != oauth.FlowDone {
		t.Fatalf("callback: %+v %v", fi, err)
	}
	if _, err := u.callback(t, "state="+state+"&code=c1"); !errors.Is(err, oauth.ErrFlow) || !strings.Contains(err.Error(), "used already") {
		t.Fatalf("a second use: %v", err)
	}
	tok, err := u.mgr.Token(ctx, "t1", "p1")
	if err != nil || tok.AccessToken != "at-c1" {
		t.Fatalf("token: %+v %v", tok, err)
	}
	// A flow not completed in 5 minutes expires.
	st, _ = u.mgr.Connect(ctx, "t1", "p1", "u1")
	u.now.Add(int64(oauth.StateTTL + time.Second))
	if _, err := u.callback(t, "state="+stateOf(t, st)+"&code=c2"); !errors.Is(err, oauth.ErrFlow) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired state: %v", err)
	}
	if fi, _ := u.mgr.FlowStatus(ctx, "t1", st.FlowID); fi.Status != oauth.FlowExpired {
		t.Fatalf("status of an expired flow: %+v", fi)
	}
	// The server's error is the flow's error.
	u.now.Store(0)
	st, _ = u.mgr.Connect(ctx, "t1", "p1", "u1")
	if _, err := u.callback(t, "state="+stateOf(t, st)+"&error=access_denied&error_description=no+thanks"); err == nil || !strings.Contains(err.Error(), "no thanks") {
		t.Fatalf("an error callback: %v", err)
	}
	if fi, _ := u.mgr.FlowStatus(ctx, "t1", st.FlowID); fi.Status != oauth.FlowFailed || !strings.Contains(fi.Error, "access_denied") {
		t.Fatalf("status of a refused flow: %+v", fi)
	}
	if _, err := u.mgr.Connect(ctx, "t1", "missing", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("connecting a missing provider: %v", err)
	}
}

// connected connects t1/p1 through a callback.
func (u *unitEnv) connected(t testing.TB) {
	t.Helper()
	st, err := u.mgr.Connect(t.Context(), "t1", "p1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.callback(t, "state="+stateOf(t, st)+"&code=c"); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshOncePerCredential(t *testing.T) {
	u := newUnitEnv(t)
	u.connected(t)
	u.now.Store(int64(time.Hour - 30*time.Second)) // expires within the 60 s margin
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Go(func() {
			tok, err := u.mgr.Token(t.Context(), "t1", "p1")
			if err != nil || tok.AccessToken != "refreshed-1" {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := u.g.refreshes.Load(); n != 1 || failed.Load() != 0 {
		t.Fatalf("%d refreshes, %d failed calls", n, failed.Load())
	}
	// A caller that read the store before the refresh was saved takes the lock again after it,
	// reads the refreshed token and refreshes nothing.
	if u.locks.Load() < 1 {
		t.Fatal("the Locker was not taken")
	}
	// The refreshed token kept the refresh token the server did not replace.
	tok, _ := u.mgr.Token(t.Context(), "t1", "p1")
	if tok.RefreshToken != "rt" {
		t.Fatalf("refresh token lost: %+v", tok)
	}
}

func TestTransientRefreshFailureIsNotMarked(t *testing.T) {
	u := newUnitEnv(t)
	u.connected(t)
	u.g.refresh = func(int64) (oauth.Token, error) { return oauth.Token{}, errors.New("connection refused") }
	u.now.Store(int64(2 * time.Hour))
	if _, err := u.mgr.Token(t.Context(), "t1", "p1"); err == nil || errors.Is(err, oauth.ErrNeedsReauth) {
		t.Fatalf("a transient failure: %v", err)
	}
	if c, _ := u.mgr.Connection(t.Context(), "t1", "p1"); c.Status != oauth.StatusConnected {
		t.Fatalf("marked after a transient failure: %+v", c)
	}
	u.g.refresh = func(int64) (oauth.Token, error) {
		return oauth.Token{}, fmt.Errorf("invalid_grant: %w", oauth.ErrRefused)
	}
	_, err := u.mgr.Token(t.Context(), "t1", "p1")
	if !errors.Is(err, oauth.ErrNeedsReauth) {
		t.Fatalf("a refused refresh: %v", err)
	}
	n := u.g.refreshes.Load()
	for range 3 {
		if _, err := u.mgr.Token(t.Context(), "t1", "p1"); !errors.Is(err, oauth.ErrNeedsReauth) {
			t.Fatal(err)
		}
	}
	if u.g.refreshes.Load() != n {
		t.Fatal("a marked credential was refreshed again")
	}
}

func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"code=abc&state=xyz", "error=access_denied&error_description=no&state=s", "state=a&state=b&code=c",
		"code=%zz", "code=\x01", "iss=https%3A%2F%2Fas&code=c&state=s", "", "code=" + strings.Repeat("a", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cb, err := oauth.ParseCallback(q)
		if err != nil {
			return
		}
		if cb.Code == "" && cb.Error == "" {
			t.Fatalf("accepted %q without code or error", q)
		}
		for _, v := range []string{cb.State, cb.Code, cb.Error, cb.ErrorDescription, cb.Iss} {
			if len(v) > 4096 || strings.ContainsAny(v, "\x00\r\n") {
				t.Fatalf("accepted %q: value %q", q, v)
			}
		}
	})
}

// BenchmarkTokenCached is the hot path of every call of a connected provider: a cached token
// far from its expiry.
func BenchmarkTokenCached(b *testing.B) {
	u := newUnitEnv(b)
	u.connected(b)
	ctx := context.Background()
	if _, err := u.mgr.Authorization(ctx, "t1", "p1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := u.mgr.Authorization(ctx, "t1", "p1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
