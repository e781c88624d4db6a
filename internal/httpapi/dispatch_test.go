package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

const toolBody = `{"user_id":"u1","conversation_id":"c1","app_id":null,"context":{"credentials":{}},"data":{"provider":"echo","tool":"echo","tool_parameters":{"text":"hi"}}}`

func TestDispatchSSE(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	h.disp.stream = func() *fakeStream {
		return newStream(`{"type":"text","message":{"text":"hi"}}`, `{"type":"text","message":{"text":"!"}}`)
	}

	rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s: %s", rec.Code, rec.Header(), rec.Body)
	}
	want := `data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"hi"}}}` + "\n\n" +
		`data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"!"}}}` + "\n\n"
	if rec.Body.String() != want {
		t.Fatalf("body\n%q\nwant\n%q", rec.Body, want)
	}
	inv := h.disp.last(t)
	if inv.uid != toolUID || inv.access != wire.AccessTool || inv.action != wire.ActionInvokeTool {
		t.Fatalf("invoked %+v", inv)
	}
	if string(inv.data) != `{"provider":"echo","tool":"echo","tool_parameters":{"text":"hi"}}` {
		t.Fatalf("data not passed raw: %s", inv.data)
	}
	ic := inv.ic
	if ic.TenantID != tenant || ic.UserID != "u1" || ic.ConversationID != "c1" || ic.AppID != "" || string(ic.Session) != `{"credentials":{}}` {
		t.Fatalf("invoke context %+v", ic)
	}
}

// TestDispatchRoutes: every dispatch path reaches the dispatcher with its access type and
// action, on both mounts.
func TestDispatchRoutes(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	for _, d := range dispatchRoutes {
		fields := map[string]any{}
		for _, k := range d.required {
			fields[k] = "x"
		}
		if d.modelType != "" {
			fields["model_type"] = d.modelType
		} else if _, ok := fields["model_type"]; ok {
			fields["model_type"] = "llm"
		}
		body, _ := json.Marshal(map[string]any{"tenant_id": tenant, "user_id": "u", "data": fields})
		for _, mount := range []struct{ path, hdr, val string }{
			{"/plugin/t1/dispatch/", "X-Plugin-ID", "acme/echo"},
			{"/v2/invoke/dispatch/", "X-Plugin-Unique-Identifier", toolUID},
		} {
			rec := h.do("POST", mount.path+d.path, string(body), mount.hdr, mount.val)
			if rec.Code != 200 {
				t.Fatalf("%s%s: %d %s", mount.path, d.path, rec.Code, rec.Body)
			}
			inv := h.disp.last(t)
			if inv.access != d.access || inv.action != d.action || inv.uid != toolUID || inv.ic.TenantID != tenant {
				t.Fatalf("%s%s invoked %+v", mount.path, d.path, inv)
			}
			if at, _ := d.action.AccessType(); at != d.access {
				t.Fatalf("%s: action %s belongs to %s", d.path, d.action, at)
			}
		}
	}
}

