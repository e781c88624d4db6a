package pluginoauth_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

func TestRawRequest(t *testing.T) {
	get := httptest.NewRequest(http.MethodGet, "http://plugd.example:8080/oauth/plugin/github/callback?code=abc&state=x%20y", nil)
	get.Header.Set("User-Agent", "Mozilla/5.0")
	get.Header.Add("Accept", "text/html")
	get.Header.Add("Accept", "*/*")
	get.Header.Set("Cookie", "console_session=secret")
	get.Header.Set("Authorization", "Bearer daemon-key")
	get.Header.Set("X-Bad", "a\r\nInjected: 1")

	post := httptest.NewRequest(http.MethodPost, "http://plugd.example/cb", strings.NewReader("code=abc&state=s"))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Transfer-Encoding", "chunked")

	handBuilt := &http.Request{Method: "GET", URL: &url.URL{Host: "h", Path: "/a b", RawQuery: "q=1 2#x"}, Header: http.Header{}}

	for _, c := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"get", get, "GET /oauth/plugin/github/callback?code=abc&state=x%20y HTTP/1.1\r\nHost: plugd.example:8080\r\n" +
			"Accept: text/html, */*\r\nUser-Agent: Mozilla/5.0\r\n\r\n"},
		{"post", post, "POST /cb HTTP/1.1\r\nHost: plugd.example\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 16\r\n\r\ncode=abc&state=s"},
		{"hand-built", handBuilt, "GET /a%20b?q=1%202%23x HTTP/1.1\r\nHost: h\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := pluginoauth.RawRequest(c.r)
			if err != nil || string(got) != c.want {
				t.Fatalf("got %q %v\nwant %q", got, err, c.want)
			}
		})
	}

	if _, err := pluginoauth.RawRequest(&http.Request{Method: "GE T", URL: &url.URL{Path: "/"}}); err == nil || !strings.Contains(err.Error(), "method") {
		t.Errorf("a method with a space: %v", err)
	}
	big := httptest.NewRequest(http.MethodPost, "/cb", bytes.NewReader(make([]byte, pluginoauth.MaxCallbackBody+1)))
	if _, err := pluginoauth.RawRequest(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized body: %v", err)
	}
}

