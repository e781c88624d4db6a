package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// authRoutes is one request per authenticated route.
var authRoutes = []struct{ method, path string }{
	{"POST", "/plugin/t1/dispatch/tool/invoke"},
	{"POST", "/v2/invoke/dispatch/tool/invoke"},
	{"POST", "/plugin/t1/dispatch/model/polling/start"},
	{"GET", "/v2/invoke/extract"},
	{"POST", "/plugin/t1/management/install/upload/package"},
	{"POST", "/plugin/t1/management/install/upload/bundle"},
	{"POST", "/plugin/t1/management/install/identifiers"},
	{"POST", "/plugin/t1/management/install/upgrade"},
	{"GET", "/plugin/t1/management/install/tasks"},
	{"GET", "/plugin/t1/management/install/tasks/x"},
	{"POST", "/plugin/t1/management/install/tasks/delete_all"},
	{"POST", "/plugin/t1/management/install/tasks/x/delete"},
	{"POST", "/plugin/t1/management/install/tasks/x/delete/" + toolUID},
	{"GET", "/plugin/t1/management/decode/from_identifier"},
	{"GET", "/plugin/t1/management/fetch/manifest"},
	{"GET", "/plugin/t1/management/fetch/identifier"},
	{"GET", "/plugin/t1/management/fetch/readme"},
	{"POST", "/plugin/t1/management/uninstall"},
	{"GET", "/plugin/t1/management/list"},
	{"GET", "/plugin/t1/management/installation/ids"},
	{"GET", "/plugin/t1/management/tool/list"},
	{"POST", "/plugin/t1/management/installation/fetch/batch"},
	{"POST", "/plugin/t1/management/installation/missing"},
	{"GET", "/plugin/t1/management/models/bindings"},
	{"GET", "/plugin/t1/management/models"},
	{"GET", "/plugin/t1/management/tools"},
	{"GET", "/plugin/t1/management/tool"},
	{"POST", "/plugin/t1/management/tools/check_existence"},
	{"GET", "/plugin/t1/management/triggers"},
	{"GET", "/plugin/t1/management/trigger"},
	{"GET", "/plugin/t1/management/agent_strategies"},
	{"GET", "/plugin/t1/management/agent_strategy"},
	{"GET", "/plugin/t1/management/datasources"},
	{"GET", "/plugin/t1/management/datasource"},
	{"GET", "/plugin/t1/asset/x"},
	{"GET", "/plugin/t1/extract-asset/"},
	{"POST", "/plugin/t1/endpoint/setup"},
	{"POST", "/plugin/t1/endpoint/remove"},
	{"POST", "/plugin/t1/endpoint/update"},
	{"GET", "/plugin/t1/endpoint/list"},
	{"GET", "/plugin/t1/endpoint/list/plugin"},
	{"POST", "/plugin/t1/endpoint/enable"},
	{"POST", "/plugin/t1/endpoint/disable"},
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	for _, rt := range authRoutes {
		for _, key := range []string{"", "wrong", testKey + "x", strings.ToUpper(testKey)} {
			req := httptest.NewRequest(rt.method, rt.path, nil)
			if key != "" {
				req.Header.Set("X-Api-Key", key)
			}
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			expectErr(t, rec, http.StatusUnauthorized, -401, typeUnauthorized, "X-Api-Key")
		}
	}
	if h.disp.count() != 0 || h.inst.lastCall() != "" {
		t.Fatal("an unauthenticated request reached the daemon")
	}
}

// TestAuthEmptyKey: a server without a key refuses everyone, including an empty X-Api-Key.
func TestAuthEmptyKey(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ServerKey = "" })
	req := httptest.NewRequest("GET", "/plugin/t1/management/list", nil)
	req.Header.Set("X-Api-Key", "")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	expectErr(t, rec, http.StatusUnauthorized, -401, typeUnauthorized, "X-Api-Key")
}

// TestEveryRouteAnswersEnvelope: with the key, every route answers a JSON envelope (or raw
// bytes for assets), never the mux's plain-text 404 or 405.
func TestEveryRouteAnswersEnvelope(t *testing.T) {
	h := newHarness(t)
	for _, rt := range authRoutes {
		rec := h.do(rt.method, rt.path, "")
		if strings.HasPrefix(rt.path, "/plugin/t1/asset/") {
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/octet-stream" {
				t.Errorf("%s %s: %d %s", rt.method, rt.path, rec.Code, rec.Header())
			}
			continue
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env["code"] == nil || env["message"] == nil {
			t.Errorf("%s %s: %d not an envelope: %s", rt.method, rt.path, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s %s: route missing: %d %s", rt.method, rt.path, rec.Code, rec.Body)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	h := newHarness(t)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/nope"},
		{"GET", "/plugin/t1/management/nope"},
		{"GET", "/plugin/t1/management/install/identifiers"}, // wrong method
		{"POST", "/plugin/t1/debugging/key"},                 // remote debugging off
		{"POST", "/plugin/t1/dispatch/tool/nope"},
		{"GET", "/metrics"}, // no metrics handler configured
	} {
		rec := h.do(rt.method, rt.path, "")
		if rec.Code != http.StatusNotFound || strings.TrimSpace(rec.Body.String()) != `{"code":"not_found","message":"route not found"}` {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, rec.Code, rec.Body)
		}
	}
}

