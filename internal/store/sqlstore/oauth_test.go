package sqlstore

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/store"
)

func oauthStore(t *testing.T, s store.Store) oauth.Store {
	t.Helper()
	os, ok := s.(oauth.Store)
	if !ok {
		t.Fatalf("%T does not implement oauth.Store", s)
	}
	return os
}

func testOAuthClients(t *testing.T, s store.Store) {
	os, ctx := oauthStore(t, s), ctxT(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	sys := oauth.StoredClient{Tenant: "", Provider: "a/b/c", Enabled: true, Body: []byte(`{"client_id":"x"}`), Sealed: []byte{0, 1, 2, 0xff}, UpdatedAt: at}
	ok(t, os.PutOAuthClient(ctx, sys))
	ok(t, os.PutOAuthClient(ctx, oauth.StoredClient{Tenant: "t1", Provider: "a/b/c", Body: []byte(`{}`)}))
	got := must(os.GetOAuthClient(ctx, "", "a/b/c"))
	if !got.Enabled || string(got.Body) != `{"client_id":"x"}` || string(got.Sealed) != string(sys.Sealed) || !got.UpdatedAt.Equal(at) {
		t.Errorf("system client: %+v", got)
	}
	if got := must(os.GetOAuthClient(ctx, "t1", "a/b/c")); got.Enabled || len(got.Sealed) != 0 {
		t.Errorf("tenant client: %+v", got)
	}
	sys.Enabled = false
	ok(t, os.PutOAuthClient(ctx, sys)) // replace
	if got := must(os.GetOAuthClient(ctx, "", "a/b/c")); got.Enabled {
		t.Error("replace kept enabled")
	}
	if l := must(os.ListOAuthClients(ctx, "")); len(l) != 1 || l[0].Tenant != "" {
		t.Errorf("system list: %+v", l)
	}
	wantErr(t, os.PutOAuthClient(ctx, oauth.StoredClient{Tenant: "t1", Body: []byte(`{}`)}), catalog.ErrInvalid, "provider")
	ok(t, os.DeleteOAuthClient(ctx, "t1", "a/b/c"))
	wantErr(t, os.DeleteOAuthClient(ctx, "t1", "a/b/c"), catalog.ErrNotFound)
	_, err := os.GetOAuthClient(ctx, "t1", "a/b/c")
	wantErr(t, err, catalog.ErrNotFound)
}

func testOAuthFlows(t *testing.T, s store.Store) {
	os, ctx := oauthStore(t, s), ctxT(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	f := oauth.StoredFlow{ID: "f1", StateHash: "h1", Tenant: "t1", Provider: "p", UserID: "u", Status: oauth.FlowPending, Sealed: []byte("s"),
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	ok(t, os.CreateOAuthFlow(ctx, f))
	wantErr(t, os.CreateOAuthFlow(ctx, f), catalog.ErrConflict)
	if got := must(os.OAuthFlowByState(ctx, "h1")); got.ID != "f1" || got.UserID != "u" || !got.ExpiresAt.Equal(f.ExpiresAt) {
		t.Errorf("by state: %+v", got)
	}
	// Ten claims at once: exactly one wins.
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := os.ClaimOAuthFlow(ctx, "h1", now); err == nil {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d claims won", won.Load())
	}
	got, err := os.ClaimOAuthFlow(ctx, "h1", now)
	wantErr(t, err, catalog.ErrConflict)
	if got.Status != oauth.FlowExchanging {
		t.Errorf("a used flow: %+v", got)
	}
	ok(t, os.FinishOAuthFlow(ctx, "f1", oauth.FlowDone, ""))
	if got := must(os.GetOAuthFlow(ctx, "t1", "f1")); got.Status != oauth.FlowDone {
		t.Errorf("finished: %+v", got)
	}
	_, err = os.GetOAuthFlow(ctx, "t2", "f1")
	wantErr(t, err, catalog.ErrNotFound)
	// An expired flow cannot be claimed.
	ok(t, os.CreateOAuthFlow(ctx, oauth.StoredFlow{ID: "f2", StateHash: "h2", Tenant: "t1", Provider: "p", Status: oauth.FlowPending,
		Sealed: []byte("s"), ExpiresAt: now.Add(time.Minute)}))
	_, err = os.ClaimOAuthFlow(ctx, "h2", now.Add(2*time.Minute))
	wantErr(t, err, catalog.ErrConflict)
	_, err = os.ClaimOAuthFlow(ctx, "nope", now)
	wantErr(t, err, catalog.ErrNotFound)
}

func testOAuthCredentials(t *testing.T, s store.Store) {
	os, ctx := oauthStore(t, s), ctxT(t)
	c := oauth.StoredCredential{Tenant: "t1", Provider: "p", Status: oauth.StatusConnected, Body: []byte(`{"kind":"api"}`), Sealed: []byte("v1")}
	wantErr(t, func() error { _, err := os.PutOAuthCredential(ctx, c, 3); return err }(), catalog.ErrConflict)
	if v := must(os.PutOAuthCredential(ctx, c, 0)); v != 1 {
		t.Errorf("first version %d", v)
	}
	if v := must(os.PutOAuthCredential(ctx, c, -1)); v != 2 {
		t.Errorf("unconditional write: version %d", v)
	}
	c.Sealed = []byte("v3")
	_, err := os.PutOAuthCredential(ctx, c, 1) // stale
	wantErr(t, err, catalog.ErrConflict)
	if v := must(os.PutOAuthCredential(ctx, c, 2)); v != 3 {
		t.Errorf("compare-and-swap: version %d", v)
	}
	got := must(os.GetOAuthCredential(ctx, "t1", "p"))
	if got.Version != 3 || string(got.Sealed) != "v3" || got.Status != oauth.StatusConnected || got.UpdatedAt.IsZero() {
		t.Errorf("read: %+v", got)
	}
	if l := must(os.ListOAuthCredentials(ctx, "t1")); len(l) != 1 {
		t.Errorf("list: %+v", l)
	}
	ok(t, os.DeleteOAuthCredential(ctx, "t1", "p"))
	wantErr(t, os.DeleteOAuthCredential(ctx, "t1", "p"), catalog.ErrNotFound)
}
