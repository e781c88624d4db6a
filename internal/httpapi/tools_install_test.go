package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// installServer serves the catalog's install route with a real Marketplace fetcher talking
// to the fake Marketplace at url (serving the official agent package), a policy that refuses
// while refuse is set, and a recording installer.
func installServer(t *testing.T, url string, refuse *atomic.Bool) (*httptest.Server, *fakeInstaller) {
	t.Helper()
	client, err := marketplace.New(url, "plugd-test")
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &marketplace.Fetcher{Client: client, CacheDir: filepath.Join(t.TempDir(), "cache"),
		Check: func(context.Context, *pkgfile.Package) error {
			if refuse.Load() {
				return &install.InputError{Field: "dify_pkg", Err: errors.New("not signed by a trusted key (test policy)")}
			}
			return nil
		}}
	inst := &fakeInstaller{}
	cat := toolsCatalog(t)
	srv := httptest.NewServer(New(Config{ServerKey: testKey, Tools: cat, Installer: inst, Marketplace: fetcher}))
	t.Cleanup(srv.Close)
	return srv, inst
}

func TestToolsInstallFromMarketplace(t *testing.T) {
	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.Close)
	var refuse atomic.Bool
	srv, inst := installServer(t, mp.URL, &refuse)

	for i, plugin := range []string{"langgenius/agent", "langgenius/agent:0.0.14", marketplacetest.AgentUID} {
		code, b := toolsDo(t, srv, "POST", "/tools/t1/install", map[string]any{"plugin": plugin})
		if code != 200 {
			t.Fatalf("install %s: %d %s", plugin, code, b)
		}
		var got MarketplaceInstalled
		envelopeData(t, b, &got)
		// The fake installer answers its own identifier for any upload.
		if got.TaskID != "task-1" || got.UniqueIdentifier != toolUID || got.Cached != (i > 0) {
			t.Fatalf("install %s: %s", plugin, b)
		}
		if !bytes.Equal(inst.uploaded, marketplacetest.AgentPackage(t)) {
			t.Fatalf("install %s: the installer got %d bytes, not the Marketplace's package", plugin, len(inst.uploaded))
		}
		if want := fmt.Sprintf("install t1 %s marketplace 1", toolUID); inst.lastCall() != want {
			t.Fatalf("install %s: last call %q, want %q", plugin, inst.lastCall(), want)
		}
	}
	if n := mp.Downloads.Load(); n != 1 {
		t.Errorf("%d downloads; the cache should serve all but the first", n)
	}

	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	deadSrv, _ := installServer(t, dead, &refuse)
	offSrv := httptest.NewServer(New(Config{ServerKey: testKey, Tools: toolsCatalog(t), Installer: &fakeInstaller{}}))
	t.Cleanup(offSrv.Close)

	calls := len(inst.calls)
	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		body   any
		refuse bool
		status int
		has    []string
	}{
		{"unknown plugin", srv, map[string]any{"plugin": "langgenius/nope"}, false, 404, []string{"langgenius/nope", mp.URL, "MARKETPLACE_API_URL"}},
		{"unknown version", srv, map[string]any{"plugin": "langgenius/agent:9.9.9"}, false, 404, []string{"9.9.9", "0.0.14"}},
		{"refused signature", srv, map[string]any{"plugin": "langgenius/agent"}, true, 400, []string{"not signed by a trusted key", "langgenius/agent:0.0.14"}},
		{"unreachable", deadSrv, map[string]any{"plugin": "langgenius/agent"}, false, 502, []string{dead, "MARKETPLACE_API_URL", "langgenius/agent"}},
		{"disabled", offSrv, map[string]any{"plugin": "langgenius/agent"}, false, 501, []string{"MARKETPLACE_ENABLED=false", "langgenius/agent"}},
		{"no plugin", srv, map[string]any{}, false, 400, []string{"field plugin is required"}},
		{"bad reference", srv, map[string]any{"plugin": "../../etc"}, false, 400, []string{"field plugin", "not a Marketplace plugin"}},
		{"not an object", srv, "langgenius/agent", false, 400, nil},
	} {
		refuse.Store(tc.refuse)
		code, b := toolsDo(t, tc.srv, "POST", "/tools/t1/install", tc.body)
		if code != tc.status || !strings.Contains(string(b), `"code":-`) {
			t.Errorf("%s: %d %s, want %d and an error envelope", tc.name, code, b, tc.status)
		}
		for _, w := range tc.has {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s does not say %q", tc.name, b, w)
			}
		}
	}
	refuse.Store(false)
	if len(inst.calls) != calls {
		t.Errorf("failed installs reached the installer: %v", inst.calls[calls:])
	}
}

// toolsCatalog is an empty catalog on a fresh SQLite store: the install route needs only
// the catalog's routes to be served.
func toolsCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets()})
}