func TestDecodeCredentials(t *testing.T) {
	for _, c := range []struct {
		in      string
		expires time.Time
		err     string
	}{
		{`{"credentials":{"access_token":"a"},"expires_at":-1,"metadata":{}}`, time.Time{}, ""},
		{`{"credentials":{"access_token":"a"},"expires_at":1800000000}`, time.Unix(1800000000, 0), ""},
		{`{"credentials":{"access_token":"a"},"expires_at":null}`, time.Time{}, ""},
		{`{"credentials":{"access_token":"a"}}`, time.Time{}, ""},
		{`{"credentials":{"access_token":"a"},"expires_at":0}`, time.Unix(0, 0), ""},
		{`{"credentials":{},"expires_at":1.5}`, time.Time{}, "not whole seconds"},
		{`{"credentials":null,"expires_at":-1}`, time.Time{}, "credentials is missing"},
		{`{"expires_at":-1}`, time.Time{}, "credentials is missing"},
		{`{"credentials":["a"]}`, time.Time{}, "want {"},
		{`{"credentials":{},"metadata":"x"}`, time.Time{}, "want {"},
		{`[]`, time.Time{}, "want {"},
	} {
		cr, err := pluginoauth.DecodeCredentials([]byte(c.in))
		if c.err != "" {
			if !errors.Is(err, pluginoauth.ErrBadResponse) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !cr.ExpiresAt.Equal(c.expires) || cr.Values == nil || cr.Metadata == nil {
			t.Errorf("%s: %+v %v", c.in, cr, err)
		}
	}
}

func TestDecodeAuthorizationURL(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"authorization_url":"https://github.com/login/oauth/authorize?client_id=x"}`: true,
		`{"authorization_url":"http://127.0.0.1:9/authorize"}`:                         true,
		`{"authorization_url":""}`:                                                     false,
		`{"authorization_url":"/relative"}`:                                            false,
		`{"authorization_url":"javascript:alert(1)"}`:                                  false,
		`{"authorization_url":3}`:                                                      false,
		`{}`:                                                                           false,
		`"x"`:                                                                          false,
	} {
		u, err := pluginoauth.DecodeAuthorizationURL([]byte(in))
		if ok != (err == nil) || (!ok && !errors.Is(err, pluginoauth.ErrBadResponse)) {
			t.Errorf("%s: %q %v", in, u, err)
		}
	}
}

// fakeStream hands out prepared items, then the error.
type fakeStream struct {
	items []wire.SessionMessage
	err   error
}

func (f *fakeStream) Next() (wire.SessionMessage, error) {
	if len(f.items) == 0 {
		if f.err != nil {
			return wire.SessionMessage{}, f.err
		}
		return wire.SessionMessage{}, io.EOF
	}
	m := f.items[0]
	f.items = f.items[1:]
	return m, nil
}

func (f *fakeStream) Close() {}

// TestRequestsAndErrors checks what each call sends and how it reads what comes back, with the
// dispatcher replaced (plugin_test.go runs the real one).
func TestRequestsAndErrors(t *testing.T) {
	var (
		sent struct {
			uid    string
			access wire.AccessType
			action wire.Action
			data   map[string]any
			ic     runtime.InvokeContext
		}
		answer *fakeStream
		fail   error
	)
	c := pluginoauth.New(func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (pluginoauth.Stream, error) {
		sent.uid, sent.access, sent.action, sent.ic = uid, access, action, ic
		sent.data = nil
		if err := json.Unmarshal(data, &sent.data); err != nil {
			t.Fatal(err)
		}
		if fail != nil {
			return nil, fail
		}
		return answer, nil
	})
	item := func(s string) wire.SessionMessage {
		return wire.SessionMessage{Type: wire.MessageStream, Data: json.RawMessage(s)}
	}
	ctx := t.Context()
	f := pluginoauth.Flow{Tenant: "t", UserID: "u", PluginUniqueIdentifier: "a/p:1.0.0@x", Provider: "p", RedirectURI: "https://d/cb",
		SystemCredentials: map[string]any{"client_id": "id"}}

	answer = &fakeStream{items: []wire.SessionMessage{item(`{"authorization_url":"https://idp/authorize?x=1"}`), item(`{"authorization_url":"https://other"}`)}}
	u, err := c.AuthorizationURL(ctx, f)
	if err != nil || u != "https://idp/authorize?x=1" {
		t.Fatalf("authorization URL %q %v", u, err)
	}
	if sent.uid != f.PluginUniqueIdentifier || sent.access != wire.AccessOAuth || sent.action != wire.ActionGetAuthorizationURL ||
		sent.ic.TenantID != "t" || sent.ic.UserID != "u" || sent.data["provider"] != "p" || sent.data["redirect_uri"] != "https://d/cb" ||
		sent.data["system_credentials"].(map[string]any)["client_id"] != "id" {
		t.Fatalf("sent %+v", sent)
	}

	answer = &fakeStream{items: []wire.SessionMessage{item(`{"credentials":{"access_token":"tok"},"expires_at":1800000000,"metadata":{"name":"n"}}`)}}
	cb := httptest.NewRequest(http.MethodGet, "https://d/cb?code=c", nil)
	cr, err := c.ExchangeCallback(ctx, f, cb)
	if err != nil || cr.Values["access_token"] != "tok" || cr.ExpiresAt.Unix() != 1800000000 || cr.Metadata["name"] != "n" {
		t.Fatalf("exchange %+v %v", cr, err)
	}
	raw, _ := hex.DecodeString(sent.data["raw_http_request"].(string))
	if sent.action != wire.ActionGetCredentials || !strings.HasPrefix(string(raw), "GET /cb?code=c HTTP/1.1\r\nHost: d\r\n") {
		t.Fatalf("sent %s with raw request %q", sent.action, raw)
	}

	answer = &fakeStream{items: []wire.SessionMessage{item(`{"credentials":{"access_token":"new"},"expires_at":-1}`)}}
	cr, err = c.Refresh(ctx, f, map[string]any{"refresh_token": "r"})
	if err != nil || cr.Values["access_token"] != "new" || !cr.ExpiresAt.IsZero() {
		t.Fatalf("refresh %+v %v", cr, err)
	}
	if sent.action != wire.ActionRefreshCredentials || sent.data["credentials"].(map[string]any)["refresh_token"] != "r" {
		t.Fatalf("sent %+v", sent)
	}

	notImpl := &wire.SessionError{ErrorType: "NotImplementedError", Message: "The tool you are using does not support OAuth, please implement `_oauth_get_credentials` method"}
	noSchema := &wire.SessionError{ErrorType: "ValueError", Message: "Provider `p` does not support OAuth"}
	refused := &wire.SessionError{ErrorType: "ToolProviderOAuthError", Message: "bad_verification_code"}
	unreachable := errors.New("plugin is not installed")
	for _, e := range []struct {
		name   string
		stream *fakeStream
		fail   error
		is     error
	}{
		{"not implemented", &fakeStream{err: notImpl}, nil, pluginoauth.ErrNotImplemented},
		{"no oauth_schema", &fakeStream{err: noSchema}, nil, pluginoauth.ErrNotImplemented},
		{"refused", &fakeStream{err: refused}, nil, pluginoauth.ErrRefused},
		{"no result", &fakeStream{items: []wire.SessionMessage{{Type: wire.MessageEnd}}}, nil, pluginoauth.ErrBadResponse},
		{"eof", &fakeStream{}, nil, pluginoauth.ErrBadResponse},
		{"bad shape", &fakeStream{items: []wire.SessionMessage{item(`{"credentials":"x"}`)}}, nil, pluginoauth.ErrBadResponse},
		{"dispatch", nil, unreachable, unreachable},
	} {
		answer, fail = e.stream, e.fail
		_, err := c.Refresh(ctx, f, nil)
		if !errors.Is(err, e.is) || !strings.Contains(err.Error(), "refresh_credentials") || !strings.Contains(err.Error(), "provider p") {
			t.Errorf("%s: %v", e.name, err)
		}
	}
	fail = nil

	for _, bad := range []pluginoauth.Flow{{Provider: "p", RedirectURI: "r"}, {PluginUniqueIdentifier: "u", RedirectURI: "r"}, {PluginUniqueIdentifier: "u", Provider: "p"}} {
		if _, err := c.AuthorizationURL(ctx, bad); err == nil {
			t.Errorf("flow %+v accepted", bad)
		}
	}
}

// TestGrant checks what the oauth.Grant adapter sends and how it maps the plugin's answers,
// with the dispatcher replaced (grant_test.go runs it through the Manager).
func TestGrant(t *testing.T) {
	var sent map[string]any
	answer := &fakeStream{}
	g := pluginoauth.Grant{Client: pluginoauth.New(func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (pluginoauth.Stream, error) {
		sent = nil
		json.Unmarshal(data, &sent)
		return answer, nil
	})}
	ctx := t.Context()
	p := catalog.Provider{ID: "a/p/prov", Kind: catalog.KindPlugin, Name: "prov", PluginUniqueIdentifier: "a/p:1.0.0@x"}
	client := &oauth.ClientSettings{ClientID: "id", ClientSecret: "sec", Scopes: []string{"a", "b"}, Params: map[string]string{"tenant_domain": "d"}}

	answer = &fakeStream{items: []wire.SessionMessage{{Type: wire.MessageStream, Data: json.RawMessage(`{"authorization_url":"https://idp/auth"}`)}}}
	res, err := g.Start(ctx, oauth.StartRequest{Tenant: "t", Provider: p, Client: client, RedirectURL: "https://d/oauth/callback"})
	if err != nil || res.URL != "https://idp/auth" || !res.Cookie {
		t.Fatalf("start: %+v %v", res, err)
	}
	sys, _ := json.Marshal(sent["system_credentials"])
	if string(sys) != `{"client_id":"id","client_secret":"sec","scope":"a b","tenant_domain":"d"}` || sent["provider"] != "prov" {
		t.Fatalf("sent %v", sent)
	}

	answer = &fakeStream{items: []wire.SessionMessage{{Type: wire.MessageStream,
		Data: json.RawMessage(`{"credentials":{"access_tokens":"tok","expires_in":28800,"scopes":["x"]},"expires_at":1800000000,"metadata":{"name":"n"}}`)}}}
	tok, err := g.Finish(ctx, oauth.FinishRequest{StartRequest: oauth.StartRequest{Tenant: "t", Provider: p, Client: client, RedirectURL: "https://d/oauth/callback"},
		Request: httptest.NewRequest(http.MethodGet, "https://d/oauth/callback?code=c", nil)})
	if err != nil || tok.Values["access_tokens"] != "tok" || tok.Values["expires_in"] != "28800" || tok.Values["scopes"] != `["x"]` ||
		tok.Expiry.Unix() != 1800000000 || tok.ClientID != "id" || tok.AccessToken != "" {
		t.Fatalf("finish: %+v %v", tok, err)
	}

	// Refresh hands back the typed credentials and the redirect URI of the authorization.
	answer = &fakeStream{items: []wire.SessionMessage{{Type: wire.MessageStream, Data: json.RawMessage(`{"credentials":{"access_tokens":"new"},"expires_at":-1}`)}}}
	nt, err := g.Refresh(ctx, oauth.RefreshRequest{Tenant: "t", Provider: p, Client: client, Current: tok})
	if err != nil || nt.Values["access_tokens"] != "new" || !nt.Expiry.IsZero() {
		t.Fatalf("refresh: %+v %v", nt, err)
	}
	creds, _ := json.Marshal(sent["credentials"])
	if string(creds) != `{"access_tokens":"tok","expires_in":28800,"scopes":["x"]}` || sent["redirect_uri"] != "https://d/oauth/callback" {
		t.Fatalf("refresh sent %v", sent)
	}
	var meta map[string]any
	json.Unmarshal(nt.Meta, &meta)
	if meta["metadata"].(map[string]any)["name"] != "n" {
		t.Errorf("the account's metadata was lost on refresh: %s", nt.Meta)
	}

	// What the plugin refuses, or cannot do, needs the user: oauth.ErrRefused.
	for _, e := range []*wire.SessionError{{ErrorType: "ToolProviderOAuthError", Message: "invalid_grant"}, {ErrorType: "NotImplementedError", Message: "x"}} {
		answer = &fakeStream{err: e}
		if _, err := g.Refresh(ctx, oauth.RefreshRequest{Tenant: "t", Provider: p, Client: client, Current: tok}); !errors.Is(err, oauth.ErrRefused) {
			t.Errorf("%s: %v", e.ErrorType, err)
		}
	}
	answer = &fakeStream{}
	if _, err := g.Refresh(ctx, oauth.RefreshRequest{Tenant: "t", Provider: p, Client: client, Current: tok}); errors.Is(err, oauth.ErrRefused) || !errors.Is(err, pluginoauth.ErrBadResponse) {
		t.Errorf("no answer is not a refusal: %v", err)
	}
	if _, err := g.Start(ctx, oauth.StartRequest{Tenant: "t", Provider: p, RedirectURL: "r"}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "no OAuth client") {
		t.Errorf("no client: %v", err)
	}
	api := catalog.Provider{ID: "x", Kind: catalog.KindAPI}
	if _, err := g.Start(ctx, oauth.StartRequest{Tenant: "t", Provider: api, Client: client, RedirectURL: "r"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("an API provider: %v", err)
	}
}