func TestDispatchRefusals(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	llm := func(data string) string { return `{"user_id":"u","data":` + data + `}` }
	for _, tc := range []struct {
		name, path, body string
		hdr              []string
		status, code     int
		typ, want        string
	}{
		{"no plugin id", "/plugin/t1/dispatch/tool/invoke", toolBody, nil, 400, -400, typeBadRequest, "X-Plugin-ID"},
		{"not installed", "/plugin/t1/dispatch/tool/invoke", toolBody, []string{"X-Plugin-ID", "acme/nope"}, 404, -404, typePluginNotFound, "acme/nope"},
		{"other tenant", "/plugin/t2/dispatch/tool/invoke", toolBody, []string{"X-Plugin-ID", "acme/echo"}, 404, -404, typePluginNotFound, "not installed"},
		{"empty body", "/plugin/t1/dispatch/tool/invoke", "", []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "empty"},
		{"not json", "/plugin/t1/dispatch/tool/invoke", "{", []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "not valid JSON"},
		{"array", "/plugin/t1/dispatch/tool/invoke", "[]", []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "JSON object"},
		{"no data", "/plugin/t1/dispatch/tool/invoke", `{"user_id":"u"}`, []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "field data is required"},
		{"data string", "/plugin/t1/dispatch/tool/invoke", `{"data":"x"}`, []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "data must be an object"},
		{"missing tool", "/plugin/t1/dispatch/tool/invoke", `{"data":{"provider":"echo"}}`, []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "data.tool is required"},
		{"user id type", "/plugin/t1/dispatch/tool/invoke", `{"user_id":5,"data":{}}`, []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, `"user_id" must be a string`},
		{"context type", "/plugin/t1/dispatch/tool/invoke", `{"context":[1],"data":{"provider":"e","tool":"e"}}`, []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "context must be an object"},
		{"model type", "/plugin/t1/dispatch/llm/invoke", llm(`{"provider":"p","model":"m","model_type":"tts"}`), []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, `takes "llm"`},
		{"unknown model type", "/plugin/t1/dispatch/model/schema", llm(`{"provider":"p","model":"m","model_type":"video"}`), []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "unknown"},
		{"trailing", "/plugin/t1/dispatch/tool/invoke", toolBody + "{}", []string{"X-Plugin-ID", "acme/echo"}, 400, -400, typeBadRequest, "after the JSON object"},
		{"v2 no uid", "/v2/invoke/dispatch/tool/invoke", toolBody, nil, 400, -400, typeIdentifier, "X-Plugin-Unique-Identifier is required"},
		{"v2 bad uid", "/v2/invoke/dispatch/tool/invoke", toolBody, []string{"X-Plugin-Unique-Identifier", "acme/echo:1@zz"}, 400, -400, typeIdentifier, "not a plugin unique identifier"},
		{"v2 no tenant", "/v2/invoke/dispatch/tool/invoke", toolBody, []string{"X-Plugin-Unique-Identifier", toolUID}, 400, -400, typeBadRequest, "tenant_id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", tc.path, tc.body, tc.hdr...)
			expectErr(t, rec, tc.status, tc.code, tc.typ, tc.want)
		})
	}
	if n := h.disp.count(); n != 0 {
		t.Fatalf("%d refused requests reached the dispatcher", n)
	}
}

// TestDispatchInvokeErrors: failures before the first result keep the reference's statuses.
func TestDispatchInvokeErrors(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	for _, tc := range []struct {
		err          error
		status, code int
		typ          string
	}{
		{fmt.Errorf("no runtime: %w", store.ErrNotFound), 404, -404, typePluginNotFound},
		{errors.New("plugin crashed"), 500, -500, typeInternal},
		{&wire.SessionError{ErrorType: "ValueError", Message: "bad"}, 500, -500, typeInvoke},
	} {
		h.disp.err = tc.err
		rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
		expectErr(t, rec, tc.status, tc.code, tc.typ, "")
	}
}

// readEvents parses an SSE body the way Dify does and checks the framing byte for byte.
func readEvents(t *testing.T, body string) []decoded {
	t.Helper()
	var out []decoded
	for _, ev := range strings.SplitAfter(body, "\n\n") {
		if ev == "" {
			continue
		}
		if !strings.HasPrefix(ev, "data: ") || !strings.HasSuffix(ev, "\n\n") || strings.Count(ev, "\n") != 2 {
			t.Fatalf("bad event framing %q", ev)
		}
		out = append(out, parseEnvelope(t, []byte(strings.TrimSuffix(strings.TrimPrefix(ev, "data: "), "\n\n"))))
	}
	return out
}

// TestDispatchPluginError: a plugin failure mid-stream is one error event, double encoded:
// decoding message twice yields the plugin's own error type.
func TestDispatchPluginError(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	h.disp.stream = func() *fakeStream {
		s := newStream(`{"type":"text","message":{"text":"partial"}}`)
		s.err = fmt.Errorf("plugin acme/echo: %w", &wire.SessionError{ErrorType: "InvokeRateLimitError", Message: "slow down", Args: json.RawMessage(`{"retry":1}`)})
		return s
	}
	rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
	evs := readEvents(t, rec.Body.String())
	if rec.Code != 200 || len(evs) != 2 || evs[0].Code != 0 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if evs[1].Code != -500 || string(evs[1].Data) != "null" {
		t.Fatalf("error event %+v", evs[1])
	}
	outer := evs[1].errInfo(t)
	if outer.ErrorType != typeInvoke {
		t.Fatalf("outer %+v", outer)
	}
	var inner errInfo
	if err := json.Unmarshal([]byte(outer.Message), &inner); err != nil {
		t.Fatalf("inner message is not JSON: %q", outer.Message)
	}
	if inner.ErrorType != "InvokeRateLimitError" || inner.Message != "slow down" || string(inner.Args) != `{"retry":1}` {
		t.Fatalf("inner %+v", inner)
	}
}

