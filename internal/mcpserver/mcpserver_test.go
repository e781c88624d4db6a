package mcpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// These tests drive the MCP server with the official Go SDK's client over real HTTP, against
// a real catalog on a real SQLite store. Tools come from workflow-kind providers whose Caller
// is the test's own (the seam where a plugin, an OpenAPI service or a workflow would answer),
// so the results, progress and cancellation can be chosen per tool; internal/e2e covers a
// real plugin behind a real `plugd serve`.

// testCaller answers by tool name.
type testCaller struct {
	cancelled chan string // receives the tool name when a call's context ends early
	release   chan struct{}
}

type msgStream struct {
	ctx  context.Context
	msgs []catalog.Message
	gate chan struct{} // nil: no waiting; else Next waits for it before each message after the first
	name string
	c    *testCaller
	i    int
}

func (s *msgStream) Next() (catalog.Message, error) {
	if s.name == "block" {
		select {
		case <-s.ctx.Done():
			s.c.cancelled <- s.name
			return catalog.Message{}, s.ctx.Err()
		case <-s.c.release:
			return catalog.Message{}, io.EOF
		}
	}
	if s.i >= len(s.msgs) {
		return catalog.Message{}, io.EOF
	}
	if s.gate != nil && s.i > 0 {
		select {
		case <-s.gate:
		case <-s.ctx.Done():
			return catalog.Message{}, s.ctx.Err()
		}
	}
	m := s.msgs[s.i]
	s.i++
	return m, nil
}

func (s *msgStream) Close() {}

func (c *testCaller) Call(ctx context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	st := &msgStream{ctx: ctx, name: inv.Tool.Name, c: c}
	switch inv.Tool.Name {
	case "echo":
		st.msgs = []catalog.Message{catalog.TextMessage("echo: " + inv.Arguments["text"].(string))}
	case "mixed":
		j, _ := catalog.JSONMessage(map[string]any{"answer": 42})
		st.msgs = []catalog.Message{
			catalog.TextMessage("here"), j,
			catalog.BlobMessage([]byte("\x89PNG fake"), "image/png"),
			catalog.BlobMessage([]byte("RIFF wav"), "audio/wav"),
			catalog.BlobMessage([]byte("%PDF-1.7"), "application/pdf"),
		}
	case "steps":
		for i := range 3 {
			st.msgs = append(st.msgs, catalog.TextMessage(strings.Repeat("x", i+1)))
		}
	case "fail":
		return nil, errors.New("upstream said no")
	}
	return st, nil
}

type fixture struct {
	cat    *catalog.Catalog
	mcp    *mcpserver.Server
	url    string
	caller *testCaller
	tenant string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	caller := &testCaller{cancelled: make(chan string, 4), release: make(chan struct{})}
	cat := catalog.New(catalog.Config{Store: db, Callers: map[catalog.Kind]catalog.Caller{catalog.KindWorkflow: caller}})
	ctx, cancel := context.WithCancel(context.Background())
	srv := mcpserver.New(ctx, mcpserver.Options{Catalog: cat, Store: db, PollInterval: 20 * time.Millisecond})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); cancel() })
	return &fixture{cat: cat, mcp: srv, url: hs.URL, caller: caller, tenant: "t-" + strings.ReplaceAll(t.Name(), "/", "-")}
}

var objSchema = json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)

