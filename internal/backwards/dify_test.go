package backwards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/difyapi"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

const innerKey = "test-inner-key"

// difyCall is one request the fake Dify received.
type difyCall struct {
	Path, Key string
	Body      map[string]any
}

// fakeDify imitates Dify's inner API routes: a wrong key or unknown route gets 404; streamed
// routes answer two length-prefixed frames, unary routes one {"data","error"} object, and
// fetch/app/info and invoke/encrypt nest their result in {"data": ...} as Dify does. Every
// result echoes the request's "marker". A request with "fail" gets Dify's error envelope
// carrying that text; one with "scalar" gets a string where an object belongs.
type fakeDify struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []difyCall
}

var streamed = map[string]bool{"invoke/llm": true, "invoke/llm/structured-output": true, "invoke/tts": true, "invoke/tool": true, "invoke/app": true}

var unaryRoutes = map[string]bool{
	"invoke/text-embedding": true, "invoke/multimodal-embedding": true, "invoke/rerank": true, "invoke/multimodal-rerank": true,
	"invoke/speech2text": true, "invoke/moderation": true, "invoke/parameter-extractor": true, "invoke/question-classifier": true,
	"invoke/summary": true, "upload/file/request": true, "fetch/app/info": true, "invoke/encrypt": true,
}

func newFakeDify(t *testing.T) *fakeDify {
	f := &fakeDify{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDify) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	route := strings.TrimPrefix(r.URL.Path, "/inner/api/")
	f.mu.Lock()
	f.calls = append(f.calls, difyCall{Path: route, Key: r.Header.Get(difyapi.KeyHeader), Body: body})
	f.mu.Unlock()
	if r.Header.Get(difyapi.KeyHeader) != innerKey || !streamed[route] && !unaryRoutes[route] {
		http.NotFound(w, r)
		return
	}
	env := func(data any) []byte {
		var b []byte
		if msg, ok := body["fail"].(string); ok {
			b, _ = json.Marshal(map[string]any{"data": nil, "error": msg})
		} else {
			b, _ = json.Marshal(map[string]any{"data": data, "error": ""})
		}
		return b
	}
	result := func(i int) any {
		if body["scalar"] != nil {
			return "just a string"
		}
		m := map[string]any{"route": route, "marker": body["marker"]}
		if i > 0 {
			m["i"] = i
		}
		return m
	}
	if streamed[route] {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 2; i++ {
			w.Write(difyapi.AppendFrame(nil, env(result(i))))
			w.(http.Flusher).Flush()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch route {
	case "fetch/app/info":
		w.Write(env(map[string]any{"data": result(0)}))
	case "invoke/encrypt":
		out := map[string]any{}
		if body["opt"] != "clear" {
			for k, v := range body["data"].(map[string]any) {
				out[k] = fmt.Sprintf("%s(%v)", body["opt"], v)
			}
		}
		w.Write(env(map[string]any{"data": out}))
	default:
		w.Write(env(result(0)))
	}
}

func (f *fakeDify) recorded() []difyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]difyCall{}, f.calls...)
}

