package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkToolInvoke measures the HTTP layer alone on Dify's hottest call: auth, the
// installation lookup, body decoding, and a 3-item `data:` stream, with a dispatcher that
// answers at once. End-to-end figures with a real plugin are in docs/benchmarks.md.
func BenchmarkToolInvoke(b *testing.B) {
	h := newHarness(b)
	h.store.addPlugin(b, tenant, toolUID, toolPlugin())
	h.disp.stream = func() *fakeStream {
		return newStream(`{"type":"text","message":{"text":"a"}}`, `{"type":"text","message":{"text":"b"}}`, `{"type":"json","message":{"json_object":{"k":1}}}`)
	}
	body := `{"user_id":"u1","data":{"provider":"echo","tool":"echo","tool_parameters":{"text":"hi"},"credentials":{},"credential_type":"api-key"}}`
	b.ReportAllocs()
	for b.Loop() {
		rec := h.do("POST", "/plugin/"+tenant+"/dispatch/tool/invoke", body, "X-Plugin-ID", "acme/echo")
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), "data: ") != 3 {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkList measures management/list, which Dify calls on every plugin page view.
func BenchmarkList(b *testing.B) {
	h := newHarness(b)
	h.store.addPlugin(b, tenant, toolUID, toolPlugin())
	b.ReportAllocs()
	for b.Loop() {
		rec := h.do("GET", "/plugin/"+tenant+"/management/list?page=1&page_size=256", "")
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
}
