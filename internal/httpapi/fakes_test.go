package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

const (
	testKey    = "test-server-key"
	tenant     = "t1"
	toolUID    = "acme/echo:0.0.1@0123456789abcdef0123456789abcdef"
	toolUID2   = "acme/echo:0.0.2@fedcba9876543210fedcba9876543210"
	modelUID   = "acme/llm:1.0.0@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	endpUID    = "acme/hooks:0.1.0@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	agentUID   = "acme/agent:0.1.0@cccccccccccccccccccccccccccccccc"
	missingUID = "acme/ghost:0.0.1@dddddddddddddddddddddddddddddddd"
)

// fakeStore is an in-memory Store.
type fakeStore struct {
	mu        sync.Mutex
	decls     map[string]store.Declaration
	plugins   map[string]store.Plugin
	insts     []store.Installation
	tasks     []store.Task
	endpoints []store.Endpoint
	fail      error // returned by every call when set
}

func newFakeStore() *fakeStore {
	return &fakeStore{decls: map[string]store.Declaration{}, plugins: map[string]store.Plugin{}}
}

func (f *fakeStore) addPlugin(t testing.TB, tenantID, uid string, p manifest.Plugin) store.Installation {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decls[uid] = store.Declaration{UniqueIdentifier: uid, PluginID: pluginIDOf(uid), Declaration: raw, Verification: json.RawMessage("null")}
	f.plugins[uid] = store.Plugin{UniqueIdentifier: uid, PluginID: pluginIDOf(uid), Refers: 1, InstallType: "local"}
	in := store.Installation{
		ID: fmt.Sprintf("inst-%d", len(f.insts)+1), TenantID: tenantID, PluginID: pluginIDOf(uid), UniqueIdentifier: uid,
		RuntimeType: "local", Source: "package", CreatedAt: time.Unix(int64(1000+len(f.insts)), 0).UTC(),
	}
	in.UpdatedAt = in.CreatedAt
	f.insts = append(f.insts, in)
	return in
}

func (f *fakeStore) GetDeclaration(_ context.Context, uid string) (store.Declaration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Declaration{}, f.fail
	}
	d, ok := f.decls[uid]
	if !ok {
		return d, fmt.Errorf("declaration %s: %w", uid, store.ErrNotFound)
	}
	return d, nil
}

func (f *fakeStore) GetPlugin(_ context.Context, uid string) (store.Plugin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Plugin{}, f.fail
	}
	p, ok := f.plugins[uid]
	if !ok {
		return p, store.ErrNotFound
	}
	return p, nil
}

func (f *fakeStore) GetInstallation(_ context.Context, tenantID, id string) (store.Installation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.insts {
		if in.TenantID == tenantID && in.ID == id {
			return in, nil
		}
	}
	return store.Installation{}, store.ErrNotFound
}

func (f *fakeStore) GetInstallationByPlugin(_ context.Context, tenantID, pluginID string) (store.Installation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Installation{}, f.fail
	}
	for _, in := range f.insts {
		if in.TenantID == tenantID && in.PluginID == pluginID {
			return in, nil
		}
	}
	return store.Installation{}, fmt.Errorf("installation of %s: %w", pluginID, store.ErrNotFound)
}

func (f *fakeStore) ListInstallations(_ context.Context, tenantID string, p store.Page) ([]store.Installation, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, 0, f.fail
	}
	var all []store.Installation
	for _, in := range f.insts {
		if in.TenantID == tenantID {
			all = append(all, in)
		}
	}
	return pageOf(all, p), len(all), nil
}

func pageOf[T any](all []T, p store.Page) []T {
	off := p.Offset()
	if off >= len(all) {
		return nil
	}
	return slices.Clone(all[off:min(off+p.Size, len(all))])
}

func (f *fakeStore) InstallationsByPlugins(_ context.Context, tenantID string, ids []string) ([]store.Installation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Installation
	for _, in := range f.insts {
		if in.TenantID == tenantID && slices.Contains(ids, in.PluginID) {
			out = append(out, in)
		}
	}
	return out, nil
}

func (f *fakeStore) GetTask(_ context.Context, tenantID, id string) (store.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tasks {
		if t.TenantID == tenantID && t.ID == id {
			return t, nil
		}
	}
	return store.Task{}, store.ErrNotFound
}

