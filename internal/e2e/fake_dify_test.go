package e2e

// A fake of Dify's inner API (/inner/api/...), the server plugd calls when a plugin calls
// back into Dify. It is written from shared/reference/dify-api-side.md §2 and §4.3 and
// daemon-http-api.md §2.4, never from plugd's client, so that a misreading shared by the
// daemon and its unit tests still fails here.
//
// What it reproduces:
//   - the X-Inner-Api-Key check, answering 404 (not 401) to a missing or wrong key;
//   - Flask's request.get_json(): a body that is not JSON, or not sent as application/json,
//     is a ValueError, so HTTP 500;
//   - tenant_id required in every body (user_id may be empty or absent: Dify then uses its
//     default end user), and the fields each route's payload model requires;
//   - unary answers as HTTP 200 {"data": ..., "error": ""}, failures as {"data": null,
//     "error": "..."} (also HTTP 200);
//   - streamed answers (llm, llm/structured-output, tts, tool, app) as length-prefixed
//     binary frames: 0x0F, 0, uint16 LE 10, uint32 LE payload length, 6 zero bytes, then the
//     JSON {"data": chunk, "error": ""}; Content-Type text/event-stream;
//   - invoke/encrypt for endpoint settings: secret-input fields of `config` present in
//     `data` are encrypted (here: prefixed with "enc:") or decrypted (prefix stripped; a value
//     Dify cannot decrypt is passed through unchanged, as its encrypter swallows the error);
//   - upload/file/request answering a one-use upload URL on this server, and the multipart
//     POST the SDK then makes to it, answered 201 with the file's record.
// Every request is recorded; requests that break the contract are recorded as violations
// (and answered as Dify would fail them), so tests can assert there were none.
//
// fault makes the fake misbehave in one of the ways a broken or overloaded Dify does, for the
// tests of the daemon's error handling.

import (
	"bytes"
	binenc "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Faults the fake can be switched to (fakeDify.setFault). They apply to every inner-API
// route; the file upload URL keeps working.
const (
	faultNone      = ""
	faultError     = "error"     // streams: one error frame; unary: {"data": null, "error": ...}
	faultSSE       = "sse"       // streams as old Dify did: `data: {...}` lines, no frames
	faultNotJSON   = "notjson"   // a well-formed frame (or 200 body) that is not JSON
	faultHugeFrame = "hugeframe" // a frame header announcing ~4 GiB, then the connection ends
	faultTruncated = "truncated" // a frame header announcing 1000 bytes, 20 sent, then EOF
	faultHang      = "hang"      // streams: one good chunk, then silence; unary: silence
	faultStatus500 = "status500" // HTTP 500 with an HTML body
)

// fakeErrorText is what faultError answers, so tests can look for it in the plugin's error.
const fakeErrorText = "fake dify: the model quota of this workspace is used up"

// LLM answer of the fake: these chunks in order, then a last one with the usage.
var fakeLLMPieces = []string{"hello", " world"}

const fakeLLMTotalTokens = 7

// difyCall is one request the fake received.
type difyCall struct {
	Route  string         // after /inner/api/, e.g. invoke/llm
	KeyOK  bool           // X-Inner-Api-Key matched
	Body   map[string]any // the decoded JSON body (nil if it did not decode)
	Raw    []byte
	Header http.Header
}

func (c difyCall) str(key string) string { s, _ := c.Body[key].(string); return s }

// fakeUpload is one file the SDK POSTed to an upload URL.
type fakeUpload struct {
	ID, Filename, Mimetype, TenantID, UserID string
	Data                                     []byte
}

type uploadTicket struct {
	filename, mimetype, tenantID, userID string
	used                                 bool
}

// fakeDify is the fake inner API.
type fakeDify struct {
	srv     *httptest.Server
	release chan struct{} // closed when the test ends, to free hung handlers

	mu         sync.Mutex
	key        string
	fault      string
	calls      []difyCall
	violations []string
	uploads    []fakeUpload
	tickets    map[string]*uploadTicket // by nonce
	plainDecr  []string                 // values asked to be decrypted that were never encrypted
}

// newFakeDify starts the fake; it stops when the test ends.
func newFakeDify(t testing.TB) *fakeDify {
	t.Helper()
	f := &fakeDify{key: "inner-" + randomHex(8), release: make(chan struct{}), tickets: map[string]*uploadTicket{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
		if t.Failed() {
			f.dump(t)
		}
	})
	return f
}

// URL is the value for DIFY_INNER_API_URL.
func (f *fakeDify) URL() string { return f.srv.URL }

// Key is the value for DIFY_INNER_API_KEY.
func (f *fakeDify) Key() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key
}

