package sqlstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/store"
)

func mcpStore(t *testing.T, s store.Store) mcpserver.Store {
	t.Helper()
	ms, ok := s.(mcpserver.Store)
	if !ok {
		t.Fatalf("%T does not implement mcpserver.Store", s)
	}
	return ms
}

func testMCPTokens(t *testing.T, s store.Store) {
	ms, ctx := mcpStore(t, s), ctxT(t)
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	at := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	a := mcpserver.Token{ID: "tok-a", Tenant: "t1", Name: "laptop", Hash: hash("a"), CreatedAt: at}
	b := mcpserver.Token{ID: "tok-b", Tenant: "t1", Set: "search", Hash: hash("b"), CreatedAt: at.Add(time.Second), ExpiresAt: at.Add(time.Hour)}
	ok(t, ms.CreateMCPToken(ctx, a))
	ok(t, ms.CreateMCPToken(ctx, b))
	ok(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "tok-c", Tenant: "t2", Hash: hash("c"), CreatedAt: at}))
	wantErr(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "tok-d", Tenant: "t1", Hash: hash("a")}), catalog.ErrConflict)
	wantErr(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "tok-e", Tenant: "t1"}), catalog.ErrInvalid, "hash")
	wantErr(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "", Tenant: "t1", Hash: hash("e")}), catalog.ErrInvalid, "token id")

	got := must(ms.MCPTokenByHash(ctx, hash("b")))
	if got.ID != "tok-b" || got.Tenant != "t1" || got.Set != "search" || !got.CreatedAt.Equal(b.CreatedAt) || !got.ExpiresAt.Equal(b.ExpiresAt) || !bytes.Equal(got.Hash, b.Hash) {
		t.Errorf("by hash: %+v", got)
	}
	if got := must(ms.MCPTokenByHash(ctx, hash("a"))); !got.ExpiresAt.IsZero() || got.Name != "laptop" {
		t.Errorf("a token without expiry: %+v", got)
	}
	_, err := ms.MCPTokenByHash(ctx, hash("nope"))
	wantErr(t, err, catalog.ErrNotFound)

	list := must(ms.ListMCPTokens(ctx, "t1"))
	if len(list) != 2 || list[0].ID != "tok-a" || list[1].ID != "tok-b" {
		t.Errorf("list: %+v", list)
	}
	wantErr(t, ms.DeleteMCPToken(ctx, "t2", "tok-a"), catalog.ErrNotFound) // another tenant's
	ok(t, ms.DeleteMCPToken(ctx, "t1", "tok-a"))
	wantErr(t, ms.DeleteMCPToken(ctx, "t1", "tok-a"), catalog.ErrNotFound)
	if _, err := ms.MCPTokenByHash(ctx, hash("a")); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a revoked token is still found: %v", err)
	}
}

func testMCPToolSets(t *testing.T, s store.Store) {
	ms, ctx := mcpStore(t, s), ctxT(t)
	set := mcpserver.ToolSet{Tenant: "t1", Name: "search", Description: "web", Providers: []string{"a/b/c"}, Tags: []string{"search"}, Tools: []string{"x/y"}}
	ok(t, ms.PutToolSet(ctx, set))
	got := must(ms.GetToolSet(ctx, "t1", "search"))
	if got.Name != "search" || got.Tenant != "t1" || got.Description != "web" || len(got.Providers) != 1 || got.Tags[0] != "search" || got.Tools[0] != "x/y" || got.UpdatedAt.IsZero() {
		t.Errorf("get: %+v", got)
	}
	set.Providers = nil
	ok(t, ms.PutToolSet(ctx, set)) // replace
	if got := must(ms.GetToolSet(ctx, "t1", "search")); len(got.Providers) != 0 {
		t.Errorf("replaced: %+v", got)
	}
	ok(t, ms.PutToolSet(ctx, mcpserver.ToolSet{Tenant: "t1", Name: "a-first", Tools: []string{"q/r"}}))
	ok(t, ms.PutToolSet(ctx, mcpserver.ToolSet{Tenant: "t2", Name: "search", Tools: []string{"q/r"}}))
	wantErr(t, ms.PutToolSet(ctx, mcpserver.ToolSet{Tenant: "t1"}), catalog.ErrInvalid, "tool set name")
	if list := must(ms.ListToolSets(ctx, "t1")); len(list) != 2 || list[0].Name != "a-first" || list[1].Name != "search" {
		t.Errorf("list: %+v", list)
	}
	_, err := ms.GetToolSet(ctx, "t3", "search")
	wantErr(t, err, catalog.ErrNotFound)

	// Deleting a set takes its tokens with it, and nobody else's.
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	ok(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "s1", Tenant: "t1", Set: "search", Hash: h("s1")}))
	ok(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "s2", Tenant: "t1", Hash: h("s2")}))
	ok(t, ms.CreateMCPToken(ctx, mcpserver.Token{ID: "s3", Tenant: "t2", Set: "search", Hash: h("s3")}))
	ok(t, ms.DeleteToolSet(ctx, "t1", "search"))
	wantErr(t, ms.DeleteToolSet(ctx, "t1", "search"), catalog.ErrNotFound)
	if list := must(ms.ListMCPTokens(ctx, "t1")); len(list) != 1 || list[0].ID != "s2" {
		t.Errorf("t1's tokens after deleting its set: %+v", list)
	}
	if list := must(ms.ListMCPTokens(ctx, "t2")); len(list) != 1 {
		t.Errorf("t2's tokens: %+v", list)
	}
}