func TestHealth(t *testing.T) {
	ready := false
	h := newHarness(t, func(c *Config) {
		c.Version = "1.2.3"
		c.Health = func() HealthInfo {
			return HealthInfo{Ready: ready, Pool: PoolStatus{Free: 1, Busy: 2, Total: 3}, BuildTime: "2025-01-01"}
		}
	})
	h.disp.states = []PluginState{{UniqueIdentifier: toolUID, PluginID: "acme/echo", State: "ready", PID: 42, InFlight: 1}}

	rec := h.do("GET", "/health/check", "")
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := map[string]any{
		"status": "ok", "pool_status": map[string]any{"free": 1.0, "busy": 2.0, "total": 3.0}, "version": "1.2.3",
		"build_time": "2025-01-01", "platform": "local", "active_requests": 1.0, "active_dispatch_requests": 0.0,
	}
	if !jsonEqual(got, want) {
		t.Fatalf("health check %v, want %v", got, want)
	}

	rec = h.do("GET", "/health/ready", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"ready":false`) {
		t.Fatalf("not ready: %d %s", rec.Code, rec.Body)
	}
	ready = true
	rec = h.do("GET", "/health/ready", "")
	var r struct {
		Ready   bool          `json:"ready"`
		Plugins []PluginState `json:"plugins"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 || !r.Ready || len(r.Plugins) != 1 || r.Plugins[0].PID != 42 {
		t.Fatalf("ready: %d %s", rec.Code, rec.Body)
	}

	// No auth on health routes.
	req := httptest.NewRequest("GET", "/health/check", nil)
	rec = httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("health check needs no key: %d", rec.Code)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plugin_invocations_total 1\n") })
	})
	for _, p := range []string{"/metrics", "/metrics/"} {
		req := httptest.NewRequest("GET", p, nil) // no key
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "plugin_invocations_total") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
}

func TestNewHTTPServer(t *testing.T) {
	s := NewHTTPServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout != 10*time.Second || s.IdleTimeout != 120*time.Second || s.WriteTimeout != 0 || s.ReadTimeout != 0 {
		t.Fatalf("timeouts: header %v idle %v write %v read %v", s.ReadHeaderTimeout, s.IdleTimeout, s.WriteTimeout, s.ReadTimeout)
	}
}

// TestSlowClient: a client that never finishes its headers is disconnected by the server
// instead of holding a connection forever.
func TestSlowClient(t *testing.T) {
	h := newHarness(t)
	srv := NewHTTPServer("127.0.0.1:0", h.srv)
	srv.ReadHeaderTimeout = 200 * time.Millisecond // the production value is 10 s; the behaviour is the same
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /health/check HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// The server must close the connection; the deadline only keeps a broken test from hanging.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("an incomplete request was answered %d", resp.StatusCode)
		}
		return // net/http may answer 408 before closing
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept the half-sent request open")
	}
}

type fakeDebugKeys struct{ tenants []string }

func (f *fakeDebugKeys) DebugKey(_ context.Context, tenantID string, ttl time.Duration) (string, time.Time, error) {
	f.tenants = append(f.tenants, tenantID)
	return "11111111-2222-3333-4444-555555555555", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil
}

func TestDebuggingKey(t *testing.T) {
	keys := &fakeDebugKeys{}
	h := newHarness(t, func(c *Config) { c.DebugKeys = keys })
	rec := h.do("POST", "/plugin/t9/debugging/key", "")
	d := parseEnvelope(t, rec.Body.Bytes())
	if rec.Code != 200 || d.Code != 0 || !strings.Contains(string(d.Data), `"key":"11111111-2222-3333-4444-555555555555"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(keys.tenants) != 1 || keys.tenants[0] != "t9" {
		t.Errorf("asked for %v", keys.tenants)
	}
	req := httptest.NewRequest("POST", "/plugin/t9/debugging/key", nil)
	rec = httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("without the server key: %d", rec.Code)
	}
}