func (f *fakeStore) ListTasks(_ context.Context, tenantID string, p store.Page) ([]store.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []store.Task
	for _, t := range f.tasks {
		if t.TenantID == tenantID {
			all = append(all, t)
		}
	}
	return pageOf(all, p), nil
}

func (f *fakeStore) CreateEndpoint(_ context.Context, e store.Endpoint) (store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.endpoints {
		if x.HookID == e.HookID {
			return e, store.ErrConflict
		}
	}
	e.CreatedAt, e.UpdatedAt = time.Unix(2000, 0).UTC(), time.Unix(2000, 0).UTC()
	f.endpoints = append(f.endpoints, e)
	return e, nil
}

func (f *fakeStore) GetEndpoint(_ context.Context, tenantID, id string) (store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.endpoints {
		if e.TenantID == tenantID && e.ID == id {
			return e, nil
		}
	}
	return store.Endpoint{}, store.ErrNotFound
}

func (f *fakeStore) GetEndpointByHook(_ context.Context, hook string) (store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.endpoints {
		if e.HookID == hook {
			return e, nil
		}
	}
	return store.Endpoint{}, store.ErrNotFound
}

func (f *fakeStore) ListEndpoints(_ context.Context, tenantID, pluginID string, p store.Page) ([]store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []store.Endpoint
	for _, e := range f.endpoints {
		if e.TenantID == tenantID && (pluginID == "" || e.PluginID == pluginID) {
			all = append(all, e)
		}
	}
	return pageOf(all, p), nil
}

func (f *fakeStore) UpdateEndpoint(_ context.Context, e store.Endpoint) (store.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.endpoints {
		if x.TenantID == e.TenantID && x.ID == e.ID {
			f.endpoints[i].Name, f.endpoints[i].Settings, f.endpoints[i].Enabled = e.Name, e.Settings, e.Enabled
			return f.endpoints[i], nil
		}
	}
	return e, store.ErrNotFound
}

func (f *fakeStore) DeleteEndpoint(_ context.Context, tenantID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.endpoints {
		if x.TenantID == tenantID && x.ID == id {
			f.endpoints = slices.Delete(f.endpoints, i, i+1)
			return nil
		}
	}
	return store.ErrNotFound
}

// fakeInstaller records what it is asked and answers from fields.
type fakeInstaller struct {
	mu       sync.Mutex
	uploaded []byte // what Upload read
	verify   bool
	calls    []string
	err      error // returned by every call when set
	assets   map[string][]byte
}

func (f *fakeInstaller) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeInstaller) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeInstaller) Upload(_ context.Context, tenantID string, r io.Reader, verify bool) (install.Decoded, error) {
	data, err := io.ReadAll(r)
	f.mu.Lock()
	f.uploaded, f.verify = data, verify
	f.mu.Unlock()
	if err != nil {
		return install.Decoded{}, fmt.Errorf("reading package: %w", err)
	}
	if err := f.record("upload %s %d %v", tenantID, len(data), verify); err != nil {
		return install.Decoded{}, err
	}
	return install.Decoded{UniqueIdentifier: toolUID, Manifest: json.RawMessage(`{"name":"echo"}`)}, nil
}

func (f *fakeInstaller) UploadBundle(_ context.Context, tenantID string, r io.Reader, verify bool) ([]install.BundleDependency, error) {
	data, err := io.ReadAll(r)
	f.mu.Lock()
	f.uploaded, f.verify = data, verify
	f.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	if err := f.record("upload-bundle %s %d %v", tenantID, len(data), verify); err != nil {
		return nil, err
	}
	return []install.BundleDependency{
		{Type: "package", Value: install.BundlePackage{UniqueIdentifier: toolUID, Manifest: json.RawMessage(`{"name":"echo"}`)}},
		{Type: "marketplace", Value: map[string]string{"organization": "langgenius", "plugin": "maths", "version": "0.0.8"}},
	}, nil
}

func (f *fakeInstaller) Decode(_ context.Context, uid string) (install.Decoded, error) {
	if err := f.record("decode %s", uid); err != nil {
		return install.Decoded{}, err
	}
	return install.Decoded{UniqueIdentifier: uid, Manifest: json.RawMessage(`{"name":"echo"}`), Verification: &install.Verification{AuthorizedCategory: "langgenius"}}, nil
}