func TestDispatchOtherStreamError(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	h.disp.stream = func() *fakeStream { s := newStream(); s.err = errors.New("plugin exited with status 1"); return s }
	rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
	evs := readEvents(t, rec.Body.String())
	if len(evs) != 1 || evs[0].Code != -500 {
		t.Fatalf("%s", rec.Body)
	}
	if e := evs[0].errInfo(t); e.ErrorType != typeInternal || !strings.Contains(e.Message, "exited") {
		t.Fatalf("%+v", e)
	}
}

// TestDispatchTimeout: a plugin that never finishes gets the reference's timeout event and
// its stream is closed.
func TestDispatchTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ExecutionTimeout = 50 * time.Millisecond })
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	var st *fakeStream
	h.disp.stream = func() *fakeStream {
		st = newStream(`{"type":"text","message":{"text":"a"}}`)
		st.block = true
		return st
	}
	rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
	evs := readEvents(t, rec.Body.String())
	if len(evs) != 2 || evs[0].Code != 0 {
		t.Fatalf("%s", rec.Body)
	}
	if e := evs[1].errInfo(t); evs[1].Code != -500 || e.ErrorType != typeInternal || e.Message != "killed by timeout" {
		t.Fatalf("timeout event %+v %+v", evs[1], e)
	}
	if !st.isClosed() {
		t.Fatal("the stream was not closed")
	}
}