func (f *fakeDify) handler(t *testing.T, key string) *Dify {
	t.Helper()
	c, err := difyapi.New(difyapi.Config{BaseURL: f.srv.URL, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return NewDify(NewFileStore(t.TempDir(), 0), c)
}

var allowAll = &manifest.Permission{
	Tool:    &manifest.Switch{Enabled: true},
	Model:   &manifest.ModelPermission{Enabled: true, LLM: true, TextEmbedding: true, Rerank: true, TTS: true, Speech2Text: true, Moderation: true},
	Node:    &manifest.Switch{Enabled: true},
	App:     &manifest.Switch{Enabled: true},
	Storage: &manifest.StoragePermission{Enabled: true, Size: 1 << 20},
}

func difyCaller() Caller {
	return Caller{PluginID: "me/p", TenantID: "tenant-1", UserID: "user-1", SessionID: "s1", Access: wire.AccessTool, Permissions: allowAll}
}

func invoke(h *Dify, ctx context.Context, c Caller, typ wire.InvokeType, req string) ([]string, error) {
	var out []string
	err := h.Invoke(ctx, c, wire.Invocation{Type: typ, RequestID: "r1", Request: json.RawMessage(req)},
		func(b json.RawMessage) error { out = append(out, string(b)); return nil })
	return out, err
}

// Every type the reference sends to Dify reaches its route with the session's tenant and
// user, the key, and the plugin's fields; the plugin gets each result as Dify sent it.
func TestDifyRoutes(t *testing.T) {
	tests := []struct {
		typ   wire.InvokeType
		req   string // the plugin's request, as the SDK builds it
		route string
	}{
		{wire.BackwardsLLM, `{"provider":"openai","model":"gpt-4o","model_type":"llm","mode":"chat","completion_params":{},"prompt_messages":[{"role":"user","content":"hi"}],"tools":null,"stop":null,"stream":true}`, "invoke/llm"},
		{wire.BackwardsLLMStructuredOutput, `{"provider":"openai","model":"gpt-4o","model_type":"llm","mode":"chat","completion_params":{},"prompt_messages":[],"structured_output_schema":{"type":"object"},"tools":null,"stop":null,"stream":false}`, "invoke/llm/structured-output"},
		{wire.BackwardsTextEmbedding, `{"provider":"openai","model":"e3","model_type":"text-embedding","texts":["a"],"input_type":"query"}`, "invoke/text-embedding"},
		{wire.BackwardsMultimodalEmbedding, `{"provider":"x","model":"m","model_type":"text-embedding","documents":[{"content":"a","content_type":"text"}],"input_type":"document"}`, "invoke/multimodal-embedding"},
		{wire.BackwardsRerank, `{"provider":"x","model":"r","model_type":"rerank","query":"q","docs":["a"],"score_threshold":0.5,"top_n":1}`, "invoke/rerank"},
		{wire.BackwardsMultimodalRerank, `{"provider":"x","model":"r","model_type":"rerank","query":{"content":"q","content_type":"text"},"docs":[]}`, "invoke/multimodal-rerank"},
		{wire.BackwardsTTS, `{"provider":"x","model":"t","model_type":"tts","voice":"alloy","content_text":"hello"}`, "invoke/tts"},
		{wire.BackwardsSpeech2Text, `{"provider":"x","model":"w","model_type":"speech2text","file":"00ff"}`, "invoke/speech2text"},
		{wire.BackwardsModeration, `{"provider":"x","model":"m","model_type":"moderation","text":"t"}`, "invoke/moderation"},
		{wire.BackwardsTool, `{"tool_type":"builtin","provider":"time","tool":"current_time","tool_parameters":{},"credential_id":"c1"}`, "invoke/tool"},
		{wire.BackwardsApp, `{"app_id":"a1","inputs":{},"query":"q","response_mode":"streaming","conversation_id":null}`, "invoke/app"},
		{wire.BackwardsNodeParameterExtractor, `{"parameters":[{"name":"n","type":"string"}],"model":{"provider":"x","name":"m","mode":"chat","completion_params":{}},"query":"q","instruction":""}`, "invoke/parameter-extractor"},
		{wire.BackwardsNodeQuestionClassifier, `{"classes":[{"id":"1","name":"a"}],"model":{"provider":"x","name":"m","mode":"chat"},"query":"q","instruction":""}`, "invoke/question-classifier"},
		{wire.BackwardsSystemSummary, `{"text":"long text","instruction":"be brief"}`, "invoke/summary"},
		{wire.BackwardsUploadFile, `{"filename":"a.png","mimetype":"image/png"}`, "upload/file/request"},
		{wire.BackwardsFetchApp, `{"app_id":"a1"}`, "fetch/app/info"},
	}
	f := newFakeDify(t)
	h := f.handler(t, innerKey)
	for i, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			marker := fmt.Sprintf("m%d", i)
			// The plugin's own tenant_id and user_id must not reach Dify.
			req := strings.Replace(tt.req, "{", fmt.Sprintf(`{"marker":%q,"tenant_id":"evil","user_id":"mallory",`, marker), 1)
			items, err := invoke(h, context.Background(), difyCaller(), tt.typ, req)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if streamed[tt.route] {
				for k := 1; k <= 2; k++ {
					want = append(want, fmt.Sprintf(`{"i":%d,"marker":%q,"route":%q}`, k, marker, tt.route))
				}
			} else {
				want = []string{fmt.Sprintf(`{"marker":%q,"route":%q}`, marker, tt.route)}
			}
			if !reflect.DeepEqual(items, want) {
				t.Fatalf("items\n%v\nwant\n%v", items, want)
			}
			var got *difyCall
			for _, c := range f.recorded() {
				if c.Body["marker"] == marker {
					got = &c
				}
			}
			if got == nil {
				t.Fatal("Dify was not called")
			}
			if got.Path != tt.route || got.Key != innerKey {
				t.Errorf("Dify got %s with key %q", got.Path, got.Key)
			}
			var sent map[string]any
			json.Unmarshal([]byte(req), &sent)
			sent["tenant_id"], sent["user_id"], sent["type"] = "tenant-1", "user-1", string(tt.typ)
			if !reflect.DeepEqual(got.Body, sent) {
				t.Errorf("Dify got body\n%v\nwant\n%v", got.Body, sent)
			}
		})
	}
	if n := len(f.recorded()); n != len(tests) {
		t.Errorf("%d calls to Dify, want %d", n, len(tests))
	}
}

