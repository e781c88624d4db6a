package backwards

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

func TestCheck(t *testing.T) {
	all := &manifest.Permission{
		Tool:    &manifest.Switch{Enabled: true},
		Model:   &manifest.ModelPermission{Enabled: true, LLM: true, TextEmbedding: true, Rerank: true, TTS: true, Speech2Text: true, Moderation: true},
		Node:    &manifest.Switch{Enabled: true},
		App:     &manifest.Switch{Enabled: true},
		Storage: &manifest.StoragePermission{Enabled: true, Size: 1024},
	}
	modelOff := &manifest.Permission{Model: &manifest.ModelPermission{Enabled: false, LLM: true}}
	llmOnly := &manifest.Permission{Model: &manifest.ModelPermission{Enabled: true, LLM: true}}
	tests := []struct {
		name   string
		access wire.AccessType
		perm   *manifest.Permission
		typ    wire.InvokeType
		want   error
		msg    string
	}{
		{"all granted tool", wire.AccessTool, all, wire.BackwardsTool, nil, ""},
		{"all granted storage", wire.AccessTool, all, wire.BackwardsStorage, nil, ""},
		{"all granted summary", wire.AccessEndpoint, all, wire.BackwardsSystemSummary, nil, ""},
		{"all granted fetch_app", wire.AccessAgentStrategy, all, wire.BackwardsFetchApp, nil, ""},
		{"from a model request", wire.AccessModel, all, wire.BackwardsStorage, ErrPermissionDenied, "you can not invoke dify from model"},
		{"no permissions at all", wire.AccessTool, nil, wire.BackwardsStorage, ErrPermissionDenied, "permission denied, you need to enable storage access in plugin manifest"},
		{"upload_file always", wire.AccessTool, nil, wire.BackwardsUploadFile, nil, ""},
		{"model switch off", wire.AccessTool, modelOff, wire.BackwardsLLM, ErrPermissionDenied, "enable llm access"},
		{"llm only: llm", wire.AccessTool, llmOnly, wire.BackwardsLLMStructuredOutput, nil, ""},
		{"llm only: rerank", wire.AccessTool, llmOnly, wire.BackwardsMultimodalRerank, ErrPermissionDenied, "enable rerank access"},
		{"llm only: tts", wire.AccessTool, llmOnly, wire.BackwardsTTS, ErrPermissionDenied, "enable tts access"},
		{"llm only: node", wire.AccessTool, llmOnly, wire.BackwardsNodeQuestionClassifier, ErrPermissionDenied, "enable node access"},
		{"unknown type", wire.AccessTool, all, "teleport", ErrNotAvailable, "unsupported invoke type: teleport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(Caller{Access: tt.access, Permissions: tt.perm}, tt.typ)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
}

// call runs one invocation through h and returns the emitted items.
func call(t *testing.T, h *Local, c Caller, typ wire.InvokeType, req string) ([]string, error) {
	t.Helper()
	var out []string
	err := h.Invoke(context.Background(), c, wire.Invocation{Type: typ, RequestID: "r1", Request: json.RawMessage(req)},
		func(b json.RawMessage) error { out = append(out, string(b)); return nil })
	return out, err
}

func TestLocalStorage(t *testing.T) {
	dir := t.TempDir()
	h := NewLocal(NewFileStore(dir, 0))
	c := Caller{PluginID: "me/store", Access: wire.AccessTool, Permissions: &manifest.Permission{
		Storage: &manifest.StoragePermission{Enabled: true, Size: 16},
	}}
	steps := []struct {
		req  string
		want string // the one emitted item, or the error text
		err  error
	}{
		{`{"opt":"exist","key":"k"}`, `{"data":false,"exist_num":0}`, nil},
		{`{"opt":"get","key":"k"}`, `storage key not found: "k"`, ErrKeyNotFound},
		{`{"opt":"set","key":"k","value":"776f726c64"}`, `{"data":"ok"}`, nil},
		{`{"opt":"get","key":"k"}`, `{"data":"776f726c64"}`, nil},
		{`{"opt":"exist","key":"k"}`, `{"data":true,"exist_num":1}`, nil},
		{`{"opt":"set","key":"k2","value":"` + strings.Repeat("00", 12) + `"}`, `storage quota exceeded`, ErrQuotaExceeded},
		{`{"opt":"set","key":"k","value":"` + strings.Repeat("00", 16) + `"}`, `{"data":"ok"}`, nil}, // replacing counts the new size only
		{`{"opt":"del","key":"k"}`, `{"data":"ok","deleted_num":1}`, nil},
		{`{"opt":"del","key":"k"}`, `{"data":"ok","deleted_num":0}`, nil},
		{`{"opt":"set","key":"../k","value":""}`, `invalid storage key`, ErrInvalidKey},
		{`{"opt":"set","key":"k","value":"zz"}`, `not hex`, ErrBadRequest},
		{`{"opt":"set","key":"k"}`, `no value`, ErrBadRequest},
		{`{"opt":"list","key":"k"}`, `unknown opt "list"`, ErrBadRequest},
		{`[1]`, `bad backwards request`, ErrBadRequest},
	}
	for i, s := range steps {
		out, err := call(t, h, c, wire.BackwardsStorage, s.req)
		switch {
		case s.err != nil:
			if !errors.Is(err, s.err) || !strings.Contains(err.Error(), s.want) {
				t.Fatalf("step %d %s: err %v, want %v containing %q", i, s.req, err, s.err, s.want)
			}
		case err != nil || len(out) != 1 || out[0] != s.want:
			t.Fatalf("step %d %s: got %q, %v; want %s", i, s.req, out, err, s.want)
		}
	}
}

func TestLocalRefusals(t *testing.T) {
	h := NewLocal(NewFileStore(t.TempDir(), 0))
	perm := &manifest.Permission{
		Model:   &manifest.ModelPermission{Enabled: true, LLM: true},
		Storage: &manifest.StoragePermission{Enabled: true},
	}
	tests := []struct {
		name   string
		access wire.AccessType
		perm   *manifest.Permission
		typ    wire.InvokeType
		want   string
		is     error
	}{
		{"llm has no Dify", wire.AccessTool, perm, wire.BackwardsLLM,
			`"llm" is not available without Dify (plugd plugin run/invoke has no Dify to call)`, ErrNotAvailable},
		{"upload_file has no Dify", wire.AccessTool, perm, wire.BackwardsUploadFile,
			`"upload_file" is not available without Dify (plugd plugin run/invoke has no Dify to call)`, ErrNotAvailable},
		{"permission before availability", wire.AccessTool, perm, wire.BackwardsTool,
			`permission denied, you need to enable tool access in plugin manifest`, ErrPermissionDenied},
		{"storage from a model request", wire.AccessModel, perm, wire.BackwardsStorage,
			`you can not invoke dify from model`, ErrPermissionDenied},
		{"storage not granted", wire.AccessTool, nil, wire.BackwardsStorage,
			`permission denied, you need to enable storage access in plugin manifest`, ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Caller{PluginID: "me/p", Access: tt.access, Permissions: tt.perm}
			out, err := call(t, h, c, tt.typ, `{"opt":"get","key":"k"}`)
			if len(out) != 0 || !errors.Is(err, tt.is) || err.Error() != tt.want {
				t.Fatalf("got %q, %v; want error %q", out, err, tt.want)
			}
		})
	}
}

func TestFileStorePersists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ns := Namespace{TenantID: "t-1", PluginID: "me/store"}
	s := NewFileStore(dir, 0)
	if err := s.Set(ctx, ns, "a", []byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, ns, "b", []byte{0, 1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delete(ctx, ns, "a"); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	// Another namespace of the same plugin id, and the same tenant with another plugin, are apart.
	if err := s.Set(ctx, Namespace{PluginID: "me/store"}, "b", []byte("other"), 0); err != nil {
		t.Fatal(err)
	}

	want := filepath.Join(dir, "t-1", "me%2Fstore.json")
	if s.Path(ns) != want {
		t.Fatalf("Path = %s, want %s", s.Path(ns), want)
	}
	raw, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"b":"AAEC"}` {
		t.Errorf("file holds %s", raw)
	}
	entries, _ := os.ReadDir(filepath.Dir(want))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	fresh := NewFileStore(dir, 0)
	if v, err := fresh.Get(ctx, ns, "b"); err != nil || string(v) != "\x00\x01\x02" {
		t.Errorf("after reopening: %q, %v", v, err)
	}
	if _, err := fresh.Get(ctx, ns, "a"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("deleted key: %v", err)
	}
	if v, _ := fresh.Get(ctx, Namespace{PluginID: "me/store"}, "b"); string(v) != "other" {
		t.Errorf("tenantless namespace: %q", v)
	}
}

func TestFileStoreDamagedFile(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir, 0)
	ns := Namespace{PluginID: "me/p"}
	if err := os.MkdirAll(filepath.Dir(s.Path(ns)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(ns), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), ns, "k", []byte("v"), 0); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Set on a damaged file: %v", err)
	}
	if b, _ := os.ReadFile(s.Path(ns)); string(b) != "{not json" {
		t.Errorf("damaged file was overwritten: %q", b)
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := NewFileStore(t.TempDir(), 0)
	ns := Namespace{PluginID: "me/p"}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			key := string(rune('a' + i))
			if err := s.Set(ctx, ns, key, []byte(key), 0); err != nil {
				t.Error(err)
			}
			if v, err := s.Get(ctx, ns, key); err != nil || string(v) != key {
				t.Errorf("Get(%s) = %q, %v", key, v, err)
			}
		})
	}
	wg.Wait()
	var m map[string][]byte
	b, _ := os.ReadFile(s.Path(ns))
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 16 {
		t.Fatalf("file has %d keys (%v): %s", len(m), err, b)
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"k", true},
		{"user:42/settings.json", true},
		{"日本語", true},
		{strings.Repeat("k", MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
		{"a..b", false},
		{"a//b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a\nb", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, not ErrInvalidKey", tt.key, err)
		}
	}
}
