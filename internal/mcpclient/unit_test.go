package mcpclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpclient"
)

// sdkServer is an MCP server on the official Go SDK's streamable HTTP handler, on loopback,
// recording the headers of every request.
type sdkServer struct {
	url     string
	mu      sync.Mutex
	headers []http.Header
}

func (s *sdkServer) seen(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, h := range s.headers {
		out = append(out, h.Get(name))
	}
	return out
}

func newSDKServer(t testing.TB) *sdkServer { return newSDKServerWith(t, nil) }

// newSDKServerWith is newSDKServer with the handler's options (JSON answers instead of event
// streams, say), and a tool "big" answering kib KiB of text.
func newSDKServerWith(t testing.TB, opts *mcp.StreamableHTTPOptions) *sdkServer {
	srv := mcp.NewServer(&mcp.Implementation{Name: "sdk-upstream", Version: "1.0.0"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "upper", Description: "Upper-cases text"},
		func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.ToUpper(a.Text)}}}, nil, nil
		})
	type bigIn struct {
		KiB int `json:"kib"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "big", Description: "Answers kib KiB of text"},
		func(_ context.Context, _ *mcp.CallToolRequest, a bigIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", a.KiB<<10)}}}, nil, nil
		})
	s := &sdkServer{}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, opts)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL + "/mcp"
	return s
}

// countingTokens hands out a new token on every request, like a source refreshing tokens.
type countingTokens struct{ n atomic.Int64 }

func (c *countingTokens) Token(_ context.Context, tenant, provider string) (string, error) {
	return fmt.Sprintf("Bearer %s-%d", tenant, c.n.Add(1)), nil
}

// TestHeadersAndTokensPerRequest: the provider's sealed headers go with every request, and
// for a server behind OAuth the token source is asked per request, so a new token is used
// without reconnecting. Such a server is added without tools (nothing can be listed before
// the tenant connects) and lists them on refresh.
func TestHeadersAndTokensPerRequest(t *testing.T) {
	up := newSDKServer(t)
	tokens := &countingTokens{}
	e := newEnv(t, mcpclient.Options{Egress: loopbackAllowed(t), Tokens: tokens})
	p := e.add(t, "t1", mcpclient.Server{Name: "sdk", URL: up.url, OAuth: true, Headers: map[string]string{"x-api-key": "k-123456"}})
	if len(p.Tools) != 0 || tokens.n.Load() != 0 {
		t.Fatalf("an OAuth server was probed at import: %d tools, %d tokens", len(p.Tools), tokens.n.Load())
	}
	p, err := e.cat.Refresh(t.Context(), "t1", p.ID)
	if err != nil || len(p.Tools) == 0 {
		t.Fatalf("refresh after connecting: %v, %d tools", err, len(p.Tools))
	}
	for range 2 {
		if got := text(t, e.mustCall(t, "t1", p.ID, "upper", map[string]any{"text": "abc"})); got != "ABC" {
			t.Fatalf("upper: %q", got)
		}
	}
	for _, v := range up.seen("X-Api-Key") {
		if v != "k-123456" {
			t.Fatalf("a request without the header: %q", up.seen("X-Api-Key"))
		}
	}
	auth := up.seen("Authorization")
	distinct := map[string]bool{}
	for _, a := range auth {
		if !strings.HasPrefix(a, "Bearer t1-") {
			t.Fatalf("a request without the tenant's token: %q", auth)
		}
		distinct[a] = true
	}
	if len(distinct) != len(auth) || len(auth) < 4 {
		t.Fatalf("tokens not taken per request: %q", auth)
	}
	if n := e.pool.Live(); n != 1 {
		t.Fatalf("%d live sessions after two calls: want the one, kept", n)
	}
}

// TestReloadKeepsOrReplacesSession: re-importing a provider unchanged keeps its session
// (keyed by configuration), a changed one gets a new session and the old one stops.
func TestReloadKeepsOrReplacesSession(t *testing.T) {
	up := newSDKServer(t)
	e := newEnv(t, mcpclient.Options{Egress: loopbackAllowed(t)})
	s := mcpclient.Server{Name: "sdk", URL: up.url, Headers: map[string]string{"X-Api-Key": "one"}}
	p := e.add(t, "t1", s)
	e.mustCall(t, "t1", p.ID, "upper", map[string]any{"text": "a"})
	sessions := func() int {
		ids := map[string]bool{}
		for _, h := range up.seen("Mcp-Session-Id") {
			if h != "" {
				ids[h] = true
			}
		}
		return len(ids)
	}
	before := sessions()
	// The re-import sends the header back masked, as it was shown: the probe and the stored
	// provider use the real value.
	s.Headers = map[string]string{"X-Api-Key": p.Credentials["header:X-Api-Key"]}
	s.Unmask = func(c map[string]string) (map[string]string, error) { return e.cat.Unmask(t.Context(), "t1", p.ID, c) }
	np, err := e.pool.NewProvider(t.Context(), "t1", s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.Replace(t.Context(), "t1", p.ID, np); err != nil {
		t.Fatal(err)
	}
	probe := sessions() // the re-import's probe has a session of its own
	e.mustCall(t, "t1", p.ID, "upper", map[string]any{"text": "b"})
	for _, v := range up.seen("X-Api-Key") {
		if v != "one" {
			t.Fatalf("the masked header was sent as is: %q", up.seen("X-Api-Key"))
		}
	}
	if sessions() != probe || probe != before+1 {
		t.Fatalf("an unchanged provider got a new session: %d, %d, %d", before, probe, sessions())
	}
	s.Headers, s.Unmask = map[string]string{"X-Api-Key": "two"}, nil
	np, err = e.pool.NewProvider(t.Context(), "t1", s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.Replace(t.Context(), "t1", p.ID, np); err != nil {
		t.Fatal(err)
	}
	e.mustCall(t, "t1", p.ID, "upper", map[string]any{"text": "c"})
	if got := up.seen("X-Api-Key"); got[len(got)-1] != "two" {
		t.Fatalf("the changed header was not used: %q", got)
	}
	if n := e.pool.Live(); n != 1 {
		t.Fatalf("%d live sessions: the out-of-date one should have stopped", n)
	}
}

func TestMessages(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n")
	res := &mcp.CallToolResult{
		Content: []mcp.Content{
			&mcp.TextContent{Text: "hello"},
			&mcp.ImageContent{Data: png, MIMEType: "image/png"},
			&mcp.AudioContent{Data: []byte("RIFF"), MIMEType: "audio/wav"},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a.txt", MIMEType: "text/plain", Text: "body"}},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///b.bin", Blob: []byte{1, 2}}},
			&mcp.ResourceLink{URI: "https://example.com/x", Name: "x"},
		},
		StructuredContent: map[string]any{"n": 1},
	}
	msgs, err := mcpclient.Messages(res)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ typ, body, meta string }
	wants := []want{
		{"text", `{"text":"hello"}`, ``},
		{"blob", `{"blob":"iVBORw0KGgo="}`, `{"mime_type":"image/png"}`},
		{"blob", `{"blob":"UklGRg=="}`, `{"mime_type":"audio/wav"}`},
		{"blob", `{"blob":"Ym9keQ=="}`, `{"mime_type":"text/plain","uri":"file:///a.txt"}`},
		{"blob", `{"blob":"AQI="}`, `{"mime_type":"application/octet-stream","uri":"file:///b.bin"}`},
		{"link", `{"text":"https://example.com/x"}`, ``},
		{"json", `{"json_object":{"n":1}}`, ``},
	}
	if len(msgs) != len(wants) {
		t.Fatalf("%d messages, want %d: %+v", len(msgs), len(wants), msgs)
	}
	for i, w := range wants {
		if msgs[i].Type != w.typ || string(msgs[i].Message) != w.body || string(msgs[i].Meta) != w.meta {
			t.Errorf("message %d: %s %s %s, want %s %s %s", i, msgs[i].Type, msgs[i].Message, msgs[i].Meta, w.typ, w.body, w.meta)
		}
	}
	_, err = mcpclient.Messages(&mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "bad input: x"}}})
	if !errors.Is(err, catalog.ErrCallFailed) || !strings.Contains(err.Error(), "bad input: x") {
		t.Fatalf("isError: %v", err)
	}
}

// TestServerChecks: what an import refuses before connecting, each naming the field.
func TestServerChecks(t *testing.T) {
	e := newEnv(t, mcpclient.Options{})
	for _, tc := range []struct {
		s    mcpclient.Server
		want string
	}{
		{mcpclient.Server{Name: "a"}, "url or command is required"},
		{mcpclient.Server{Name: "a", URL: "http://x/mcp", Command: "ls"}, "not both"},
		{mcpclient.Server{Name: "a", URL: "ftp://x/"}, "http:// or https://"},
		{mcpclient.Server{Name: "a", URL: "http://x/mcp", Transport: "websocket"}, "transport"},
		{mcpclient.Server{Name: "a", URL: "http://x/mcp", Headers: map[string]string{"Bad Name": "v"}}, "header"},
		{mcpclient.Server{Name: "a", URL: "http://x/mcp", Headers: map[string]string{"X": "a\r\nInjected: 1"}}, "header"},
		{mcpclient.Server{Name: "a", URL: "http://x/mcp", Env: map[string]string{"A": "b"}}, "env and args"},
		{mcpclient.Server{Name: "a", Command: "ls", Headers: map[string]string{"A": "b"}}, "headers are for url"},
		{mcpclient.Server{Name: "a", Command: "ls", Env: map[string]string{"A=B": "c"}}, "env"},
		{mcpclient.Server{Name: "a", Command: "ls", Timeout: -1}, "negative"},
		{mcpclient.Server{Name: "", Command: "ls"}, "name is required"},
		{mcpclient.Server{Name: "a", Command: "/no/such/command"}, "/no/such/command"},
	} {
		_, err := e.pool.NewProvider(t.Context(), "t1", tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("%+v: %v, want an invalid error naming %q", tc.s, err, tc.want)
		}
	}
	off := newEnv(t, mcpclient.Options{NoStdio: true})
	if _, err := off.pool.NewProvider(t.Context(), "t1", mcpclient.Server{Name: "a", Command: "true"}); err == nil ||
		!strings.Contains(err.Error(), "PLUGD_MCP_STDIO=false") {
		t.Errorf("a stdio server with stdio turned off: %v", err)
	}
}

// FuzzParseConfig: a stored config, whatever it holds, is read or refused, never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"url":"http://x/mcp","transport":"sse","headers":["A"]}`, `{"command":"ls","args":["-l"],"env":["A"]}`,
		`{}`, `{"url":1}`, `null`, `{"url":"x","command":"y"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := mcpclient.ParseConfig(json.RawMessage(s))
		if err == nil && (c.URL == "") == (c.Command == "") {
			t.Fatalf("accepted %s", s)
		}
	})
}

// FuzzMessages: whatever tools/call result a server sends (as the SDK decodes it), mapping
// it gives messages or an error, never a panic.
func FuzzMessages(f *testing.F) {
	for _, s := range []string{
		`{"content":[{"type":"text","text":"a"},{"type":"image","data":"AA==","mimeType":"image/png"}]}`,
		`{"content":[{"type":"resource","resource":{"uri":"x","blob":"AQ=="}}],"structuredContent":{"a":[1]}}`,
		`{"content":[{"type":"resource_link","uri":"u","name":"n"}],"isError":true}`,
		`{"content":[{"type":"audio","data":"","mimeType":""}]}`, `{"content":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var res mcp.CallToolResult
		if json.Unmarshal([]byte(s), &res) != nil {
			return
		}
		msgs, err := mcpclient.Messages(&res)
		if err == nil && len(msgs) < len(res.Content) {
			t.Fatalf("%d contents mapped to %d messages", len(res.Content), len(msgs))
		}
	})
}

// TestResponseCap: a JSON answer larger than the egress cap fails the call instead of being
// read into memory; a smaller one passes.
func TestResponseCap(t *testing.T) {
	up := newSDKServerWith(t, &mcp.StreamableHTTPOptions{JSONResponse: true})
	eg := loopbackAllowed(t)
	eg.MaxResponseBytes = 256 << 10
	e := newEnv(t, mcpclient.Options{Egress: eg})
	p := e.add(t, "t1", mcpclient.Server{Name: "sdk", URL: up.url})
	if got := text(t, e.mustCall(t, "t1", p.ID, "big", map[string]any{"kib": 100})); len(got) != 100<<10 {
		t.Fatalf("100 KiB answer: %d bytes", len(got))
	}
	_, err := e.call(t.Context(), "t1", p.ID, "big", map[string]any{"kib": 1024})
	if err == nil || !errors.Is(err, catalog.ErrCallFailed) {
		t.Fatalf("a 1 MiB answer under a 256 KiB cap: %v", err)
	}
	t.Log(err)
}