// setKey changes the key the fake expects (a Dify whose INNER_API_KEY_FOR_PLUGIN changed).
func (f *fakeDify) setKey(k string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = k
}

func (f *fakeDify) setFault(fault string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

// callsTo returns the recorded calls of route (all routes when empty).
func (f *fakeDify) callsTo(route string) []difyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []difyCall
	for _, c := range f.calls {
		if route == "" || c.Route == route {
			out = append(out, c)
		}
	}
	return out
}

// reset forgets the recorded calls.
func (f *fakeDify) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeDify) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeDify) violationList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

func (f *fakeDify) uploadList() []fakeUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uploads)
}

func (f *fakeDify) plainDecrypts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.plainDecr)
}

// dump logs every call, for a failed test.
func (f *fakeDify) dump(t testing.TB) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, c := range f.calls {
		fmt.Fprintf(&b, "%s key_ok=%v %.400s\n", c.Route, c.KeyOK, c.Raw)
	}
	for _, v := range f.violations {
		fmt.Fprintf(&b, "VIOLATION: %s\n", v)
	}
	t.Logf("==== fake Dify: %d calls ====\n%s", len(f.calls), b.String())
}

func (f *fakeDify) violate(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.violations = append(f.violations, msg)
	f.mu.Unlock()
	return msg
}

// streamRoutes are the routes Dify answers with length-prefixed frames.
var streamRoutes = []string{"invoke/llm", "invoke/llm/structured-output", "invoke/tts", "invoke/tool", "invoke/app"}

// requiredFields are the fields each route's payload model needs (besides tenant_id).
var requiredFields = map[string][]string{
	"invoke/llm":                   {"provider", "model", "prompt_messages"},
	"invoke/llm/structured-output": {"provider", "model", "prompt_messages", "structured_output_schema"},
	"invoke/text-embedding":        {"provider", "model", "texts"},
	"invoke/multimodal-embedding":  {"provider", "model", "documents"},
	"invoke/rerank":                {"provider", "model", "query", "docs"},
	"invoke/multimodal-rerank":     {"provider", "model", "query", "docs"},
	"invoke/tts":                   {"provider", "model", "content_text"},
	"invoke/speech2text":           {"provider", "model", "file"},
	"invoke/moderation":            {"provider", "model", "text"},
	"invoke/tool":                  {"tool_type", "provider", "tool", "tool_parameters"},
	"invoke/parameter-extractor":   {"parameters", "model", "instruction", "query"},
	"invoke/question-classifier":   {"query", "model", "classes", "instruction"},
	"invoke/app":                   {"app_id", "inputs", "response_mode"},
	"invoke/encrypt":               {"opt", "namespace", "identity", "data", "config"},
	"invoke/summary":               {"text", "instruction"},
	"upload/file/request":          {"filename", "mimetype"},
	"fetch/app/info":               {"app_id"},
}

func (f *fakeDify) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/files/upload/for-plugin" {
		f.serveUpload(w, r)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	route, underAPI := strings.CutPrefix(r.URL.Path, "/inner/api/")
	f.mu.Lock()
	keyOK := f.key != "" && r.Header.Get("X-Inner-Api-Key") == f.key
	fault := f.fault
	f.mu.Unlock()
	call := difyCall{Route: route, KeyOK: keyOK, Raw: raw, Header: r.Header.Clone()}
	if !underAPI {
		call.Route = r.URL.Path
	}
	_ = json.Unmarshal(raw, &call.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()

	_, known := requiredFields[route]
	switch {
	case !underAPI || !known:
		f.violate("%s %s: no such inner API route", r.Method, r.URL.Path)
		notFound(w)
		return
	case !keyOK:
		// plugin_inner_api_only answers 404 to a bad key, so the API's existence is not revealed.
		notFound(w)
		return
	case r.Method != http.MethodPost:
		f.violate("%s %s: the inner API routes are POST", r.Method, route)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		serverError(w, f.violate("%s: Content-Type %q, Flask's get_json() wants application/json", route, r.Header.Get("Content-Type")))
		return
	}
	if call.Body == nil {
		serverError(w, f.violate("%s: the body is not a JSON object: %.200q", route, raw))
		return
	}
	if tid, _ := call.Body["tenant_id"].(string); tid == "" {
		serverError(w, f.violate("%s: tenant_id is required", route))
		return
	}
	if u, ok := call.Body["user_id"]; ok && u != nil {
		if _, isStr := u.(string); !isStr {
			serverError(w, f.violate("%s: user_id %v is not a string", route, u))
			return
		}
	}
	for _, k := range requiredFields[route] {
		if _, ok := call.Body[k]; !ok {
			serverError(w, f.violate("%s: field %q is required", route, k))
			return
		}
	}

	stream := slices.Contains(streamRoutes, route)
	if fault != faultNone {
		f.misbehave(w, r, stream, fault)
		return
	}
	if stream {
		f.serveStream(w, route, call)
		return
	}
	data, err := f.unary(route, call, r)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "error": ""})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n")
}

