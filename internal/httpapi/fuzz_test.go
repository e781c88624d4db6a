package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/store"
)

// The fuzz tests feed request parsers through the whole handler over fakes: whatever the
// input, the handler must not panic (the harness counts recovered panics) and must not
// blame itself with a 5xx or a -500 code for input that is the caller's fault.

func serve(h *harness, req *http.Request) *httptest.ResponseRecorder {
	req.Header.Set("X-Api-Key", testKey)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

func checkNoServerError(t *testing.T, h *harness, rec *httptest.ResponseRecorder, input []byte) {
	t.Helper()
	if n := h.srv.panics.Load(); n != 0 {
		t.Fatalf("handler panicked on %q", input)
	}
	if rec.Code >= 500 {
		t.Fatalf("status %d on %q: %s", rec.Code, input, rec.Body)
	}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		var env struct {
			Code int `json:"code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("answer is not JSON on %q: %s", input, rec.Body)
		}
		if env.Code == -500 {
			t.Fatalf("-500 on %q: %s", input, rec.Body)
		}
	}
}

func FuzzDispatchBody(f *testing.F) {
	f.Add(uint8(0), []byte(toolBody))
	f.Add(uint8(3), []byte(`{"user_id":"u","data":{"provider":"p","model":"m","model_type":"llm","prompt_messages":[]}}`))
	f.Add(uint8(19), []byte(`{"tenant_id":"t1","context":{"credentials":{"tool_credentials":{}}},"data":{"agent_strategy_provider":"a","agent_strategy":"b"}}`))
	f.Add(uint8(5), []byte(`{"data":{"model_type":null,"texts":[1]},"conversation_id":7}`))
	f.Add(uint8(1), []byte(`{"data":{}}  {"data":{}}`))
	f.Add(uint8(2), []byte("\ufeff{}"))
	h := newHarness(f)
	h.store.addPlugin(f, tenant, toolUID, toolPlugin())
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		d := dispatchRoutes[int(route)%len(dispatchRoutes)]
		b, err := parseDispatchBody(body, d)
		if err == nil && !isObject(b.Data) {
			t.Fatalf("accepted data that is not an object: %q", body)
		}
		for _, mount := range []struct{ path, hdr, val string }{
			{"/plugin/t1/dispatch/", "X-Plugin-ID", "acme/echo"},
			{"/v2/invoke/dispatch/", "X-Plugin-Unique-Identifier", toolUID},
		} {
			req := httptest.NewRequest("POST", mount.path+d.path, bytes.NewReader(body))
			req.Header.Set(mount.hdr, mount.val)
			rec := serve(h, req)
			checkNoServerError(t, h, rec, body)
			if err == nil && mount.hdr == "X-Plugin-ID" && rec.Code != 200 {
				t.Fatalf("parsed body refused: %d %s", rec.Code, rec.Body)
			}
		}
	})
}

func FuzzManagementBodies(f *testing.F) {
	routes := []string{
		"install/identifiers", "install/upgrade", "uninstall", "installation/fetch/batch",
		"installation/missing", "tools/check_existence",
	}
	f.Add(uint8(0), []byte(`{"plugin_unique_identifiers":["`+toolUID+`"],"source":"marketplace","metas":[{}]}`))
	f.Add(uint8(1), []byte(`{"original_plugin_unique_identifier":"`+toolUID+`","new_plugin_unique_identifier":"`+toolUID2+`","source":"package","meta":null}`))
	f.Add(uint8(2), []byte(`{"plugin_installation_id":"i"}`))
	f.Add(uint8(3), []byte(`{"plugin_ids":["acme/echo"]}`))
	f.Add(uint8(4), []byte(`{"plugin_unique_identifiers":["`+toolUID+`","x"]}`))
	f.Add(uint8(5), []byte(`{"provider_ids":[{"plugin_id":"acme/echo","provider_name":"echo"}]}`))
	f.Add(uint8(0), []byte(`{"plugin_unique_identifiers":null,"metas":[1]}`))
	h := newHarness(f)
	h.store.addPlugin(f, tenant, toolUID, toolPlugin())
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		req := httptest.NewRequest("POST", "/plugin/t1/management/"+routes[int(route)%len(routes)], bytes.NewReader(body))
		rec := serve(h, req)
		checkNoServerError(t, h, rec, body)
		if rec.Code != 200 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("management route answered %d", rec.Code)
		}
	})
}

func FuzzEndpointBodies(f *testing.F) {
	routes := []string{"setup", "update", "remove", "enable", "disable"}
	f.Add(uint8(0), []byte(setupBodyFor(endpUID, `{"api_key":"sk-1234567890","mode":"a","debug":true}`)))
	f.Add(uint8(0), []byte(setupBodyFor(endpUID, `{"api_key":{"x":1},"mode":5}`)))
	f.Add(uint8(1), []byte(`{"endpoint_id":"e1","user_id":"u","name":"n","settings":{"api_key":"sk*********90"}}`))
	f.Add(uint8(2), []byte(`{"endpoint_id":"e1"}`))
	f.Add(uint8(3), []byte(`{"endpoint_id":["e1"]}`))
	f.Add(uint8(4), []byte(`{"endpoint_id":"e1","x":1e999}`))
	h := newHarness(f)
	h.store.addPlugin(f, tenant, endpUID, endpointPlugin(true))
	h.store.endpoints = append(h.store.endpoints, storeEndpoint("e1", "hook1"))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		req := httptest.NewRequest("POST", "/plugin/t1/endpoint/"+routes[int(route)%len(routes)], bytes.NewReader(body))
		rec := serve(h, req)
		checkNoServerError(t, h, rec, body)
	})
}

// FuzzEndpointRequest: any request the server accepts becomes a raw request that parses back
// with the same method, target and body, and the handler answers it without a server error.
func FuzzEndpointRequest(f *testing.F) {
	f.Add([]byte("POST /e/hook1/a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("GET /e/hook1 HTTP/1.1\r\nHost: h\r\nX-Original-Host: other\r\nDify-Hook-Url: https://x/e/hook1\r\n\r\n"))
	f.Add([]byte("PUT /e/hook1/%2e%2e/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("PATCH /e/hook1/x HTTP/1.1\r\nHost: h\r\nA: 1\r\nA: 2\r\nContent-Length: 0\r\n\r\n"))
	h := newHarness(f)
	h.store.addPlugin(f, tenant, endpUID, endpointPlugin(true))
	h.store.endpoints = append(h.store.endpoints, storeEndpoint("e1", "hook1"))
	h.disp.stream = func() *fakeStream { return newStream(endpointResponse(200, map[string]any{"A": "b"}, "ok")) }
	f.Fuzz(func(t *testing.T, input []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(input)))
		if err != nil {
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxEndpointBody))
		if err != nil {
			return
		}
		raw := endpointRequest(req, "hook1", body)
		back, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("raw request does not parse: %v\ninput %q\nraw %q", err, input, raw)
		}
		backBody, err := io.ReadAll(back.Body)
		if err != nil || !bytes.Equal(backBody, body) {
			t.Fatalf("body %q became %q (%v)\nraw %q", body, backBody, err, raw)
		}
		if back.Method != req.Method || back.Header.Get("Dify-Hook-Id") != "hook1" || back.Header.Get("X-Forwarded-For") != "" {
			t.Fatalf("raw %q", raw)
		}

		// The whole handler, on a fresh copy of the request.
		req2, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(input)))
		if err != nil {
			t.Fatal(err)
		}
		req2.RequestURI = ""
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req2)
		if h.srv.panics.Load() != 0 || rec.Code >= 500 {
			t.Fatalf("%d on %q: %s", rec.Code, input, rec.Body)
		}
	})
}

// FuzzUpload: malformed multipart bodies are refused with -400, never -500, and the
// installer never reads more than the limit.
func FuzzUpload(f *testing.F) {
	const limit = 64
	good, ct := multipartBody(f, [2]string{"verify_signature", "true"}, [2]string{"dify_pkg", "PKG"})
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, []byte(good))
	late, _ := multipartBody(f, [2]string{"dify_pkg", strings.Repeat("y", 100)}, [2]string{"verify_signature", "1"})
	f.Add(boundary, []byte(late))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"dify_pkg\"; filename=\"x\"\r\n\r\nabc\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"dify_pkg\"\r\n\r\nabc"))
	f.Add("", []byte("x"))
	h := newHarness(f, func(c *Config) { c.MaxPackageSize = limit })
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		req := httptest.NewRequest("POST", "/plugin/t1/management/install/upload/package", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		h.inst.uploaded = nil
		rec := serve(h, req)
		checkNoServerError(t, h, rec, body)
		if len(h.inst.uploaded) > limit {
			t.Fatalf("installer read %d bytes", len(h.inst.uploaded))
		}
	})
}

func FuzzParseUID(f *testing.F) {
	for _, s := range []string{toolUID, "echo:1.0@" + strings.Repeat("a", 64), "a/b:1.2.3.4-beta@" + strings.Repeat("0", 32), "a/b:1@x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseUID(s, "x")
		if err != nil {
			return
		}
		rebuilt := u.pluginID() + ":" + u.Version + "@" + u.Checksum
		if rebuilt != s || pluginIDOf(s) != u.pluginID() || checksumOf(s) != u.Checksum {
			t.Fatalf("%q parsed as %+v", s, u)
		}
		if strings.Count(s, "/") > 1 || strings.ContainsAny(s, "\\ \r\n") {
			t.Fatalf("%q accepted", s)
		}
	})
}

func storeEndpoint(id, hook string) store.Endpoint {
	return store.Endpoint{
		ID: id, HookID: hook, TenantID: tenant, UserID: "u", PluginID: "acme/hooks", Name: "n", Enabled: true,
		ExpiredAt: endpointExpiry, Settings: json.RawMessage(`{"api_key":"sk-1234567890"}`),
	}
}
