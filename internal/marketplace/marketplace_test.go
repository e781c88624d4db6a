package marketplace_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
	"github.com/plugd/plugd/internal/pkgfile"
)

func fake(t *testing.T) (*marketplacetest.Server, *marketplace.Client) {
	t.Helper()
	s, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := marketplace.New(s.URL, "plugd-test")
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestSearchVersionsResolve(t *testing.T) {
	ctx := context.Background()
	_, c := fake(t)
	res, err := c.Search(ctx, "agent", 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Plugins) != 1 || res.Plugins[0].ID() != "langgenius/agent" || res.Plugins[0].LatestVersion != "0.0.14" {
		t.Fatalf("search: %+v", res)
	}
	if res, err := c.Search(ctx, "nothing-like-it", 1, 20); err != nil || res.Total != 0 {
		t.Fatalf("search for nothing: %+v, %v", res, err)
	}
	vs, err := c.Versions(ctx, "langgenius", "agent")
	if err != nil || len(vs) != 1 || vs[0].UniqueIdentifier != marketplacetest.AgentUID {
		t.Fatalf("versions: %+v, %v", vs, err)
	}
	for _, ref := range []string{"langgenius/agent", "langgenius/agent:0.0.14", marketplacetest.AgentUID} {
		r, err := marketplace.ParseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		uid, err := c.Resolve(ctx, r)
		if err != nil || uid != marketplacetest.AgentUID {
			t.Errorf("resolve %s: %q, %v", ref, uid, err)
		}
	}
}

func TestUnknownPluginNamesURLSettingAndID(t *testing.T) {
	ctx := context.Background()
	s, c := fake(t)
	for ref, want := range map[string]string{
		"langgenius/nope":        "langgenius/nope",
		"langgenius/agent:9.9.9": "version 9.9.9 is not published (versions: 0.0.14)",
		"langgenius/nope:1.0.0":  "langgenius/nope",
	} {
		r, _ := marketplace.ParseRef(ref)
		_, err := c.Resolve(ctx, r)
		if err == nil {
			t.Fatalf("resolve %s: no error", ref)
		}
		if !errors.Is(err, marketplace.ErrNotFound) {
			t.Errorf("resolve %s: %v is not ErrNotFound", ref, err)
		}
		for _, part := range []string{s.URL, "MARKETPLACE_API_URL", want} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("resolve %s: %q lacks %q", ref, err, part)
			}
		}
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	c, err := marketplace.New("http://"+addr, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), marketplace.Ref{Org: "langgenius", Name: "agent"})
	if err == nil || !strings.Contains(err.Error(), "http://"+addr) || !strings.Contains(err.Error(), "MARKETPLACE_API_URL") || !strings.Contains(err.Error(), "langgenius/agent") {
		t.Fatalf("unreachable marketplace: %v", err)
	}
}

func TestFetchCachesAndChecksEveryUse(t *testing.T) {
	ctx := context.Background()
	s, c := fake(t)
	checks := 0
	f := &marketplace.Fetcher{Client: c, CacheDir: t.TempDir(), Check: func(ctx context.Context, pkg *pkgfile.Package) error {
		checks++
		return nil
	}}
	var last int64
	got, err := f.Fetch(ctx, "langgenius/agent", func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if got.UniqueIdentifier != marketplacetest.AgentUID || got.Cached || last != int64(len(marketplacetest.AgentPackage(t))) {
		t.Fatalf("first fetch: %+v, progress %d", got, last)
	}
	again, err := f.Fetch(ctx, "langgenius/agent:0.0.14", nil)
	if err != nil || !again.Cached || again.Path != got.Path {
		t.Fatalf("second fetch: %+v, %v", again, err)
	}
	if s.Downloads.Load() != 1 || checks != 2 {
		t.Fatalf("downloads %d, checks %d: want 1 download and a check on each use", s.Downloads.Load(), checks)
	}
	// A cached file that changed is not used: it is fetched again.
	if err := os.WriteFile(got.Path, append([]byte(nil), marketplacetest.AgentPackage(t)[:1000]...), 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := f.Fetch(ctx, "langgenius/agent", nil)
	if err != nil || third.Cached || s.Downloads.Load() != 2 {
		t.Fatalf("fetch after damage: %+v, %v, downloads %d", third, err, s.Downloads.Load())
	}
	// The caller's policy refuses: Fetch fails and keeps nothing.
	f.Check = func(context.Context, *pkgfile.Package) error { return errors.New("refused by policy") }
	if _, err := f.Fetch(ctx, "langgenius/agent", nil); err == nil || !strings.Contains(err.Error(), "refused by policy") {
		t.Fatalf("fetch under a refusing policy: %v", err)
	}
	if _, err := os.Stat(got.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused package stayed in the cache: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]string{
		"langgenius/agent":        "langgenius/agent",
		"langgenius/agent:0.0.14": "langgenius/agent:0.0.14",
		marketplacetest.AgentUID:  marketplacetest.AgentUID,
	} {
		r, err := marketplace.ParseRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRef(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"agent", "a/b/c", "langgenius/agent@abc", "Lang/agent", "langgenius/agent:x", "./x.difypkg", ""} {
		if _, err := marketplace.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q): no error", bad)
		}
	}
	if marketplace.IsRef("x.difypkg") || !marketplace.IsRef("langgenius/agent") {
		t.Error("IsRef")
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"langgenius/agent", "langgenius/agent:0.0.14", marketplacetest.AgentUID, "a/b:1.2.3-beta@" + strings.Repeat("a", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := marketplace.ParseRef(s)
		if err != nil {
			return
		}
		again, err := marketplace.ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("%q -> %v -> %v, %v", s, r, again, err)
		}
	})
}