// serverError is what Flask answers to the ValueError Dify raises for a bad payload.
func serverError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusInternalServerError, map[string]any{"code": "internal_server_error", "message": msg, "status": 500})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// frame encodes one length-prefixed frame around payload.
func frame(payload []byte) []byte {
	out := make([]byte, 14, 14+len(payload))
	out[0] = 0x0f
	binenc.LittleEndian.PutUint16(out[2:4], 10)
	binenc.LittleEndian.PutUint32(out[4:8], uint32(len(payload)))
	return append(out, payload...)
}

// readFrames decodes a whole body of frames into their payloads; it is the fake's own check
// of its encoding, and the tests' decoder of the fake's answers.
func readFrames(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return out, fmt.Errorf("offset %d: %d bytes left, a frame's system header needs 4", off, len(b)-off)
		}
		if b[off] != 0x0f {
			return out, fmt.Errorf("offset %d: magic 0x%02x, want 0x0f", off, b[off])
		}
		hl := int(binenc.LittleEndian.Uint16(b[off+2 : off+4]))
		if hl < 4 {
			return out, fmt.Errorf("offset %d: header length %d is too short for the data length", off, hl)
		}
		if len(b)-off-4 < hl {
			return out, fmt.Errorf("offset %d: header of %d bytes cut short", off, hl)
		}
		n := int64(binenc.LittleEndian.Uint32(b[off+4 : off+8]))
		start := int64(off) + 4 + int64(hl)
		if int64(len(b))-start < n {
			return out, fmt.Errorf("offset %d: payload of %d bytes cut short (%d left)", off, n, int64(len(b))-start)
		}
		out = append(out, b[start:start+n])
		off = int(start + n)
	}
	return out, nil
}

// streamWriter writes frames and flushes each, as Flask streams a generator.
type streamWriter struct {
	w http.ResponseWriter
}

func startStream(w http.ResponseWriter) *streamWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return &streamWriter{w: w}
}

func (s *streamWriter) raw(b []byte) {
	s.w.Write(b)
	if fl, ok := s.w.(http.Flusher); ok {
		fl.Flush()
	}
}

func (s *streamWriter) chunk(data any) {
	b, err := json.Marshal(map[string]any{"data": data, "error": ""})
	if err != nil {
		panic(err)
	}
	s.raw(frame(b))
}

func (s *streamWriter) fail(msg string) {
	b, _ := json.Marshal(map[string]any{"data": nil, "error": msg})
	s.raw(frame(b))
}

// llmChunks are the fake's LLMResultChunks for model.
func llmChunks(model string, structured bool) []map[string]any {
	var out []map[string]any
	for i, p := range fakeLLMPieces {
		out = append(out, map[string]any{
			"model": model, "prompt_messages": []any{}, "system_fingerprint": nil,
			"delta": map[string]any{
				"index":   i,
				"message": map[string]any{"role": "assistant", "content": p, "name": nil, "tool_calls": []any{}},
				"usage":   nil, "finish_reason": nil,
			},
		})
	}
	last := map[string]any{
		"model": model, "prompt_messages": []any{}, "system_fingerprint": nil,
		"delta": map[string]any{
			"index":   len(fakeLLMPieces),
			"message": map[string]any{"role": "assistant", "content": "", "name": nil, "tool_calls": []any{}},
			"usage": map[string]any{
				"prompt_tokens": 5, "prompt_unit_price": "0.001", "prompt_price_unit": "0.001", "prompt_price": "0.000005",
				"completion_tokens": 2, "completion_unit_price": "0.002", "completion_price_unit": "0.001", "completion_price": "0.000004",
				"total_tokens": fakeLLMTotalTokens, "total_price": "0.000009", "currency": "USD", "latency": 0.01,
			},
			"finish_reason": "stop",
		},
	}
	if structured {
		last["structured_output"] = map[string]any{"answer": strings.Join(fakeLLMPieces, "")}
	}
	return append(out, last)
}

