package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sdkInterpreters are the Python interpreters with the real SDK that remote plugins run on:
// the 0.7 line (Python 3.11) and the newest line (Python 3.12+).
func sdkInterpreters(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, env := range map[string]string{"sdk07": "PLUGD_TEST_PYTHON_SDK07", "sdknew": "PLUGD_TEST_PYTHON_SDK_NEW"} {
		if p := os.Getenv(env); p != "" {
			out[name] = p
		}
	}
	if len(out) == 0 {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatal("PLUGD_TEST_PYTHON_SDK07 is not set: run scripts/test.sh")
	}
	return out
}

// remotePlugin is a plugin process an author runs on their machine with INSTALL_METHOD=remote.
type remotePlugin struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runRemote starts the plugin in src (copied) with python, attaching to addr with key.
func runRemote(t *testing.T, python, src, addr, key string) *remotePlugin {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := copyTree(src, dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-m", "main")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "INSTALL_METHOD=remote", "REMOTE_INSTALL_URL="+addr, "REMOTE_INSTALL_KEY="+key,
		"REMOTE_INSTALL_HOST="+strings.Split(addr, ":")[0], "REMOTE_INSTALL_PORT="+strings.Split(addr, ":")[1])
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &remotePlugin{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("remote plugin output:\n%s", p.out.String())
		}
	})
	return p
}

func (p *remotePlugin) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// debugKey is what Dify's plugin page calls to show an author their key.
func debugKey(ctx context.Context, t *testing.T, c *difyClient) string {
	t.Helper()
	k, err := call[struct {
		Key string `json:"key"`
	}](ctx, c, http.MethodPost, c.p("debugging/key"), nil, map[string]any{})
	if err != nil || len(k.Key) != 36 {
		t.Fatalf("debugging key: %q %v", k.Key, err)
	}
	return k.Key
}

// waitRemote polls the tenant's list until the plugin is (or is no longer) installed as a
// remote plugin, and returns its unique identifier.
func waitRemote(ctx context.Context, t *testing.T, c *difyClient, pluginID string, present bool, p *remotePlugin) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := c.listPlugins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		uid := ""
		for _, raw := range list.List {
			var it struct {
				PluginID    string `json:"plugin_id"`
				UID         string `json:"plugin_unique_identifier"`
				RuntimeType string `json:"runtime_type"`
			}
			json.Unmarshal(raw, &it)
			if it.PluginID == pluginID && it.RuntimeType == "remote" {
				uid = it.UID
			}
		}
		if (uid != "") == present {
			return uid
		}
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.out.String()
			}
			t.Fatalf("plugin %s present=%v never came; plugin output:\n%s", pluginID, !present, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRemoteDebugging(t *testing.T) {
	for line, python := range sdkInterpreters(t) {
		t.Run(line, func(t *testing.T) { testRemoteDebugging(t, python) })
	}
}

func testRemoteDebugging(t *testing.T, python string) {
	debugPort := freePort(t)
	d := startDaemon(t, daemonOptions{Env: map[string]string{
		"PLUGIN_REMOTE_INSTALLING_ENABLED": "true",
		"PLUGIN_REMOTE_INSTALLING_HOST":    "127.0.0.1",
		"PLUGIN_REMOTE_INSTALLING_PORT":    strconv.Itoa(debugPort),
	}})
	addr := "127.0.0.1:" + strconv.Itoa(debugPort)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tenantA, tenantB := newTenant(), newTenant()
	ca, cb := d.client(tenantA), d.client(tenantB)
	keyA, keyB := debugKey(ctx, t, ca), debugKey(ctx, t, cb)
	if again := debugKey(ctx, t, ca); again != keyA {
		t.Errorf("asking again gave another key: %s then %s", keyA, again)
	}

	// A wrong key: the author reads why in the plugin's output.
	bad := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), addr, "00000000-0000-0000-0000-000000000000")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(bad.out.String(), "invalid key") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(bad.out.String(), "invalid key") {
		t.Errorf("a wrong key is not explained to the author:\n%s", bad.out.String())
	}
	bad.kill()

	// Attach; the plugin shows for its tenant only and answers like an installed one.
	p := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), addr, keyA)
	uid := waitRemote(ctx, t, ca, pluginID, true, p)
	if list, _ := cb.listPlugins(ctx); list.Total != 0 {
		t.Errorf("tenant B sees tenant A's remote plugin: %+v", list)
	}
	msgs, err := ca.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "over tcp", "mode": "text"})
	if err != nil || texts(msgs) != "over tcp" {
		t.Fatalf("invoke over TCP: %v %v", msgs, err)
	}
	msgs, err = ca.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "stored", "mode": "storage"})
	if err != nil || texts(msgs) != "stored" {
		t.Fatalf("storage from a remote plugin: %v %v", msgs, err)
	}
	if _, err := ca.fetchManifest(ctx, uid); err != nil {
		t.Errorf("manifest of the remote plugin: %v", err)
	}

	// The same plugin attached for tenant B gets its own identifier.
	pb := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), addr, keyB)
	uidB := waitRemote(ctx, t, cb, pluginID, true, pb)
	if uidB == uid {
		t.Errorf("two tenants share the identifier %s", uid)
	}
	if msgs, err := cb.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "tenant b", "mode": "text"}); err != nil || texts(msgs) != "tenant b" {
		t.Fatalf("tenant B's plugin: %v %v", msgs, err)
	}

	// A disconnect fails the request in flight at once, and the plugin leaves the list.
	done := make(chan error, 1)
	go func() {
		_, err := ca.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "30", "mode": "sleep"})
		done <- err
	}()
	time.Sleep(time.Second)
	p.kill()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the request in flight succeeded after its plugin died")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request in flight did not fail when its plugin disconnected")
	}
	waitRemote(ctx, t, ca, pluginID, false, nil)
	if _, err := ca.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x", "mode": "text"}); err == nil {
		t.Error("a detached plugin answered")
	}

	// Reconnect: the author starts it again and it answers again.
	p2 := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), addr, keyA)
	if again := waitRemote(ctx, t, ca, pluginID, true, p2); again != uid {
		t.Errorf("the same plugin came back as %s, was %s", again, uid)
	}
	if msgs, err := ca.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "back", "mode": "text"}); err != nil || texts(msgs) != "back" {
		t.Fatalf("after reconnect: %v %v", msgs, err)
	}

	// An LLM attached the same way streams through the model route.
	llm := runRemote(t, python, filepath.Join("..", "runtime", "testdata", "plugins", "llm"), addr, keyA)
	waitRemote(ctx, t, ca, "plugd-test/llm", true, llm)
	chunks, err := collect[json.RawMessage](ctx, ca, ca.p("dispatch/llm/invoke"), map[string]string{"X-Plugin-ID": "plugd-test/llm"}, map[string]any{
		"user_id": "e2e-user",
		"data": map[string]any{
			"provider": "streamer", "model_type": "llm", "model": "words", "credentials": map[string]any{},
			"prompt_messages": []any{map[string]any{"role": "user", "content": "hi"}}, "model_parameters": map[string]any{},
			"tools": []any{}, "stop": []any{}, "stream": true,
		},
	})
	if err != nil || len(chunks) < 2 {
		t.Fatalf("LLM over TCP: %d chunks, %v", len(chunks), err)
	}

	// A daemon restart forgets attachments (they reattach by themselves).
	llm.kill()
	p2.kill()
	pb.kill()
	d.restart()
	if list, err := ca.listPlugins(ctx); err != nil || list.Total != 0 {
		t.Errorf("after restart tenant A still lists %d plugins (%v)", list.Total, err)
	}
}