func (f *fixture) addProvider(t *testing.T, name string, tools ...string) catalog.Provider {
	t.Helper()
	np := catalog.NewProvider{Kind: catalog.KindWorkflow, Name: name, Label: strings.ToUpper(name)}
	for _, n := range tools {
		np.Tools = append(np.Tools, catalog.Tool{Name: n, Description: "does " + n, InputSchema: objSchema})
	}
	p, err := f.cat.Add(t.Context(), f.tenant, np)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) token(t *testing.T, set string) string {
	t.Helper()
	_, secret, err := f.mcp.CreateToken(t.Context(), f.tenant, set, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, tr mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts).Connect(t.Context(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (f *fixture) streamable(t *testing.T, path, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	return connect(t, &mcp.StreamableClientTransport{Endpoint: f.url + path, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, opts)
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func TestListAndCall(t *testing.T) {
	f := newFixture(t)
	p := f.addProvider(t, "wf", "echo", "mixed", "fail")
	cs := f.streamable(t, "/mcp/"+f.tenant, f.token(t, ""), nil)

	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 3 {
		t.Fatalf("tools: %+v", res.Tools)
	}
	echo := res.Tools[slices.IndexFunc(res.Tools, func(tl *mcp.Tool) bool { return tl.Name == "wf__echo" })]
	if echo.Title != "WF: echo" || echo.Description != "does echo" || echo.Meta["plugd/provider_id"] != p.ID {
		t.Errorf("echo as listed: %+v", echo)
	}
	if s, _ := json.Marshal(echo.InputSchema); !strings.Contains(string(s), `"text":{"type":"string"}`) {
		t.Errorf("echo's input schema: %s", s)
	}

	r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wf__echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || r.IsError || len(r.Content) != 1 || r.Content[0].(*mcp.TextContent).Text != "echo: hi" {
		t.Fatalf("echo: %v %+v", err, r)
	}

	r, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wf__mixed", Arguments: map[string]any{}})
	if err != nil || r.IsError || len(r.Content) != 5 {
		t.Fatalf("mixed: %v %+v", err, r)
	}
	if c, ok := r.Content[1].(*mcp.TextContent); !ok || c.Text != `{"answer":42}` {
		t.Errorf("json as text: %#v", r.Content[1])
	}
	if sc, _ := json.Marshal(r.StructuredContent); string(sc) != `{"answer":42}` {
		t.Errorf("structured content: %s", sc)
	}
	if c, ok := r.Content[2].(*mcp.ImageContent); !ok || c.MIMEType != "image/png" || string(c.Data) != "\x89PNG fake" {
		t.Errorf("image: %#v", r.Content[2])
	}
	if c, ok := r.Content[3].(*mcp.AudioContent); !ok || c.MIMEType != "audio/wav" || string(c.Data) != "RIFF wav" {
		t.Errorf("audio: %#v", r.Content[3])
	}
	if c, ok := r.Content[4].(*mcp.EmbeddedResource); !ok || c.Resource.MIMEType != "application/pdf" || string(c.Resource.Blob) != "%PDF-1.7" {
		t.Errorf("pdf as embedded resource: %#v", r.Content[4])
	}

	r, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wf__fail", Arguments: map[string]any{}})
	if err != nil || !r.IsError || !strings.Contains(r.Content[0].(*mcp.TextContent).Text, "upstream said no") {
		t.Fatalf("a failing tool is an error result the model can read: %v %+v", err, r)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "nope"}); err == nil {
		t.Error("an unknown tool: no error")
	}
}

func TestTokensRequired(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "wf", "echo")
	good := f.token(t, "")
	post := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	path := "/mcp/" + f.tenant
	for name, tok := range map[string]string{"none": "", "garbage": "plugd_mcp_nope", "not ours": "abc"} {
		resp := post(path, tok)
		want := `resource_metadata="` + f.url + "/.well-known/oauth-protected-resource" + path + `"`
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), want) {
			t.Errorf("token %s: %d %q, want 401 with %s", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
	if resp := post("/mcp/other-tenant", good); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another tenant's URL with this tenant's token: %d", resp.StatusCode)
	}
	if resp := post(path, good); resp.StatusCode != http.StatusOK {
		t.Errorf("a good token: %d", resp.StatusCode)
	}

	// RFC 9728 metadata names the resource.
	resp, err := http.Get(f.url + "/.well-known/oauth-protected-resource" + path)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource       string   `json:"resource"`
		BearerMethods  []string `json:"bearer_methods_supported"`
		AuthorizerList []string `json:"authorization_servers"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta.Resource != f.url+path || !slices.Equal(meta.BearerMethods, []string{"header"}) {
		t.Errorf("metadata: %+v", meta)
	}

	// Revoked: refused.
	toks, err := f.mcp.Tokens(t.Context(), f.tenant)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %+v", err, toks)
	}
	if err := f.mcp.RevokeToken(t.Context(), f.tenant, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if resp := post(path, good); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d", resp.StatusCode)
	}
	if err := f.mcp.RevokeToken(t.Context(), f.tenant, toks[0].ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}

	// Expired: refused.
	_, short, err := f.mcp.CreateToken(t.Context(), f.tenant, "", "short", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if resp := post(path, short); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an expired token: %d", resp.StatusCode)
	}
}

func TestListChanged(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "first", "echo")
	changed := make(chan struct{}, 16)
	cs := f.streamable(t, "/mcp/"+f.tenant, f.token(t, ""), &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	if got := toolNames(t, cs); !slices.Equal(got, []string{"first__echo"}) {
		t.Fatalf("before: %v", got)
	}
	p := f.addProvider(t, "second", "echo", "steps")
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("no notifications/tools/list_changed after a provider was added")
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"first__echo", "second__echo", "second__steps"}) {
		t.Fatalf("after the add: %v", got)
	}
	if err := f.cat.Remove(t.Context(), f.tenant, p.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		<-changed
		if got := toolNames(t, cs); slices.Equal(got, []string{"first__echo"}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the removal: %v", got)
		}
	}
}

func TestToolSets(t *testing.T) {
	f := newFixture(t)
	a := f.addProvider(t, "alpha", "echo", "steps")
	f.addProvider(t, "beta", "echo", "mixed")
	if _, err := f.mcp.PutSet(t.Context(), mcpserver.ToolSet{Tenant: f.tenant, Name: "bad name!", Tools: []string{"x"}}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("a bad set name: %v", err)
	}
	if _, err := f.mcp.PutSet(t.Context(), mcpserver.ToolSet{Tenant: f.tenant, Name: "empty"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("a set selecting nothing: %v", err)
	}
	if _, _, err := f.mcp.CreateToken(t.Context(), f.tenant, "missing", "", 0); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a token for a missing set: %v", err)
	}
	if _, err := f.mcp.PutSet(t.Context(), mcpserver.ToolSet{Tenant: f.tenant, Name: "mine", Providers: []string{a.ID}, Tools: []string{"beta__mixed"}}); err != nil {
		t.Fatal(err)
	}
	setTok := f.token(t, "mine")
	cs := f.streamable(t, "/mcp/"+f.tenant+"/sets/mine", setTok, nil)
	if got := toolNames(t, cs); !slices.Equal(got, []string{"alpha__echo", "alpha__steps", "beta__mixed"}) {
		t.Fatalf("set tools: %v", got)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "beta__echo", Arguments: map[string]any{"text": "x"}}); err == nil {
		t.Error("a tool outside the set was callable")
	}
	// The set's token opens only the set; the catalog's token not the set.
	whole := f.token(t, "")
	if _, err := mcp.NewClient(&mcp.Implementation{Name: "x"}, nil).Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: f.url + "/mcp/" + f.tenant, HTTPClient: &http.Client{Transport: bearer{setTok}}, MaxRetries: -1}, nil); err == nil {
		t.Error("a set's token opened the whole catalog")
	}
	if _, err := mcp.NewClient(&mcp.Implementation{Name: "x"}, nil).Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: f.url + "/mcp/" + f.tenant + "/sets/mine", HTTPClient: &http.Client{Transport: bearer{whole}}, MaxRetries: -1}, nil); err == nil {
		t.Error("the catalog's token opened a set")
	}
	// Narrowing the set changes what its clients see.
	changed := make(chan struct{}, 16)
	cs2 := f.streamable(t, "/mcp/"+f.tenant+"/sets/mine", setTok, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	if _, err := f.mcp.PutSet(t.Context(), mcpserver.ToolSet{Tenant: f.tenant, Name: "mine", Tools: []string{a.ID + "/steps"}}); err != nil {
		t.Fatal(err)
	}
	<-changed
	if got := toolNames(t, cs2); !slices.Equal(got, []string{"alpha__steps"}) {
		t.Fatalf("narrowed set: %v", got)
	}
	sets, err := f.mcp.Sets(t.Context(), f.tenant)
	if err != nil || len(sets) != 1 || sets[0].Name != "mine" {
		t.Fatalf("sets: %v %+v", err, sets)
	}
	if err := f.mcp.DeleteSet(t.Context(), f.tenant, "mine"); err != nil {
		t.Fatal(err)
	}
	toks, _ := f.mcp.Tokens(t.Context(), f.tenant)
	for _, tk := range toks {
		if tk.Set == "mine" {
			t.Errorf("token %s of the deleted set survived", tk.ID)
		}
	}
}

func TestProgressAndCancellation(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "wf", "steps", "block")
	var (
		mu       sync.Mutex
		progress []string
	)
	cs := f.streamable(t, "/mcp/"+f.tenant, f.token(t, ""), &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Message)
			mu.Unlock()
		},
	})
	params := &mcp.CallToolParams{Name: "wf__steps", Arguments: map[string]any{}}
	params.SetProgressToken("tok-1")
	r, err := cs.CallTool(t.Context(), params)
	if err != nil || len(r.Content) != 3 {
		t.Fatalf("steps: %v %+v", err, r)
	}
	// The client handles notifications apart from responses: wait for all three.
	var got []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got = slices.Clone(progress)
		mu.Unlock()
		if len(got) >= 3 {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"x", "xx", "xxx"}) {
		t.Errorf("progress messages: %q", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "wf__block", Arguments: map[string]any{}})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the call reach the caller; the result does not depend on it
	cancel()
	select {
	case name := <-f.caller.cancelled:
		if name != "block" {
			t.Errorf("cancelled: %s", name)
		}
	case <-time.After(30 * time.Second):
		close(f.caller.release)
		t.Fatal("cancelling the MCP request did not cancel the tool call")
	}
	if err := <-done; err == nil {
		t.Error("a cancelled call returned no error")
	}
}

// TestSSE uses the older HTTP+SSE transport.
func TestSSE(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "wf", "echo")
	cs := connect(t, &mcp.SSEClientTransport{Endpoint: f.url + "/sse/" + f.tenant, HTTPClient: &http.Client{Transport: bearer{f.token(t, "")}}}, nil)
	r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wf__echo", Arguments: map[string]any{"text": "over sse"}})
	if err != nil || r.Content[0].(*mcp.TextContent).Text != "echo: over sse" {
		t.Fatalf("echo over SSE: %v %+v", err, r)
	}
	resp, err := http.Get(f.url + "/sse/" + f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("SSE without a token: %d", resp.StatusCode)
	}
}

// TestRelay serves the daemon's endpoint on another transport, as `plugd mcp serve` does on
// stdio: tools mirrored, calls with progress forwarded, list changes followed.
func TestRelay(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "wf", "echo", "steps")
	local, remote := mcp.NewInMemoryTransports()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	relayDone := make(chan error, 1)
	go func() {
		relayDone <- mcpserver.Relay{Endpoint: f.url + "/mcp/" + f.tenant, Token: f.token(t, "")}.Serve(ctx, local)
	}()
	changed := make(chan struct{}, 16)
	var progressed sync.WaitGroup
	progressed.Add(3)
	cs := connect(t, remote, &mcp.ClientOptions{
		ToolListChangedHandler:      func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progressed.Done() },
	})
	if got := toolNames(t, cs); !slices.Equal(got, []string{"wf__echo", "wf__steps"}) {
		t.Fatalf("relayed tools: %v", got)
	}
	r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wf__echo", Arguments: map[string]any{"text": "relayed"}})
	if err != nil || r.Content[0].(*mcp.TextContent).Text != "echo: relayed" {
		t.Fatalf("relayed echo: %v %+v", err, r)
	}
	params := &mcp.CallToolParams{Name: "wf__steps", Arguments: map[string]any{}}
	params.SetProgressToken(7)
	if _, err := cs.CallTool(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	progressed.Wait()
	f.addProvider(t, "more", "echo")
	for {
		<-changed
		if got := toolNames(t, cs); slices.Contains(got, "more__echo") {
			break
		}
	}
	cancel()
	<-relayDone
}

// TestSlowCatalogDoesNotDelayList: once a server exists, tools/list is answered from its own
// registry, whatever the catalog is doing.
func TestSlowCatalogDoesNotDelayList(t *testing.T) {
	f := newFixture(t)
	f.addProvider(t, "wf", "echo")
	slow := &slowCatalog{Catalog: f.cat, block: make(chan struct{})}
	db := storeOf(t, f)
	srv := mcpserver.New(t.Context(), mcpserver.Options{Catalog: slow, Store: db, PollInterval: 10 * time.Millisecond, RefreshTimeout: time.Hour})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close() })
	t.Cleanup(func() { close(slow.block) })
	_, tok, err := srv.CreateToken(t.Context(), f.tenant, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: hs.URL + "/mcp/" + f.tenant, HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1}, nil)
	slow.stall() // every later catalog read hangs
	f.addProvider(t, "later", "echo")
	for range 5 {
		if got := toolNames(t, cs); !slices.Equal(got, []string{"wf__echo"}) {
			t.Fatalf("tools while the catalog hangs: %v", got)
		}
	}
}

type slowCatalog struct {
	mcpserver.Catalog
	mu      sync.Mutex
	stalled bool
	block   chan struct{}
}

func (s *slowCatalog) stall() { s.mu.Lock(); s.stalled = true; s.mu.Unlock() }

func (s *slowCatalog) List(ctx context.Context, tenant string, opts catalog.ListOptions) ([]catalog.Provider, error) {
	s.mu.Lock()
	stalled := s.stalled
	s.mu.Unlock()
	if stalled {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
		return nil, errors.New("stalled")
	}
	return s.Catalog.List(ctx, tenant, opts)
}

// storeOf opens a second handle on nothing shared: the slow test needs only a token store.
func storeOf(t *testing.T, _ *fixture) *sqlstore.DB {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}