// fakeToolText is the text message the fake's tools answer.
func fakeToolText(provider, tool string, params any) string {
	b, _ := json.Marshal(params)
	return fmt.Sprintf("fake tool %s/%s ran with %s", provider, tool, b)
}

func (f *fakeDify) serveStream(w http.ResponseWriter, route string, c difyCall) {
	s := startStream(w)
	switch route {
	case "invoke/llm", "invoke/llm/structured-output":
		for _, ch := range llmChunks(c.str("model"), route != "invoke/llm") {
			s.chunk(ch)
		}
	case "invoke/tts":
		s.chunk(map[string]any{"result": hex.EncodeToString([]byte("fake audio 1"))})
		s.chunk(map[string]any{"result": hex.EncodeToString([]byte("fake audio 2"))})
	case "invoke/tool":
		switch tt := c.str("tool_type"); tt {
		case "builtin", "workflow", "api", "mcp":
		default:
			s.fail(f.violate("invoke/tool: tool_type %q is none of builtin, workflow, api, mcp", tt))
			return
		}
		s.chunk(map[string]any{"type": "text", "message": map[string]any{"text": fakeToolText(c.str("provider"), c.str("tool"), c.Body["tool_parameters"])}, "meta": nil})
		s.chunk(map[string]any{"type": "json", "message": map[string]any{"json_object": map[string]any{"ok": true}, "suppress_output": false}, "meta": nil})
	case "invoke/app":
		conv := randomHex(16)
		if c.str("response_mode") == "blocking" {
			s.chunk(map[string]any{"event": "message", "answer": "fake app answer", "conversation_id": conv, "metadata": map[string]any{}})
			return
		}
		s.chunk(map[string]any{"event": "message", "answer": "fake app ", "conversation_id": conv})
		s.chunk(map[string]any{"event": "message", "answer": "answer", "conversation_id": conv})
		s.chunk(map[string]any{"event": "message_end", "conversation_id": conv, "metadata": map[string]any{}})
	}
}

// unary answers a non-streamed route's data.
func (f *fakeDify) unary(route string, c difyCall, r *http.Request) (any, error) {
	usage := map[string]any{"tokens": 3, "total_tokens": 3, "unit_price": "0", "price_unit": "0", "total_price": "0", "currency": "USD", "latency": 0.01}
	switch route {
	case "invoke/text-embedding", "invoke/multimodal-embedding":
		n := 1
		if l, ok := c.Body["texts"].([]any); ok {
			n = len(l)
		} else if l, ok := c.Body["documents"].([]any); ok {
			n = len(l)
		}
		emb := make([][]float64, n)
		for i := range emb {
			emb[i] = []float64{0.1, 0.2, 0.3}
		}
		return map[string]any{"model": c.str("model"), "embeddings": emb, "usage": usage}, nil
	case "invoke/rerank", "invoke/multimodal-rerank":
		var docs []map[string]any
		if l, ok := c.Body["docs"].([]any); ok {
			for i, d := range l {
				docs = append(docs, map[string]any{"index": i, "text": d, "score": 1.0 / float64(i+1)})
			}
		}
		return map[string]any{"model": c.str("model"), "docs": docs}, nil
	case "invoke/speech2text":
		return map[string]any{"result": "fake transcript"}, nil
	case "invoke/moderation":
		return map[string]any{"result": false}, nil
	case "invoke/parameter-extractor", "invoke/question-classifier":
		return map[string]any{"inputs": map[string]any{"query": c.Body["query"]}, "process_data": map[string]any{}, "outputs": map[string]any{"fake": true}}, nil
	case "invoke/summary":
		return map[string]any{"summary": "fake summary"}, nil
	case "fetch/app/info":
		return map[string]any{"app_id": c.Body["app_id"], "parameters": map[string]any{}}, nil
	case "invoke/encrypt":
		return f.encrypt(c)
	case "upload/file/request":
		return f.uploadTicket(c)
	}
	return nil, fmt.Errorf("route %s has no canned answer", route)
}

