package plugintools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/wire"
)

func i18n(s string) manifest.I18n { return manifest.I18n{EnUS: s} }

func TestInputSchema(t *testing.T) {
	lo, hi := 1.0, 9.0
	got := plugintools.InputSchema([]manifest.ToolParameter{
		{Name: "q", Type: "string", Form: "llm", Required: true, LLMDescription: "the query", Label: i18n("Query")},
		{Name: "n", Type: "number", Form: "form", Min: &lo, Max: &hi, Default: 3.0, HumanDescription: i18n("how many")},
		{Name: "lang", Type: "select", Form: "form", Options: []manifest.ParameterOption{{Value: "en"}, {Value: "de"}}},
		{Name: "tags", Type: "select", Multiple: true, Options: []manifest.ParameterOption{{Value: "a"}}},
		{Name: "ok", Type: "boolean"},
		{Name: "files", Type: "files"},
		{Name: "model", Type: "model-selector"},
	})
	var s map[string]any
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "object", "required": []any{"q"}, "properties": map[string]any{
		"q":     map[string]any{"type": "string", "description": "the query", "title": "Query"},
		"n":     map[string]any{"type": "number", "minimum": 1.0, "maximum": 9.0, "default": 3.0, "description": "how many"},
		"lang":  map[string]any{"type": "string", "enum": []any{"en", "de"}},
		"tags":  map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{"a"}}},
		"ok":    map[string]any{"type": "boolean"},
		"files": map[string]any{"type": "array"},
		"model": map[string]any{"type": "object"},
	}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("schema\n got %v\nwant %v", s, want)
	}
}

// TestSource reads installations and declarations from a real store: a packaged and a
// remote-debug installation, each tenant its own.
func TestSource(t *testing.T) {
	ctx := t.Context()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	install := func(tenant, id, runtimeType string, withTool bool) {
		p := manifest.Plugin{Version: "1.2.3", Author: "a", Name: id}
		if withTool {
			p.Tool = &manifest.ToolProvider{Identity: manifest.ProviderIdentity{Name: "prov", Label: i18n("Prov")},
				CredentialsSchema: []manifest.ProviderConfig{{Name: "api_key", Type: "secret-input", Required: true}},
				Tools:             []manifest.Tool{{Identity: manifest.Identity{Name: "t1", Label: i18n("T1")}, Description: manifest.ToolDescription{LLM: "does t1"}}}}
		}
		decl, _ := json.Marshal(p)
		uid := fmt.Sprintf("a/%s:1.2.3@%064x", id, len(id)+len(tenant))
		if err := db.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: uid, PluginID: "a/" + id, Declaration: decl}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Install(ctx, store.Installation{TenantID: tenant, PluginID: "a/" + id, UniqueIdentifier: uid, RuntimeType: runtimeType},
			store.Plugin{UniqueIdentifier: uid, PluginID: "a/" + id, InstallType: runtimeType}); err != nil {
			t.Fatal(err)
		}
	}
	install("t", "one", "local", true)
	install("t", "model", "local", false)
	install("u", "dbg", "remote", true)
	src := plugintools.NewSource(db)
	for range 2 { // the second read comes from the declaration cache
		got, err := src.Installed(ctx, "t")
		if err != nil || len(got) != 2 {
			t.Fatalf("installed: %+v %v", got, err)
		}
		var one catalog.InstalledPlugin
		for _, ip := range got {
			if ip.PluginID == "a/one" {
				one = ip
			} else if len(ip.Providers) != 0 {
				t.Fatalf("a plugin without tools has providers: %+v", ip)
			}
		}
		if one.Version != "1.2.3" || one.Remote || len(one.Providers) != 1 || one.Providers[0].ID != "a/one/prov" ||
			one.Providers[0].Tools[0].Description != "does t1" || one.Providers[0].CredentialsSchema[0].Name != "api_key" {
			t.Fatalf("a/one: %+v", one)
		}
		one.Providers[0].Name = "changed by a caller" // must not leak into the cache
	}
	got, err := src.Installed(ctx, "u")
	if err != nil || len(got) != 1 || !got[0].Remote || got[0].Providers[0].ID != "a/dbg/prov" {
		t.Fatalf("tenant u: %+v %v", got, err)
	}
}

// wireStream hands out prepared items.
type wireStream struct {
	items []wire.SessionMessage
	err   error
}

func (w *wireStream) Next() (wire.SessionMessage, error) {
	if len(w.items) == 0 {
		if w.err != nil {
			return wire.SessionMessage{}, w.err
		}
		return wire.SessionMessage{}, io.EOF
	}
	m := w.items[0]
	w.items = w.items[1:]
	return m, nil
}
func (w *wireStream) Close() {}