// What is refused or answered before Dify: no call may reach it.
func TestDifyNoCall(t *testing.T) {
	model := difyCaller()
	model.Access = wire.AccessModel
	noPerm := difyCaller()
	noPerm.Permissions = &manifest.Permission{Model: &manifest.ModelPermission{Enabled: true, LLM: true}}
	noTenant := difyCaller()
	noTenant.TenantID = ""
	tests := []struct {
		name string
		c    Caller
		typ  wire.InvokeType
		req  string
		want string // the one item, or the error's text
		err  error
	}{
		{"storage set", difyCaller(), wire.BackwardsStorage, `{"opt":"set","key":"k","value":"6869"}`, `{"data":"ok"}`, nil},
		{"storage get", difyCaller(), wire.BackwardsStorage, `{"opt":"get","key":"k"}`, `{"data":"6869"}`, nil},
		{"encrypt", difyCaller(), "encrypt", `{"opt":"encrypt","namespace":"endpoint","identity":"e","data":{}}`, "unsupported invoke type: encrypt", ErrNotAvailable},
		{"unknown type", difyCaller(), "teleport", `{}`, "unsupported invoke type: teleport", ErrNotAvailable},
		{"from a model request", model, wire.BackwardsLLM, `{}`, "you can not invoke dify from model", ErrPermissionDenied},
		{"no tool permission", noPerm, wire.BackwardsTool, `{}`, "permission denied, you need to enable tool access in plugin manifest", ErrPermissionDenied},
		{"no rerank permission", noPerm, wire.BackwardsMultimodalRerank, `{}`, "enable rerank access", ErrPermissionDenied},
		{"no app permission", noPerm, wire.BackwardsFetchApp, `{"app_id":"a"}`, "enable app access", ErrPermissionDenied},
		{"array request", difyCaller(), wire.BackwardsLLM, `[1]`, "llm: the request must be a JSON object", ErrBadRequest},
		{"null request", difyCaller(), wire.BackwardsTextEmbedding, `null`, "text_embedding: the request must be a JSON object (null)", ErrBadRequest},
		{"broken request", difyCaller(), wire.BackwardsTool, `{"tool":`, "tool: the request must be a JSON object (unexpected end", ErrBadRequest},
		{"empty request", difyCaller(), wire.BackwardsUploadFile, ``, "upload_file: the request must be a JSON object", ErrBadRequest},
		{"no tenant", noTenant, wire.BackwardsSystemSummary, `{"text":"x"}`, "no tenant", ErrNotAvailable},
	}
	f := newFakeDify(t)
	h := f.handler(t, innerKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := invoke(h, context.Background(), tt.c, tt.typ, tt.req)
			if tt.err == nil {
				if err != nil || len(items) != 1 || items[0] != tt.want {
					t.Fatalf("got %q, %v; want %s", items, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) || len(items) != 0 {
				t.Fatalf("got %q, %v; want %v containing %q", items, err, tt.err, tt.want)
			}
		})
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("Dify was called: %+v", calls)
	}
}

