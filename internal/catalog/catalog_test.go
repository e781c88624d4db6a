package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// plugins is a plugin source the test changes: what each tenant has installed.
type plugins struct {
	mu sync.Mutex
	m  map[string][]catalog.InstalledPlugin
}

func (p *plugins) Installed(_ context.Context, tenant string) ([]catalog.InstalledPlugin, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]catalog.InstalledPlugin, len(p.m[tenant]))
	for i, ip := range p.m[tenant] {
		ip.Providers = append([]catalog.Provider(nil), ip.Providers...)
		out[i] = ip
	}
	return out, nil
}

func (p *plugins) set(tenant string, list ...catalog.InstalledPlugin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[tenant] = list
}

func plugin(id, version string, tools ...string) catalog.InstalledPlugin {
	ip := catalog.InstalledPlugin{PluginID: id, UniqueIdentifier: id + ":" + version + "@x", Version: version}
	p := catalog.Provider{ID: id + "/prov", Name: "prov"}
	for _, t := range tools {
		p.Tools = append(p.Tools, catalog.Tool{Name: t, InputSchema: json.RawMessage(`{"type":"object"}`)})
	}
	ip.Providers = []catalog.Provider{p}
	return ip
}

// echoCaller answers every call with the arguments and credentials it got.
type echoCaller struct{}

type msgs struct{ m []catalog.Message }

func (s *msgs) Next() (catalog.Message, error) {
	if len(s.m) == 0 {
		return catalog.Message{}, io.EOF
	}
	m := s.m[0]
	s.m = s.m[1:]
	return m, nil
}
func (s *msgs) Close() {}

func (echoCaller) Call(_ context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	m, err := catalog.JSONMessage(map[string]any{"tenant": inv.Tenant, "tool": inv.Tool.Name, "args": inv.Arguments, "creds": inv.Credentials})
	return &msgs{m: []catalog.Message{m}}, err
}

func newTestCatalog(t *testing.T) (*catalog.Catalog, *plugins, *sqlstore.DB) {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	src := &plugins{m: map[string][]catalog.InstalledPlugin{}}
	c := catalog.New(catalog.Config{Store: db, Plugins: src, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindPlugin: echoCaller{}, catalog.KindAPI: echoCaller{}}})
	return c, src, db
}

func apiProvider(name string, tools ...string) catalog.NewProvider {
	np := catalog.NewProvider{Kind: catalog.KindAPI, Name: name, Credentials: map[string]string{"api_key": "sk-1234567890"}}
	for _, t := range tools {
		np.Tools = append(np.Tools, catalog.Tool{Name: t, InputSchema: json.RawMessage(`{"type":"object","required":["q"]}`)})
	}
	return np
}