// TestDispatchClientDisconnect: when the client goes away the plugin stream is closed and
// the context the dispatcher got is cancelled.
func TestDispatchClientDisconnect(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	streams := make(chan *fakeStream, 1)
	ctxs := make(chan context.Context, 1)
	h.disp.stream = func() *fakeStream {
		s := newStream(`{"type":"text","message":{"text":"first"}}`)
		s.block = true
		streams <- s
		return s
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxs <- r.Context()
		h.srv.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/plugin/t1/dispatch/tool/invoke", strings.NewReader(toolBody))
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("X-Plugin-ID", "acme/echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "first") {
		t.Fatalf("first event: %q %v", line, err)
	}
	cancel()
	resp.Body.Close()
	st := <-streams
	<-st.closed // blocks until the handler closes the stream; a hang here is the failure
	<-(<-ctxs).Done()
}

// TestAgentBlobMerge: blob_chunk messages of an agent strategy reach Dify as one blob.
func TestAgentBlobMerge(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, agentUID, agentPlugin())
	payload := []byte(strings.Repeat("0123456789", 1000)) // 10000 bytes: two chunks
	chunk := func(seq int, data []byte, end bool) string {
		return fmt.Sprintf(`{"type":"blob_chunk","message":{"id":"f1","sequence":%d,"total_length":%d,"blob":%q,"end":%v},"meta":{"mime_type":"text/plain"}}`,
			seq, len(payload), base64.StdEncoding.EncodeToString(data), end)
	}
	h.disp.stream = func() *fakeStream {
		return newStream(`{"type":"text","message":{"text":"x"}}`, chunk(0, payload[:8192], false), chunk(1, payload[8192:], false), chunk(2, nil, true))
	}
	body := `{"user_id":"u","data":{"agent_strategy_provider":"react","agent_strategy":"react","agent_strategy_params":{}}}`
	rec := h.do("POST", "/plugin/t1/dispatch/agent_strategy/invoke", body, "X-Plugin-ID", "acme/agent")
	evs := readEvents(t, rec.Body.String())
	if len(evs) != 2 {
		t.Fatalf("%d events: %s", len(evs), rec.Body)
	}
	var m struct {
		Type    string `json:"type"`
		Message struct {
			Blob []byte `json:"blob"`
		} `json:"message"`
		Meta map[string]string `json:"meta"`
	}
	if err := json.Unmarshal(evs[1].Data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "blob" || string(m.Message.Blob) != string(payload) || m.Meta["mime_type"] != "text/plain" {
		t.Fatalf("merged blob: type %s, %d bytes, meta %v", m.Type, len(m.Message.Blob), m.Meta)
	}

	// A chunk over 8192 bytes is refused with an error event.
	h.disp.stream = func() *fakeStream { return newStream(chunk(0, make([]byte, 9000), false)) }
	rec = h.do("POST", "/plugin/t1/dispatch/agent_strategy/invoke", body, "X-Plugin-ID", "acme/agent")
	evs = readEvents(t, rec.Body.String())
	if len(evs) != 1 || evs[0].Code != -500 || !strings.Contains(evs[0].errInfo(t).Message, "8192") {
		t.Fatalf("%s", rec.Body)
	}

	// A blob that never ends is reported.
	h.disp.stream = func() *fakeStream { return newStream(chunk(0, payload[:10], false)) }
	rec = h.do("POST", "/plugin/t1/dispatch/agent_strategy/invoke", body, "X-Plugin-ID", "acme/agent")
	evs = readEvents(t, rec.Body.String())
	if len(evs) != 1 || !strings.Contains(evs[0].errInfo(t).Message, "without its last chunk") {
		t.Fatalf("%s", rec.Body)
	}
}

// TestToolBlobChunksPassThrough: for tools Dify merges chunks itself.
func TestToolBlobChunksPassThrough(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	chunk := `{"type":"blob_chunk","message":{"id":"f","sequence":0,"total_length":1,"blob":"YQ==","end":false}}`
	h.disp.stream = func() *fakeStream { return newStream(chunk) }
	rec := h.do("POST", "/plugin/t1/dispatch/tool/invoke", toolBody, "X-Plugin-ID", "acme/echo")
	evs := readEvents(t, rec.Body.String())
	if len(evs) != 1 || string(evs[0].Data) != chunk {
		t.Fatalf("%s", rec.Body)
	}
}

func TestPollingUnsupported(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"start", "check"} {
		rec := h.do("POST", "/plugin/t1/dispatch/model/polling/"+p, `{"data":{}}`, "X-Plugin-ID", "acme/llm")
		expectErr(t, rec, 200, -500, typeInvoke, "PluginLLMPollingUnsupportedError")
	}
}

func TestExtract(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/v2/invoke/extract", "", "X-Plugin-Unique-Identifier", toolUID)
	data := expectOK(t, rec)
	if !strings.Contains(string(data), `"authorized_category":"langgenius"`) || h.inst.lastCall() != "decode "+toolUID {
		t.Fatalf("%s / %s", data, h.inst.lastCall())
	}
	rec = h.do("GET", "/v2/invoke/extract", "")
	expectErr(t, rec, 200, -400, typeIdentifier, "X-Plugin-Unique-Identifier")
}

// TestActiveDispatchCount: /health/check counts dispatches in progress.
func TestActiveDispatchCount(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	started := make(chan *fakeStream, 1)
	h.disp.stream = func() *fakeStream { s := newStream(); s.block = true; started <- s; return s }
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		req := httptest.NewRequest("POST", "/plugin/t1/dispatch/tool/invoke", strings.NewReader(toolBody)).WithContext(ctx)
		req.Header.Set("X-Api-Key", testKey)
		req.Header.Set("X-Plugin-ID", "acme/echo")
		h.srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-started
	rec := h.do("GET", "/health/check", "")
	if !strings.Contains(rec.Body.String(), `"active_dispatch_requests":1`) || !strings.Contains(rec.Body.String(), `"active_requests":2`) {
		t.Fatalf("%s", rec.Body)
	}
	cancel()
	<-done
	rec = h.do("GET", "/health/check", "")
	if !strings.Contains(rec.Body.String(), `"active_dispatch_requests":0`) {
		t.Fatalf("%s", rec.Body)
	}
}