func TestDifyFailures(t *testing.T) {
	f := newFakeDify(t)
	h := f.handler(t, innerKey)
	tests := []struct {
		name string
		typ  wire.InvokeType
		req  string
		want string
		err  error
	}{
		{"unary error", wire.BackwardsTextEmbedding, `{"fail":"Model e3 not exist."}`, "Dify invoke/text-embedding failed: Model e3 not exist.", nil},
		{"stream error", wire.BackwardsLLM, `{"fail":"quota exceeded"}`, "Dify invoke/llm failed: quota exceeded", nil},
		{"unary scalar", wire.BackwardsModeration, `{"scalar":true}`, `Dify invoke/moderation: the result is "just a string", not a JSON object`, ErrBadReply},
		{"stream scalar", wire.BackwardsApp, `{"scalar":true}`, `Dify invoke/app: item 1 is "just a string", not a JSON object`, ErrBadReply},
		{"nested scalar", wire.BackwardsFetchApp, `{"scalar":true}`, `Dify fetch/app/info: the result's data is "just a string"`, ErrBadReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := invoke(h, context.Background(), difyCaller(), tt.typ, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) || tt.err != nil && !errors.Is(err, tt.err) || len(items) != 0 {
				t.Fatalf("got %q, %v; want %v containing %q", items, err, tt.err, tt.want)
			}
		})
	}

	// A wrong key: Dify's 404, explained.
	_, err := invoke(f.handler(t, "wrong"), context.Background(), difyCaller(), wire.BackwardsSystemSummary, `{"text":"x"}`)
	if !errors.Is(err, difyapi.ErrAuth) || !strings.Contains(err.Error(), "check DIFY_INNER_API_KEY") {
		t.Fatalf("wrong key: %v", err)
	}

	// The plugin going away mid-stream ends the call with emit's error.
	gone := errors.New("session closed")
	n := 0
	err = h.Invoke(context.Background(), difyCaller(), wire.Invocation{Type: wire.BackwardsTool, RequestID: "r", Request: json.RawMessage(`{}`)},
		func(json.RawMessage) error { n++; return gone })
	if err != gone || n != 1 {
		t.Fatalf("emit failure: %v after %d items", err, n)
	}

	// Without a client, nothing but storage works.
	_, err = invoke(NewDify(nil, nil), context.Background(), difyCaller(), wire.BackwardsLLM, `{}`)
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("no client: %v", err)
	}
	_, err = invoke(NewDify(nil, nil), context.Background(), difyCaller(), wire.BackwardsStorage, `{"opt":"get","key":"k"}`)
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("no store: %v", err)
	}
}

// Cancelling the plugin's request ends the call to Dify, on Dify's side too.
func TestDifyCancel(t *testing.T) {
	started, gone := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // as Dify does; Go's server notices a closed connection only after that
		close(started)
		<-r.Context().Done()
		close(gone)
	}))
	t.Cleanup(srv.Close)
	c, err := difyapi.New(difyapi.Config{BaseURL: srv.URL, Key: innerKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err = invoke(NewDify(nil, c), ctx, difyCaller(), wire.BackwardsLLM, `{}`)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second): // a safety net, not a measure: the cancel is immediate
		t.Fatal("Dify never saw the request end")
	}
}