// encrypt is invoke/encrypt: ProviderConfigEncrypter over the secret-input fields of config.
func (f *fakeDify) encrypt(c difyCall) (any, error) {
	opt, ns := c.str("opt"), c.str("namespace")
	if ns != "endpoint" {
		return nil, errors.New(f.violate("invoke/encrypt: namespace %q, want endpoint", ns))
	}
	if c.str("identity") == "" {
		return nil, errors.New(f.violate("invoke/encrypt: empty identity"))
	}
	data, ok := c.Body["data"].(map[string]any)
	if !ok {
		return nil, errors.New(f.violate("invoke/encrypt: data %T is not an object", c.Body["data"]))
	}
	configs, ok := c.Body["config"].([]any)
	if !ok {
		return nil, errors.New(f.violate("invoke/encrypt: config %T is not a list", c.Body["config"]))
	}
	var secrets []string
	for i, item := range configs {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, errors.New(f.violate("invoke/encrypt: config[%d] is not an object", i))
		}
		name, _ := m["name"].(string)
		typ, _ := m["type"].(string)
		if name == "" || typ == "" {
			return nil, errors.New(f.violate("invoke/encrypt: config[%d] lacks name or type: %v", i, m))
		}
		if typ == "secret-input" {
			secrets = append(secrets, name)
		}
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = v
	}
	switch opt {
	case "encrypt":
		for _, k := range secrets {
			if s, ok := out[k].(string); ok && s != "" {
				out[k] = "enc:" + s
			}
		}
	case "decrypt":
		for _, k := range secrets {
			s, ok := out[k].(string)
			if !ok || s == "" {
				continue
			}
			if plain, ok := strings.CutPrefix(s, "enc:"); ok {
				out[k] = plain
			} else {
				f.mu.Lock()
				f.plainDecr = append(f.plainDecr, k+"="+s)
				f.mu.Unlock()
			}
		}
	case "clear":
		return map[string]any{"data": map[string]any{}}, nil
	default:
		return nil, errors.New(f.violate("invoke/encrypt: opt %q is none of encrypt, decrypt, clear", opt))
	}
	return map[string]any{"data": out}, nil
}

// uploadTicket is upload/file/request: a one-use URL on this server.
func (f *fakeDify) uploadTicket(c difyCall) (any, error) {
	nonce := randomHex(16)
	f.mu.Lock()
	f.tickets[nonce] = &uploadTicket{filename: c.str("filename"), mimetype: c.str("mimetype"), tenantID: c.str("tenant_id"), userID: c.str("user_id")}
	f.mu.Unlock()
	return map[string]any{"url": fmt.Sprintf("%s/files/upload/for-plugin?timestamp=1700000000&nonce=%s&sign=fake&tenant_id=%s&user_id=%s",
		f.srv.URL, nonce, c.str("tenant_id"), c.str("user_id"))}, nil
}

// serveUpload accepts the SDK's multipart POST (field "file") to an upload URL and answers
// 201 with the file record the SDK's UploadFileResponse reads.
func (f *fakeDify) serveUpload(w http.ResponseWriter, r *http.Request) {
	nonce := r.URL.Query().Get("nonce")
	f.mu.Lock()
	ticket := f.tickets[nonce]
	valid := ticket != nil && !ticket.used
	if valid {
		ticket.used = true
	}
	f.mu.Unlock()
	if r.Method != http.MethodPost || !valid {
		http.Error(w, `{"code":"forbidden","message":"Invalid request."}`, http.StatusForbidden)
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": "no_file_uploaded", "message": err.Error()})
		return
	}
	defer file.Close()
	data, _ := io.ReadAll(file)
	mimetype := hdr.Header.Get("Content-Type")
	if hdr.Filename != ticket.filename || mimetype != ticket.mimetype {
		writeJSON(w, http.StatusForbidden, map[string]any{"code": "forbidden",
			"message": fmt.Sprintf("file %q (%s) is not the one signed for (%q, %s)", hdr.Filename, mimetype, ticket.filename, ticket.mimetype)})
		return
	}
	id := randomHex(16)
	f.mu.Lock()
	f.uploads = append(f.uploads, fakeUpload{ID: id, Filename: hdr.Filename, Mimetype: mimetype, TenantID: ticket.tenantID, UserID: ticket.userID, Data: data})
	f.mu.Unlock()
	ext := path.Ext(hdr.Filename)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": id, "name": hdr.Filename, "size": len(data), "extension": strings.TrimPrefix(ext, "."), "mime_type": mimetype,
		"preview_url": fmt.Sprintf("%s/files/tools/%s%s?timestamp=1700000000&nonce=%s&sign=fake", f.srv.URL, id, ext, randomHex(16)),
	})
}