func TestCheckReasons(t *testing.T) {
	ctx := t.Context()
	c, src, _ := newTestCatalog(t)
	src.set("t", plugin("a/one", "1.0.0", "x", "y"), plugin("a/two", "1.0.0", "z"))
	api, err := c.Add(ctx, "t", apiProvider("pets", "list", "get"))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.Add(ctx, "t", apiProvider("gone", "op"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, "t", catalog.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	// Upgrade a/one to a version without y, uninstall a/two, re-import pets without get,
	// remove gone.
	src.set("t", plugin("a/one", "2.0.0", "x"))
	if _, err := c.Replace(ctx, "t", api.ID, apiProvider("pets", "list")); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "t", gone.ID); err != nil {
		t.Fatal(err)
	}
	refs := []catalog.ToolRef{
		{Type: "builtin", ProviderID: "a/one/prov", ToolName: "x"},
		{Type: "plugin", ProviderID: "a/one/prov", ToolName: "y"},
		{Type: "plugin", ProviderID: "a/one/other", ToolName: "x"},
		{Type: "plugin", ProviderID: "a/two/prov", ToolName: "z"},
		{Type: "api", ProviderID: api.ID, ToolName: "list"},
		{Type: "api", ProviderID: api.ID, ToolName: "get"},
		{Type: "api", ProviderID: api.ID, ToolName: "never"},
		{Type: "api", ProviderID: gone.ID, ToolName: "op"},
		{Type: "workflow", ProviderID: api.ID, ToolName: "list"},
		{Type: "dataset", ProviderID: "x", ToolName: "y"},
	}
	deleted, err := c.Check(ctx, "t", refs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range deleted {
		got[d.Type+" "+d.ProviderID+" "+d.ToolName] = d.Reason
		if d.Detail == "" {
			t.Errorf("%+v has no detail", d)
		}
	}
	want := map[string]string{
		"plugin a/one/prov y":          catalog.ReasonToolNotInVersion,
		"plugin a/one/other x":         catalog.ReasonProviderNotInPlugin,
		"plugin a/two/prov z":          catalog.ReasonProviderUninstalled,
		"api " + api.ID + " get":       catalog.ReasonOperationRemoved,
		"api " + api.ID + " never":     catalog.ReasonToolNotFound,
		"api " + gone.ID + " op":       catalog.ReasonProviderRemoved,
		"workflow " + api.ID + " list": catalog.ReasonProviderRemoved,
		"dataset x y":                  catalog.ReasonUnknownType,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("check:\n got %v\nwant %v", got, want)
	}
	// Another tenant has none of it.
	deleted, err = c.Check(ctx, "other", refs[:1])
	if err != nil || len(deleted) != 1 || deleted[0].Reason != catalog.ReasonProviderUninstalled {
		t.Fatalf("other tenant: %+v %v", deleted, err)
	}
}

func TestChangeLog(t *testing.T) {
	ctx := t.Context()
	c, src, _ := newTestCatalog(t)
	cs, err := c.Changes(ctx, "t", 0, 0)
	if err != nil || cs.Version != 0 || len(cs.Changes) != 0 {
		t.Fatalf("fresh: %+v %v", cs, err)
	}
	src.set("t", plugin("a/one", "1.0.0", "x", "y"))
	cs, _ = c.Changes(ctx, "t", 0, 0)
	if kinds(cs) != "provider_added a/one/prov,tool_added a/one/prov/x,tool_added a/one/prov/y" || cs.Version != 3 {
		t.Fatalf("after install: %s (v%d)", kinds(cs), cs.Version)
	}
	src.set("t", plugin("a/one", "2.0.0", "x", "w"))
	cs, _ = c.Changes(ctx, "t", 3, 0)
	if kinds(cs) != "provider_updated a/one/prov,tool_removed a/one/prov/y,tool_added a/one/prov/w" {
		t.Fatalf("after upgrade: %s", kinds(cs))
	}
	if cs.Changes[1].Reason != catalog.ReasonToolNotInVersion || !strings.Contains(cs.Changes[1].Detail, "2.0.0") {
		t.Fatalf("upgrade removal: %+v", cs.Changes[1])
	}
	v := cs.Version
	// Nothing changed: nothing recorded, the version stays.
	if cs, _ = c.Changes(ctx, "t", v, 0); len(cs.Changes) != 0 || cs.Version != v {
		t.Fatalf("no change: %+v", cs)
	}
	src.set("t")
	cs, _ = c.Changes(ctx, "t", v, 0)
	if kinds(cs) != "provider_removed a/one/prov,tool_removed a/one/prov/x,tool_removed a/one/prov/w" || cs.Changes[0].Reason != catalog.ReasonProviderUninstalled {
		t.Fatalf("after uninstall: %s", kinds(cs))
	}
	if cs, err := c.Changes(ctx, "t", -1, 0); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("negative since: %+v %v", cs, err)
	}
}

func kinds(cs catalog.ChangeSet) string {
	var out []string
	for _, ch := range cs.Changes {
		s := string(ch.Kind) + " " + ch.ProviderID
		if ch.Tool != "" {
			s += "/" + ch.Tool
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestProvidersAndCalls(t *testing.T) {
	ctx := t.Context()
	c, src, db := newTestCatalog(t)
	src.set("t", plugin("a/one", "1.0.0", "x"))
	p, err := c.Add(ctx, "t", apiProvider("pets", "list"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Credentials["api_key"] != "sk*********90" {
		t.Fatalf("masked on add: %v", p.Credentials)
	}
	if _, err := c.Add(ctx, "t", apiProvider("pets", "other")); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []catalog.NewProvider{
		{Kind: catalog.KindPlugin, Name: "x"}, {Kind: "nope", Name: "x"}, {Kind: catalog.KindAPI, Name: ""},
		{Kind: catalog.KindAPI, Name: "a/b"}, apiProvider("dup", "t", "t"),
	} {
		if _, err := c.Add(ctx, "t", bad); err == nil {
			t.Errorf("added %+v", bad)
		}
	}
	list, err := c.List(ctx, "t", catalog.ListOptions{})
	if err != nil || len(list) != 2 || list[0].Kind != catalog.KindPlugin || list[1].ID != p.ID || list[1].Credentials["api_key"] == "sk-1234567890" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if l, _ := c.List(ctx, "t", catalog.ListOptions{Kind: catalog.KindAPI}); len(l) != 1 {
		t.Fatalf("kind filter: %+v", l)
	}
	// The caller gets the credentials in clear; answers never show them.
	st, err := c.Call(ctx, "t", catalog.CallRequest{ProviderID: p.ID, Tool: "list", Arguments: map[string]any{"q": "cats"}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Next()
	if !strings.Contains(string(m.Message), `"api_key":"sk-1234567890"`) || !strings.Contains(string(m.Message), `"tenant":"t"`) {
		t.Fatalf("call: %s", m.Message)
	}
	got, err := c.Get(ctx, "t", p.ID)
	if err != nil || got.Credentials["api_key"] != "sk*********90" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// The database holds no secret in clear.
	var body string
	var sealed []byte
	if err := rawRow(db, p.ID, &body, &sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "sk-1234567890") || strings.Contains(string(sealed), "sk-1234567890") || len(sealed) == 0 {
		t.Fatalf("stored in clear: %s / %q", body, sealed)
	}
	// Re-import: a masked value keeps the stored secret; nil keeps all.
	np := apiProvider("pets", "list")
	np.Credentials = map[string]string{"api_key": "sk*********90"}
	if _, err := c.Replace(ctx, "t", p.ID, np); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Call(ctx, "t", catalog.CallRequest{ProviderID: p.ID, Tool: "list", Arguments: map[string]any{"q": 1}})
	if m, _ := st.Next(); !strings.Contains(string(m.Message), `"sk-1234567890"`) {
		t.Fatalf("masked re-import lost the secret: %s", m.Message)
	}
	// Tenant isolation: another tenant can neither see, call, pin nor remove it.
	if _, err := c.Get(ctx, "u", p.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant get: %v", err)
	}
	if _, err := c.Call(ctx, "u", catalog.CallRequest{ProviderID: p.ID, Tool: "list", Arguments: map[string]any{"q": 1}}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant call: %v", err)
	}
	if _, err := c.Call(ctx, "u", catalog.CallRequest{ProviderID: "a/one/prov", Tool: "x"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant plugin call: %v", err)
	}
	if err := c.Remove(ctx, "u", p.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant remove: %v", err)
	}
	on := true
	if _, err := c.SetPreference(ctx, "u", catalog.PreferenceChange{Target: catalog.TargetProvider, Name: p.ID, Pinned: &on}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("other tenant pin: %v", err)
	}
	if l, _ := c.List(ctx, "u", catalog.ListOptions{}); len(l) != 0 {
		t.Fatalf("other tenant list: %+v", l)
	}
	// Errors name what is wrong.
	if _, err := c.Call(ctx, "t", catalog.CallRequest{ProviderID: p.ID, Tool: "list"}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "q") {
		t.Fatalf("missing argument: %v", err)
	}
	if _, err := c.Call(ctx, "t", catalog.CallRequest{ProviderID: p.ID, Tool: "nope"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing tool: %v", err)
	}
	if err := c.Remove(ctx, "t", "a/one/prov"); !errors.Is(err, catalog.ErrReadOnly) {
		t.Fatalf("remove a plugin provider: %v", err)
	}
	if _, err := c.List(ctx, "", catalog.ListOptions{}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("empty tenant: %v", err)
	}
	// Preferences merge: hiding keeps a pin.
	if _, err := c.SetPreference(ctx, "t", catalog.PreferenceChange{Target: catalog.TargetTool, Name: p.ID + "/list", Pinned: &on}); err != nil {
		t.Fatal(err)
	}
	pref, err := c.SetPreference(ctx, "t", catalog.PreferenceChange{Target: catalog.TargetTool, Name: p.ID + "/list", Hidden: &on})
	if err != nil || !pref.Pinned || !pref.Hidden {
		t.Fatalf("merged preference: %+v %v", pref, err)
	}
	if _, err := c.SetPreference(ctx, "t", catalog.PreferenceChange{Target: "user", Name: p.ID}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("bad target: %v", err)
	}
	if err := c.Remove(ctx, "t", p.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.List(ctx, "t", catalog.ListOptions{ShowHidden: true}); len(l) != 1 {
		t.Fatalf("after remove: %+v", l)
	}
}

func rawRow(db *sqlstore.DB, id string, body *string, sealed *[]byte) error {
	sp, err := db.GetProvider(context.Background(), "t", id)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(sp.Provider)
	*body, *sealed = string(b), sp.SealedCredentials
	return nil
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "***", "abcdef": "******", "abcdefg": "ab***fg", "sk-1234567890": "sk*********90", "ééééééé": "éé***éé"} {
		if got := catalog.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRecordOnce: several catalogs on one database (several plugd processes) that see the same
// install at the same moment record it once.
func TestRecordOnce(t *testing.T) {
	c1, src, db := newTestCatalog(t)
	c2 := catalog.New(catalog.Config{Store: db, Plugins: src})
	src.set("t", plugin("a/one", "1.0.0", "x"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if i%2 == 1 {
				c = c2
			}
			_, err := c.List(t.Context(), "t", catalog.ListOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cs, err := c2.Changes(t.Context(), "t", 0, 0)
	if err != nil || kinds(cs) != "provider_added a/one/prov,tool_added a/one/prov/x" {
		t.Fatalf("recorded: %s %v", kinds(cs), err)
	}
}

func TestCheckLanggeniusShortName(t *testing.T) {
	c, src, _ := newTestCatalog(t)
	ip := plugin("langgenius/time", "1.0.0", "now")
	ip.Providers[0].ID, ip.Providers[0].Name = "langgenius/time/time", "time"
	src.set("t", ip)
	d, err := c.Check(t.Context(), "t", []catalog.ToolRef{{Type: "builtin", ProviderID: "time", ToolName: "now"}, {Type: "builtin", ProviderID: "time", ToolName: "gone"}})
	if err != nil || len(d) != 1 || d[0].ToolName != "gone" || d[0].Reason != catalog.ReasonToolNotInVersion {
		t.Fatalf("short name: %+v %v", d, err)
	}
}

func TestPluginCredentials(t *testing.T) {
	ctx := t.Context()
	c, src, _ := newTestCatalog(t)
	ip := plugin("a/one", "1.0.0", "x")
	ip.Providers[0].CredentialsSchema = []catalog.CredentialField{{Name: "api_key", Type: "secret-input", Required: true}}
	src.set("t", ip)
	if _, err := c.SetCredentials(ctx, "t", "a/one/prov", map[string]string{"other": "v"}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("missing required credential: %v", err)
	}
	p, err := c.SetCredentials(ctx, "t", "a/one/prov", map[string]string{"api_key": "plugin-secret-1"})
	if err != nil || p.Credentials["api_key"] != "pl***********-1" {
		t.Fatalf("set: %+v %v", p, err)
	}
	list, _ := c.List(ctx, "t", catalog.ListOptions{})
	if len(list) != 1 || list[0].Kind != catalog.KindPlugin || list[0].Credentials["api_key"] != "******" {
		t.Fatalf("list: %+v", list)
	}
	call := func(creds map[string]string) string {
		st, err := c.Call(ctx, "t", catalog.CallRequest{ProviderID: "a/one/prov", Tool: "x", Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := st.Next()
		return string(m.Message)
	}
	if m := call(nil); !strings.Contains(m, `"api_key":"plugin-secret-1"`) {
		t.Fatalf("stored credentials not used: %s", m)
	}
	if m := call(map[string]string{"api_key": "per-call"}); !strings.Contains(m, `"per-call"`) {
		t.Fatalf("per-call credentials not preferred: %s", m)
	}
	if _, err := c.SetCredentials(ctx, "u", "a/one/prov", map[string]string{"api_key": "x"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	if _, err := c.SetCredentials(ctx, "t", "0193-uuid", map[string]string{"api_key": "x"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("not a plugin provider: %v", err)
	}
	if _, err := c.SetCredentials(ctx, "t", "a/one/prov", nil); err != nil {
		t.Fatal(err)
	}
	if m := call(nil); strings.Contains(m, "plugin-secret-1") {
		t.Fatalf("cleared credentials still used: %s", m)
	}
}

// TestPluginWithoutTools: installing a plugin that has no tool provider (an agent strategy, a
// model) changes the record of installed plugins without writing a change, so the version
// stays; listing must still see the new record rather than record it again forever (it once
// spun at full CPU and never answered).
func TestPluginWithoutTools(t *testing.T) {
	c, src, db := newTestCatalog(t)
	c2 := catalog.New(catalog.Config{Store: db, Plugins: src})
	src.set("t", plugin("a/one", "1.0.0", "x"))
	for _, cat := range []*catalog.Catalog{c, c2} {
		if _, err := cat.List(t.Context(), "t", catalog.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	agent := catalog.InstalledPlugin{PluginID: "a/agent", UniqueIdentifier: "a/agent:1.0.0@x", Version: "1.0.0"}
	src.set("t", plugin("a/one", "1.0.0", "x"), agent)
	for i, cat := range []*catalog.Catalog{c, c2, c} {
		list, err := cat.List(t.Context(), "t", catalog.ListOptions{})
		if err != nil || len(list) != 1 || list[0].ID != "a/one/prov" {
			t.Fatalf("list %d after installing a plugin without tools: %+v %v", i, list, err)
		}
	}
	cs, err := c.Changes(t.Context(), "t", 0, 0)
	if err != nil || kinds(cs) != "provider_added a/one/prov,tool_added a/one/prov/x" {
		t.Fatalf("changes: %s %v", kinds(cs), err)
	}
}