func TestCaller(t *testing.T) {
	var gotData json.RawMessage
	var gotIC runtime.InvokeContext
	var gotUID string
	c := plugintools.NewCaller(func(_ context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		gotUID, gotData, gotIC = uid, data, ic
		if access != wire.AccessTool || action != wire.ActionInvokeTool {
			t.Fatalf("%s %s", access, action)
		}
		return &wireStream{items: []wire.SessionMessage{
			{Type: wire.MessageStream, Data: json.RawMessage(`{"type":"text","message":{"text":"hi"}}`)},
			{Type: wire.MessageEnd, Data: json.RawMessage(`{}`)},
		}}, nil
	})
	inv := catalog.Invocation{Tenant: "t", UserID: "u", Provider: catalog.Provider{Name: "prov", PluginUniqueIdentifier: "a/b:1@x"},
		Tool: catalog.Tool{Name: "t1"}, Arguments: map[string]any{"q": 1}}
	st, err := c.Call(t.Context(), inv)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Next()
	if err != nil || m.Type != "text" || string(m.Message) != `{"text":"hi"}` {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	if gotUID != "a/b:1@x" || gotIC.TenantID != "t" || gotIC.UserID != "u" ||
		string(gotData) != `{"credential_type":"api-key","credentials":{},"provider":"prov","tool":"t1","tool_parameters":{"q":1}}` {
		t.Fatalf("request: %s %s %+v", gotUID, gotData, gotIC)
	}
	// OAuth tokens go as credential_type oauth2; no arguments as {} (the SDK refuses null).
	st, err = c.Call(t.Context(), catalog.Invocation{Provider: inv.Provider, Tool: inv.Tool, CredentialType: "oauth2",
		Credentials: map[string]string{"access_token": "tok"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if string(gotData) != `{"credential_type":"oauth2","credentials":{"access_token":"tok"},"provider":"prov","tool":"t1","tool_parameters":{}}` {
		t.Fatalf("request with OAuth credentials: %s", gotData)
	}

	// The plugin's own error becomes a failed call naming it.
	c = plugintools.NewCaller(func(context.Context, string, wire.AccessType, wire.Action, json.RawMessage, runtime.InvokeContext) (plugintools.WireStream, error) {
		return &wireStream{err: fmt.Errorf("request: %w", &wire.SessionError{ErrorType: "ValueError", Message: "boom"})}, nil
	})
	st, _ = c.Call(t.Context(), inv)
	if _, err := st.Next(); !errors.Is(err, catalog.ErrCallFailed) || err.Error() != "ValueError: boom: call failed" {
		t.Fatalf("plugin error: %v", err)
	}
}

type fakeOAuth map[string]any // provider id -> map[string]string or error

func (f fakeOAuth) Credentials(_ context.Context, tenant, provider string) (map[string]string, bool, error) {
	switch v := f[provider].(type) {
	case map[string]string:
		return v, true, nil
	case error:
		return nil, false, v
	}
	return nil, false, nil
}

// TestCallerOAuth: a call without credentials uses the provider's OAuth connection when it
// has one, and fails with its error when it cannot be used.
func TestCallerOAuth(t *testing.T) {
	var got map[string]any
	reauth := errors.New("needs re-authorization: run plugd tools connect")
	c := plugintools.NewCaller(func(_ context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		got = nil
		json.Unmarshal(data, &got)
		return &wireStream{}, nil
	}).WithOAuth(fakeOAuth{"a/b/connected": map[string]string{"access_token": "tok"}, "a/b/expired": reauth})
	call := func(provider string, creds map[string]string) error {
		st, err := c.Call(t.Context(), catalog.Invocation{Tenant: "t", Provider: catalog.Provider{ID: provider, Name: "p", PluginUniqueIdentifier: "a/b:1@x"},
			Tool: catalog.Tool{Name: "t1"}, Credentials: creds})
		if err == nil {
			st.Close()
		}
		return err
	}
	for _, c := range []struct {
		provider string
		creds    map[string]string
		want     string
	}{
		{"a/b/connected", nil, `{"access_token":"tok"}oauth2`},
		{"a/b/connected", map[string]string{"api_key": "k"}, `{"api_key":"k"}api-key`}, // given credentials win
		{"a/b/never", nil, `{}api-key`},
	} {
		if err := call(c.provider, c.creds); err != nil {
			t.Fatal(err)
		}
		creds, _ := json.Marshal(got["credentials"])
		if s := string(creds) + got["credential_type"].(string); s != c.want {
			t.Errorf("%s with %v: sent %s, want %s", c.provider, c.creds, s, c.want)
		}
	}
	if err := call("a/b/expired", nil); !errors.Is(err, reauth) {
		t.Errorf("a connection needing re-authorization: %v", err)
	}
}
