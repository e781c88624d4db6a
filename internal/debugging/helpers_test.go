package debugging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/manifest"
)

// The registration of §10.2 of the protocol reference (SDK 0.7.4), line by line.
const (
	goodKey    = "11111111-2222-3333-4444-555555555555"
	goodTenant = "tenant-1"
	storeDown  = "store-is-down-for-this-key-0001" // fakeKeys fails to look this one up

	lineHandshake = `{"type":"handshake","data":{"key":"` + goodKey + `"}}` + "\n"
	lineManifest  = `{"type":"manifest_declaration","data":{"version":"0.0.1","type":"plugin","author":"test","name":"echo","repo":null,"description":{"zh_Hans":"Echo plugin","pt_BR":"Echo plugin","ja_JP":"Echo plugin","en_US":"Echo plugin"},"icon":"icon.svg","icon_dark":null,"label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"},"created_at":"2024-01-01T00:00:00Z","resource":{"memory":1048576,"permission":{"tool":{"enabled":true},"model":null,"node":null,"endpoint":null,"app":null,"storage":{"enabled":true,"size":1048576}}},"plugins":{"tools":["provider/echo.yaml"],"models":[],"endpoints":[],"agent_strategies":[],"datasources":[],"triggers":[]},"meta":{"version":"0.0.1","arch":["amd64"],"runner":{"language":"python","version":"3.11","entrypoint":"main"},"minimum_dify_version":null}}}` + "\n\n"
	toolProvider  = `{"identity":{"author":"test","name":"echo","description":{"zh_Hans":"Echo provider","pt_BR":"Echo provider","ja_JP":"Echo provider","en_US":"Echo provider"},"icon":"icon.svg","icon_dark":null,"label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"},"tags":[]},"credentials_schema":[],"oauth_schema":null,"tools":[{"identity":{"author":"test","name":"echo","label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"}},"parameters":[{"name":"text","label":{"zh_Hans":"Text","pt_BR":"Text","ja_JP":"Text","en_US":"Text"},"human_description":{"zh_Hans":"text","pt_BR":"text","ja_JP":"text","en_US":"text"},"type":"string","auto_generate":null,"template":null,"scope":null,"form":"llm","llm_description":"text","required":true,"default":null,"min":null,"max":null,"precision":null,"options":null,"input_schema":null}],"description":{"human":{"zh_Hans":"Echo text","pt_BR":"Echo text","ja_JP":"Echo text","en_US":"Echo text"},"llm":"Echo text"},"extra":{"python":{"source":"tools/echo.py"}},"has_runtime_parameters":false,"output_schema":null}],"extra":{"python":{"source":"provider/echo.py"}}}`
	lineTools     = `{"type":"tool_declaration","data":[` + toolProvider + `]}` + "\n\n"
	lineIcon      = `{"type":"asset_chunk","data":{"filename":"icon.svg","data":"PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=","end":true}}` + "\n\n"
	lineEnd       = `{"type":"end","data":{}}` + "\n\n"
	lineHeartbeat = `{"event":"heartbeat","session_id":null,"data":{}}` + "\n\n"
	iconSVG       = `<svg xmlns="http://www.w3.org/2000/svg"/>`

	lineRequest = `{"session_id":"8f0c6a1e-3c2b-4d7a-9a43-6f1f2b9a0c11","conversation_id":null,"message_id":null,"app_id":null,"endpoint_id":null,"context":null,"event":"request","data":{"action":"invoke_tool","credentials":{},"provider":"echo","tool":"echo","tool_parameters":{"text":"hello"},"type":"tool","user_id":"u-1"}}` + "\n"
	lineStream  = `{"event":"session","session_id":"8f0c6a1e-3c2b-4d7a-9a43-6f1f2b9a0c11","data":{"type":"stream","data":{"type":"text","message":{"text":"hello"},"meta":null}}}` + "\n\n"
	lineSessEnd = `{"event":"session","session_id":"8f0c6a1e-3c2b-4d7a-9a43-6f1f2b9a0c11","data":{"type":"end","data":{}}}` + "\n\n"
)

// fullRegistration is what the SDK writes on connecting, in one go.
const fullRegistration = lineHandshake + lineManifest + lineTools + lineIcon + lineEnd

type fakeKeys struct{}

func (fakeKeys) ResolveDebugKey(_ context.Context, key string) (string, error) {
	switch key {
	case goodKey:
		return goodTenant, nil
	case storeDown:
		return "", fmt.Errorf("redis: connection refused while reading remote:key:%s", key)
	}
	// Resolvers may well name the key; the server must shorten it before echoing.
	return "", fmt.Errorf("%w: no tenant for key %s", ErrUnknownKey, key)
}

// fakeDecode stands in for manifest.FromRegistration: it reads the identity and fails on
// demand, with a multi-line message as a validator would write.
func fakeDecode(m json.RawMessage, providers map[string]json.RawMessage, assets []string) (*manifest.Plugin, error) {
	var id struct{ Author, Name, Version string }
	if err := json.Unmarshal(m, &id); err != nil {
		return nil, fmt.Errorf("manifest_declaration: %v", err)
	}
	if id.Name == "bad" {
		return nil, errors.New("manifest.yaml: 2 problems:\n  name: \"bad\" is reserved\r\n  version: missing\n")
	}
	return &manifest.Plugin{Author: id.Author, Name: id.Name, Version: id.Version}, nil
}

// testServer is a Server on a loopback port.
type testServer struct {
	*Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = fakeKeys{}
	}
	if cfg.Decode == nil {
		cfg.Decode = fakeDecode
	}
	if cfg.Attach == nil {
		cfg.Attach = func(_ context.Context, a Attachment) error { a.Conn.Close(); return nil }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: New(cfg), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- ts.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop ends Serve and waits for it; it may be called more than once.
func (ts *testServer) stop(t testing.TB) {
	ts.cancel()
	if err, ok := <-ts.done; ok {
		close(ts.done)
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// hangGuard is how long a test client waits before declaring the server hung. It is not a
// pass/fail timing: nothing in these tests should take more than a fraction of it.
const hangGuard = 30 * time.Second

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard))
	return c
}

// exchange sends payload as a plugin would (without waiting to be read) and returns all the
// server sent until it closed the connection.
func exchange(t testing.TB, addr, payload string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	var wg sync.WaitGroup
	wg.Go(func() { io.WriteString(c, payload) }) // may fail once the server closes: fine
	got, err := io.ReadAll(c)
	wg.Wait()
	if err != nil && !isReset(err) {
		t.Fatalf("reading the reply: %v (got %q)", err, got)
	}
	return string(got)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// checkOneLine fails unless reply is exactly one newline-terminated line.
func checkOneLine(t testing.TB, reply string) string {
	t.Helper()
	if !strings.HasSuffix(reply, "\n") || strings.Count(reply, "\n") != 1 || strings.Contains(reply, "\r") {
		t.Fatalf("reply is not exactly one line: %q", reply)
	}
	if json.Valid([]byte(reply)) {
		t.Fatalf("reply is JSON, the SDK needs plain text: %q", reply)
	}
	return strings.TrimSuffix(reply, "\n")
}