func (f *fakeInstaller) Install(_ context.Context, tenantID string, uids []string, source string, metas []json.RawMessage) (install.Started, error) {
	if err := f.record("install %s %s %s %d", tenantID, strings.Join(uids, ","), source, len(metas)); err != nil {
		return install.Started{}, err
	}
	return install.Started{TaskID: "task-1"}, nil
}

func (f *fakeInstaller) Upgrade(_ context.Context, tenantID, oldUID, newUID, source string, meta json.RawMessage) (install.Started, error) {
	if err := f.record("upgrade %s %s %s %s", tenantID, oldUID, newUID, source); err != nil {
		return install.Started{}, err
	}
	return install.Started{AllInstalled: true}, nil
}

func (f *fakeInstaller) Uninstall(_ context.Context, tenantID, id string) error {
	return f.record("uninstall %s %s", tenantID, id)
}

func (f *fakeInstaller) DeleteTask(_ context.Context, tenantID, id string) error {
	return f.record("delete-task %s %s", tenantID, id)
}

func (f *fakeInstaller) DeleteTasks(_ context.Context, tenantID string) error {
	return f.record("delete-tasks %s", tenantID)
}

func (f *fakeInstaller) DeleteTaskItem(_ context.Context, tenantID, id, uid string) error {
	return f.record("delete-item %s %s %s", tenantID, id, uid)
}

func (f *fakeInstaller) Readme(_ context.Context, uid, lang string) (install.Readme, error) {
	if err := f.record("readme %s %s", uid, lang); err != nil {
		return install.Readme{}, err
	}
	return install.Readme{Content: "# Echo", Language: lang}, nil
}

func (f *fakeInstaller) PackageFile(_ context.Context, uid, path string) ([]byte, error) {
	if err := f.record("file %s %s", uid, path); err != nil {
		return nil, err
	}
	if d, ok := f.assets[path]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("file %s: %w", path, store.ErrNotFound)
}

func (f *fakeInstaller) Asset(_ context.Context, id string) ([]byte, error) {
	if err := f.record("asset %s", id); err != nil {
		return nil, err
	}
	if d, ok := f.assets[id]; ok {
		return d, nil
	}
	return nil, store.ErrNotFound
}

// fakeStream yields msgs, then err (io.EOF when nil). With block set it waits for Close
// after the messages instead, like a plugin that never answers.
type fakeStream struct {
	msgs   []wire.SessionMessage
	err    error
	block  bool
	i      int
	once   sync.Once
	closed chan struct{}
}

func newStream(items ...string) *fakeStream {
	s := &fakeStream{closed: make(chan struct{})}
	for _, it := range items {
		s.msgs = append(s.msgs, wire.SessionMessage{Type: wire.MessageStream, Data: json.RawMessage(it)})
	}
	return s
}

func (s *fakeStream) Next() (wire.SessionMessage, error) {
	if s.i < len(s.msgs) {
		s.i++
		return s.msgs[s.i-1], nil
	}
	if s.block {
		<-s.closed
		return wire.SessionMessage{}, wire.ErrSessionClosed
	}
	if s.err != nil {
		return wire.SessionMessage{}, s.err
	}
	return wire.SessionMessage{}, io.EOF
}

func (s *fakeStream) Close() { s.once.Do(func() { close(s.closed) }) }

func (s *fakeStream) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// invocation is one Invoke call the fake dispatcher saw.
type invocation struct {
	uid    string
	access wire.AccessType
	action wire.Action
	data   json.RawMessage
	ic     runtime.InvokeContext
}

type fakeDispatcher struct {
	mu     sync.Mutex
	calls  []invocation
	stream func() *fakeStream // a new stream per call; nil: an empty one
	err    error
	states []PluginState
}