// misbehave answers as a broken Dify would.
func (f *fakeDify) misbehave(w http.ResponseWriter, r *http.Request, stream bool, fault string) {
	switch fault {
	case faultStatus500:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html><body><h1>500 Internal Server Error</h1></body></html>")
		return
	case faultError:
		if stream {
			startStream(w).fail(fakeErrorText)
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"data": nil, "error": fakeErrorText})
		}
		return
	case faultNotJSON:
		if stream {
			startStream(w).raw(frame([]byte("<html>this is not JSON</html>")))
		} else {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html>this is not JSON</html>")
		}
		return
	case faultHang:
		if stream {
			s := startStream(w)
			s.chunk(llmChunks("fake-model", false)[0])
		}
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		return
	}
	if !stream { // the framing faults only concern streams: answer a unary route normally
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "error": "fault " + fault + " on a unary route"})
		return
	}
	s := startStream(w)
	switch fault {
	case faultSSE:
		b, _ := json.Marshal(map[string]any{"data": llmChunks("fake-model", false)[0], "error": ""})
		s.raw([]byte("data: " + string(b) + "\n\n"))
	case faultHugeFrame:
		h := frame(nil)
		binenc.LittleEndian.PutUint32(h[4:8], 0xfffffff0)
		s.raw(append(h, bytes.Repeat([]byte("x"), 64)...))
	case faultTruncated:
		h := frame(nil)
		binenc.LittleEndian.PutUint32(h[4:8], 1000)
		s.raw(append(h, []byte(`{"data": {"model": "x"`)...))
	default:
		panic("unknown fault " + fault)
	}
}

// ---- the fake's own checks (no daemon, no Python) ----

