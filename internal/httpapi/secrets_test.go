package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/plugd/plugd/internal/store"
)

// fakeSecrets encrypts by prefixing "enc:" to secret values, as a stand-in for Dify.
type fakeSecrets struct {
	mu   sync.Mutex
	ops  []string
	fail error
}

func (f *fakeSecrets) Endpoint(_ context.Context, tenant, id, op string, settings, config json.RawMessage) (json.RawMessage, error) {
	f.mu.Lock()
	f.ops = append(f.ops, op)
	f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var m map[string]any
	json.Unmarshal(settings, &m)
	if s, ok := m["api_key"].(string); ok {
		switch op {
		case "encrypt":
			m["api_key"] = "enc:" + s
		case "decrypt":
			m["api_key"] = strings.TrimPrefix(s, "enc:")
		}
	}
	return json.Marshal(m)
}

func TestEndpointSecretsThroughDify(t *testing.T) {
	sec := &fakeSecrets{}
	h := newHarness(t, func(c *Config) { c.Secrets = sec })
	h.store.addPlugin(t, tenant, endpUID, endpointPlugin(true))
	e := setupEndpoint(t, h)
	if !strings.Contains(string(e.Settings), `"api_key":"enc:sk-1234567890"`) {
		t.Fatalf("stored settings are not encrypted: %s", e.Settings)
	}
	rec := h.do("GET", "/plugin/t1/endpoint/list?page=1&page_size=10", "")
	if strings.Contains(rec.Body.String(), "enc:") || strings.Contains(rec.Body.String(), "sk-1234567890") {
		t.Fatalf("list shows a secret: %s", rec.Body)
	}
	// The masked value sent back keeps the secret; the plugin sees it decrypted.
	var list struct {
		Data []struct {
			Settings map[string]any `json:"settings"`
		} `json:"data"`
	}
	json.Unmarshal(rec.Body.Bytes(), &list)
	masked := list.Data[0].Settings["api_key"].(string)
	expectOK(t, h.do("POST", "/plugin/t1/endpoint/update", `{"endpoint_id":"`+e.ID+`","user_id":"u1","name":"n","settings":{"api_key":"`+masked+`","mode":"b"}}`))
	got, _ := h.store.GetEndpoint(t.Context(), tenant, e.ID)
	if !strings.Contains(string(got.Settings), `"api_key":"enc:sk-1234567890"`) {
		t.Fatalf("update lost the secret: %s", got.Settings)
	}
	req := httptest.NewRequest("POST", "/e/"+e.HookID+"/hook", strings.NewReader("x"))
	h.srv.ServeHTTP(httptest.NewRecorder(), req)
	if inv := h.disp.last(t); !strings.Contains(string(inv.data), `"api_key":"sk-1234567890"`) {
		t.Errorf("the plugin did not get the decrypted secret: %s", inv.data)
	}
	expectOK(t, h.do("POST", "/plugin/t1/endpoint/remove", `{"endpoint_id":"`+e.ID+`"}`))
	sec.mu.Lock()
	ops := strings.Join(sec.ops, " ")
	sec.mu.Unlock()
	if ops != "encrypt decrypt decrypt encrypt clear decrypt clear" {
		t.Errorf("calls to Dify: %s", ops)
	}

	// Dify failing is an error for the caller, and nothing is stored.
	sec.fail = errors.New("inner API unreachable")
	rec = h.do("POST", "/plugin/t1/endpoint/setup", setupBodyFor(endpUID, `{"api_key":"sk-2","mode":"a"}`))
	if !strings.Contains(rec.Body.String(), "inner API unreachable") {
		t.Errorf("setup with Dify down: %s", rec.Body)
	}
	if eps, _ := h.store.ListEndpoints(t.Context(), tenant, "", store.Page{Page: 1, Size: 10}); len(eps) != 0 {
		t.Errorf("an endpoint was stored without its secret encrypted: %+v", eps)
	}
}