func (f *fakeDispatcher) Invoke(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (*fakeStream, error) {
	f.mu.Lock()
	f.calls = append(f.calls, invocation{uid, access, action, slices.Clone(data), ic})
	mk, err := f.stream, f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if mk == nil {
		return newStream(), nil
	}
	return mk(), nil
}

func (f *fakeDispatcher) last(t *testing.T) invocation {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the dispatcher was not called")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeDispatcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// Test plugins.

func toolPlugin() manifest.Plugin {
	return manifest.Plugin{
		Version: "0.0.1", Type: "plugin", Author: "acme", Name: "echo", Label: manifest.I18n{EnUS: "Echo"},
		Tags: []string{"utilities"},
		Tool: &manifest.ToolProvider{Identity: manifest.ProviderIdentity{Author: "acme", Name: "echo"}, Tools: []manifest.Tool{}},
	}
}

func modelPlugin() manifest.Plugin {
	return manifest.Plugin{
		Version: "1.0.0", Type: "plugin", Author: "acme", Name: "llm", Label: manifest.I18n{EnUS: "LLM"},
		Model: &manifest.ModelProvider{Provider: "acmellm", SupportedModelTypes: []string{"llm"}},
	}
}

func agentPlugin() manifest.Plugin {
	return manifest.Plugin{
		Version: "0.1.0", Type: "plugin", Author: "acme", Name: "agent", Label: manifest.I18n{EnUS: "Agent"},
		Meta:          manifest.Meta{Version: "0.0.1"},
		AgentStrategy: &manifest.AgentStrategyProvider{Identity: manifest.ProviderIdentity{Name: "react"}},
	}
}

func endpointPlugin(permitted bool) manifest.Plugin {
	p := manifest.Plugin{
		Version: "0.1.0", Type: "plugin", Author: "acme", Name: "hooks", Label: manifest.I18n{EnUS: "Hooks"},
		Endpoint: &manifest.EndpointProvider{
			Settings: []manifest.ProviderConfig{
				{Name: "api_key", Type: "secret-input", Required: true},
				{Name: "mode", Type: "select", Options: []manifest.ConfigOption{{Value: "a"}, {Value: "b"}}},
				{Name: "debug", Type: "boolean"},
			},
			Endpoints: []manifest.Endpoint{{Path: "/hook", Method: "POST"}},
		},
	}
	if permitted {
		p.Resource.Permission = &manifest.Permission{Endpoint: &manifest.Switch{Enabled: true}}
	}
	return p
}

// harness is a Server over fakes.
type harness struct {
	srv   *Server
	store *fakeStore
	inst  *fakeInstaller
	disp  *fakeDispatcher
}

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	h := &harness{store: newFakeStore(), inst: &fakeInstaller{assets: map[string][]byte{}}, disp: &fakeDispatcher{}}
	cfg := Config{
		ServerKey: testKey, Store: h.store, Installer: h.inst,
		Dispatcher:       NewDispatcher(h.disp.Invoke, func() []PluginState { return h.disp.states }),
		EndpointsEnabled: true, Version: "test",
	}
	for _, m := range mod {
		m(&cfg)
	}
	h.srv = New(cfg)
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() {
			if n := h.srv.panics.Load(); n != 0 {
				tt.Errorf("%d handler panics", n)
			}
		})
	}
	return h
}

// do sends a request with the server key.
func (h *harness) do(method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("X-Api-Key", testKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// decoded is an envelope as Dify reads it.
type decoded struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// errInfo is the JSON inside an error envelope's message.
type errInfo struct {
	Message   string          `json:"message"`
	ErrorType string          `json:"error_type"`
	Args      json.RawMessage `json:"args"`
}

func parseEnvelope(t testing.TB, body []byte) decoded {
	t.Helper()
	var d decoded
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("not an envelope: %v: %s", err, body)
	}
	return d
}

func (d decoded) errInfo(t testing.TB) errInfo {
	t.Helper()
	var e errInfo
	if err := json.Unmarshal([]byte(d.Message), &e); err != nil {
		t.Fatalf("error message is not JSON: %v: %q", err, d.Message)
	}
	return e
}

// expectOK checks a successful management answer and returns its data.
func expectOK(t *testing.T, rec *httptest.ResponseRecorder) json.RawMessage {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	d := parseEnvelope(t, rec.Body.Bytes())
	if d.Code != 0 || d.Message != "success" {
		t.Fatalf("not a success: %s", rec.Body)
	}
	return d.Data
}

// expectErr checks an error answer: HTTP status, envelope code and error type, and that the
// message mentions want.
func expectErr(t *testing.T, rec *httptest.ResponseRecorder, status, code int, typ, want string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	d := parseEnvelope(t, rec.Body.Bytes())
	if d.Code != code || string(d.Data) != "null" {
		t.Fatalf("code %d data %s, want %d and null: %s", d.Code, d.Data, code, rec.Body)
	}
	e := d.errInfo(t)
	if e.ErrorType != typ || !strings.Contains(e.Message, want) {
		t.Fatalf("error %s %q, want %s containing %q", e.ErrorType, e.Message, typ, want)
	}
}