func TestFakeDifyWireFormat(t *testing.T) {
	f := newFakeDify(t)
	post := func(route, key string, body any) (int, http.Header, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/inner/api/"+route, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("X-Inner-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, out
	}
	base := map[string]any{"tenant_id": "t1", "user_id": "u1"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	llm := with(map[string]any{"provider": "p", "model": "m", "model_type": "llm", "mode": "chat", "completion_params": map[string]any{},
		"prompt_messages": []any{map[string]any{"role": "user", "content": "hi"}}, "tools": nil, "stop": nil, "stream": true})

	tests := []struct {
		name, route, key string
		body             map[string]any
		status           int
		check            func(t *testing.T, h http.Header, b []byte)
	}{
		{name: "no key", route: "invoke/llm", body: llm, status: 404},
		{name: "wrong key", route: "invoke/llm", key: "nope", body: llm, status: 404},
		{name: "no tenant", route: "invoke/summary", key: f.Key(), body: map[string]any{"user_id": "u", "text": "x", "instruction": "y"}, status: 500},
		{name: "llm stream", route: "invoke/llm", key: f.Key(), body: llm, status: 200, check: func(t *testing.T, h http.Header, b []byte) {
			if h.Get("Content-Type") != "text/event-stream" {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
			if len(b) < 14 || b[0] != 0x0f || b[1] != 0 || b[2] != 10 || b[3] != 0 || !bytes.Equal(b[8:14], make([]byte, 6)) {
				t.Errorf("first frame header % x", b[:min(14, len(b))])
			}
			frames, err := readFrames(b)
			if err != nil || len(frames) != len(fakeLLMPieces)+1 {
				t.Fatalf("%d frames, %v", len(frames), err)
			}
			var text strings.Builder
			for _, fr := range frames {
				var env struct {
					Data struct {
						Delta struct {
							Message struct{ Content string }
							Usage   *struct {
								TotalTokens int `json:"total_tokens"`
							}
						}
					}
					Error *string
				}
				if err := json.Unmarshal(fr, &env); err != nil || env.Error == nil || *env.Error != "" {
					t.Fatalf("frame %s: %v", fr, err)
				}
				text.WriteString(env.Data.Delta.Message.Content)
			}
			if text.String() != "hello world" {
				t.Errorf("text %q", text.String())
			}
		}},
		{name: "encrypt", route: "invoke/encrypt", key: f.Key(), body: with(map[string]any{"opt": "encrypt", "namespace": "endpoint", "identity": "ep1",
			"data": map[string]any{"api_key": "sk", "plain": "p"}, "config": []any{map[string]any{"name": "api_key", "type": "secret-input"}, map[string]any{"name": "plain", "type": "text-input"}}}),
			status: 200, check: func(t *testing.T, h http.Header, b []byte) {
				if string(b) != `{"data":{"data":{"api_key":"enc:sk","plain":"p"}},"error":""}` {
					t.Errorf("body %s", b)
				}
			}},
		{name: "decrypt", route: "invoke/encrypt", key: f.Key(), body: with(map[string]any{"opt": "decrypt", "namespace": "endpoint", "identity": "ep1",
			"data": map[string]any{"api_key": "enc:sk"}, "config": []any{map[string]any{"name": "api_key", "type": "secret-input"}}}),
			status: 200, check: func(t *testing.T, h http.Header, b []byte) {
				if string(b) != `{"data":{"data":{"api_key":"sk"}},"error":""}` {
					t.Errorf("body %s", b)
				}
			}},
		{name: "upload", route: "upload/file/request", key: f.Key(), body: with(map[string]any{"filename": "a.txt", "mimetype": "text/plain"}),
			status: 200, check: func(t *testing.T, h http.Header, b []byte) {
				var env struct {
					Data  struct{ URL string }
					Error string
				}
				if err := json.Unmarshal(b, &env); err != nil || !strings.HasPrefix(env.Data.URL, f.URL()+"/files/upload/for-plugin?") {
					t.Fatalf("body %s", b)
				}
				var buf bytes.Buffer
				mw := newMultipart(&buf, "file", "a.txt", "text/plain", []byte("abc"))
				resp, err := http.Post(env.Data.URL, mw, &buf)
				if err != nil {
					t.Fatal(err)
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 || !strings.Contains(string(rb), `"size":3`) {
					t.Errorf("upload: HTTP %d %s", resp.StatusCode, rb)
				}
				if ups := f.uploadList(); len(ups) != 1 || string(ups[0].Data) != "abc" || ups[0].TenantID != "t1" {
					t.Errorf("uploads %+v", ups)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, b := post(tt.route, tt.key, tt.body)
			if status != tt.status {
				t.Fatalf("HTTP %d %s, want %d", status, b, tt.status)
			}
			if tt.check != nil {
				tt.check(t, h, b)
			}
		})
	}
}

// FuzzReadFrames checks the frame decoder neither panics nor loops on any input, and never
// returns more payload bytes than it was given (a length field is never trusted).
func FuzzReadFrames(f *testing.F) {
	f.Add(frame([]byte(`{"data":1,"error":""}`)))
	f.Add(append(frame([]byte("a")), frame(nil)...))
	f.Add([]byte{0x0f, 0, 0x0a, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x0f, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, _ := readFrames(b)
		var re []byte
		for _, fr := range frames {
			re = append(re, fr...)
		}
		if len(re) > len(b) {
			t.Fatalf("decoded %d payload bytes from %d input bytes", len(re), len(b))
		}
	})
}

// newMultipart writes a one-file multipart body into buf and returns its Content-Type.
func newMultipart(buf *bytes.Buffer, field, filename, mimetype string, data []byte) string {
	boundary := "fakeboundary" + randomHex(8)
	fmt.Fprintf(buf, "--%s\r\nContent-Disposition: form-data; name=%q; filename=%q\r\nContent-Type: %s\r\n\r\n", boundary, field, filename, mimetype)
	buf.Write(data)
	fmt.Fprintf(buf, "\r\n--%s--\r\n", boundary)
	return "multipart/form-data; boundary=" + boundary
}