func TestDifyConcurrent(t *testing.T) {
	f := newFakeDify(t)
	h := f.handler(t, innerKey)
	const N = 50
	errs := make(chan error, N)
	for i := range N {
		go func() {
			c := difyCaller()
			c.UserID = fmt.Sprintf("user-%d", i)
			typ, route := wire.BackwardsTextEmbedding, "invoke/text-embedding"
			if i%2 == 1 {
				typ, route = wire.BackwardsLLM, "invoke/llm"
			}
			marker := fmt.Sprintf("c%d", i)
			items, err := invoke(h, context.Background(), c, typ, fmt.Sprintf(`{"marker":%q}`, marker))
			want := []string{fmt.Sprintf(`{"marker":%q,"route":%q}`, marker, route)}
			if typ == wire.BackwardsLLM {
				want = []string{fmt.Sprintf(`{"i":1,"marker":%q,"route":%q}`, marker, route), fmt.Sprintf(`{"i":2,"marker":%q,"route":%q}`, marker, route)}
			}
			if err == nil && !reflect.DeepEqual(items, want) {
				err = fmt.Errorf("invocation %d got %v, want %v", i, items, want)
			}
			errs <- err
		}()
	}
	for range N {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	calls := f.recorded()
	if len(calls) != N {
		t.Fatalf("%d calls, want %d", len(calls), N)
	}
	for _, c := range calls {
		if fmt.Sprintf("user-%s", strings.TrimPrefix(c.Body["marker"].(string), "c")) != c.Body["user_id"] {
			t.Errorf("call %v carries another invocation's user", c.Body)
		}
	}
}

func TestDifyEndpoint(t *testing.T) {
	secret := `[{"name":"api_key","type":"secret-input","required":true},{"name":"region","type":"text-input"}]`
	plain := `[{"name":"region","type":"text-input"}]`
	settings := `{"api_key":"k","region":"eu"}`
	tests := []struct {
		name             string
		op               string
		settings, config string
		want             string // the result, or the error's text
		call             bool   // whether Dify is asked
		err              error
	}{
		{"encrypt", EndpointEncrypt, settings, secret, `{"api_key":"encrypt(k)","region":"encrypt(eu)"}`, true, nil},
		{"decrypt", EndpointDecrypt, settings, secret, `{"api_key":"decrypt(k)","region":"decrypt(eu)"}`, true, nil},
		{"clear", EndpointClear, settings, secret, `{}`, true, nil},
		{"no secrets: no call", EndpointEncrypt, settings, plain, settings, false, nil},
		{"no config: no call", EndpointDecrypt, settings, ``, settings, false, nil},
		{"no secrets clear", EndpointClear, settings, `null`, `{}`, false, nil},
		{"no settings", EndpointEncrypt, ``, secret, `{}`, true, nil},
		{"bad op", "rotate", settings, secret, `unknown op "rotate"`, false, ErrBadRequest},
		{"settings not object", EndpointEncrypt, `[1]`, secret, "settings must be a JSON object", false, ErrBadRequest},
		{"config not array", EndpointEncrypt, settings, `{"a":1}`, "config must be a JSON array", false, ErrBadRequest},
		{"config items not objects", EndpointEncrypt, settings, `[1]`, "config: json: cannot unmarshal", false, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDify(t)
			h := f.handler(t, innerKey)
			out, err := h.Endpoint(context.Background(), "tenant-1", "ep-1", tt.op, json.RawMessage(tt.settings), json.RawMessage(tt.config))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %v containing %q", err, tt.err, tt.want)
				}
			} else if err != nil || !jsonEqual(string(out), tt.want) {
				t.Fatalf("got %s, %v; want %s", out, err, tt.want)
			}
			calls := f.recorded()
			if !tt.call {
				if len(calls) != 0 {
					t.Fatalf("Dify was called: %+v", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].Path != "invoke/encrypt" || calls[0].Key != innerKey {
				t.Fatalf("calls %+v", calls)
			}
			var cfg, data any
			json.Unmarshal([]byte(tt.config), &cfg)
			json.Unmarshal([]byte(cmpOrStr(tt.settings, "{}")), &data)
			want := map[string]any{"tenant_id": "tenant-1", "user_id": "", "opt": tt.op, "namespace": "endpoint", "identity": "ep-1", "data": data, "config": cfg}
			if !reflect.DeepEqual(calls[0].Body, want) {
				t.Fatalf("Dify got\n%v\nwant\n%v", calls[0].Body, want)
			}
		})
	}
	_, err := NewDify(nil, nil).Endpoint(context.Background(), "t", "e", EndpointEncrypt, json.RawMessage(settings), json.RawMessage(secret))
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("no client: %v", err)
	}
}

func cmpOrStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}
