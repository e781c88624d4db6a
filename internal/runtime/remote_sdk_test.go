//go:build unix

package runtime

// Remote against the real SDK: test plugins run with INSTALL_METHOD=remote dial a loopback
// listener, as an author's plugin dials the daemon's debugging port.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/wire"
)

// remotePlugin is a test plugin from testdata/plugins running as its author would run it
// for remote debugging, attached to a Remote.
type remotePlugin struct {
	*Remote
	cmd      *exec.Cmd
	exited   chan struct{}
	provider string
	reg      []wire.RegistrationType // the registration, in order
}

// startRemote starts the plugin with INSTALL_METHOD=remote against a loopback listener,
// reads its registration up to "end" as the debugging server does, and hands the rest of the
// connection to NewRemote. cfg's PluginID and Permissions come from the plugin's manifest.
func startRemote(t testing.TB, name string, cfg RemoteConfig) *remotePlugin {
	t.Helper()
	lc := testConfig(t, name)
	cfg.PluginID, cfg.Permissions = lc.PluginID, lc.Permissions
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const key = "11111111-2222-3333-4444-555555555555"
	home := t.TempDir()
	cmd := exec.Command(lc.Python, "-m", lc.Entrypoint)
	cmd.Dir = lc.Dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(lc.Python) + ":" + systemPath, "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"INSTALL_METHOD=remote", "REMOTE_INSTALL_URL=" + ln.Addr().String(), "REMOTE_INSTALL_KEY=" + key,
	}
	out := &tail{max: 8 << 10} // in remote mode the SDK logs every request on its stdout
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &remotePlugin{cmd: cmd, exited: make(chan struct{}), provider: strings.TrimPrefix(lc.PluginID, "plugd-test/")}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("plugin output:\n%s\nthe Remote's log:\n%s", out, logs)
		}
	})

	// A plugin that dies before it connects must not leave Accept waiting.
	accepted := make(chan struct{})
	go func() {
		select {
		case <-p.exited:
			ln.Close()
		case <-accepted:
		}
	}()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
	conn, err := ln.Accept()
	close(accepted)
	if err != nil {
		t.Fatalf("the plugin did not connect: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("registration after %v: %v", p.reg, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // every line but the handshake ends with a blank one
		}
		var reg wire.Registration
		if err := json.Unmarshal(line, &reg); err != nil || reg.Type == "" {
			t.Fatalf("registration line %.200q: %v", line, err)
		}
		if len(p.reg) == 0 && (reg.Type != wire.RegistrationHandshake || !strings.Contains(string(reg.Data), key)) {
			t.Fatalf("first line %.200q is not the handshake with the key", line)
		}
		p.reg = append(p.reg, reg.Type)
		if reg.Type == wire.RegistrationEnd {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	p.Remote = NewRemote(cfg, br, conn)
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// call runs a tool of the plugin to its end.
func (p *remotePlugin) call(ctx context.Context, tool string, params map[string]any) ([]wire.SessionMessage, error) {
	s, err := p.tool(ctx, tool, params)
	if err != nil {
		return nil, err
	}
	return collect(s)
}

func (p *remotePlugin) tool(ctx context.Context, tool string, params map[string]any) (*Stream, error) {
	b, _ := json.Marshal(params)
	return p.InvokePayload(ctx, wire.InvokeTool{Provider: p.provider, Tool: tool, ToolParameters: b}, testIC)
}

func TestRemoteSDK(t *testing.T) {
	t.Parallel()
	p := startRemote(t, "crasher", RemoteConfig{})
	want := []wire.RegistrationType{wire.RegistrationHandshake, wire.RegistrationManifest, wire.RegistrationTools, wire.RegistrationAssetChunk, wire.RegistrationEnd}
	if !slices.Equal(p.reg, want) {
		t.Errorf("registration %v, want %v", p.reg, want)
	}
	ctx := testCtx(t, 2*time.Minute)
	items, err := p.call(ctx, "echo", map[string]any{"text": "hello"})
	if err != nil || !slices.Equal(texts(t, items), []string{"hello"}) {
		t.Fatalf("echo: %v, %v", items, err)
	}

	// Concurrent requests share the connection.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			text := fmt.Sprint("call ", i)
			items, err := p.call(ctx, "echo", map[string]any{"text": text})
			if err != nil || !slices.Equal(texts(t, items), []string{text}) {
				t.Errorf("concurrent echo %d: %v, %v", i, items, err)
			}
		})
	}
	wg.Wait()

	// The author stops the plugin (here: SIGKILL) while requests are in flight.
	var slow []*Stream
	for range 3 {
		s, err := p.tool(ctx, "slow", map[string]any{"seconds": 60})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Next(); err != nil {
			t.Fatalf("slow: %v %v", m, err)
		}
		slow = append(slow, s)
	}
	if st := p.Status(); st.State != StateReady || st.InFlight != 3 {
		t.Errorf("status with three requests in flight: %+v", st)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for i, s := range slow {
		_, err := collect(s)
		if !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "plugin plugd-test/crasher: remote plugin disconnected") {
			t.Errorf("in-flight request %d: %v", i, err)
		}
	}
	t.Logf("kill to every in-flight request failed: %s", time.Since(killed).Round(time.Millisecond))
	<-p.Done()
	if _, err := p.tool(ctx, "echo", map[string]any{"text": "late"}); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Invoke after the end: %v", err)
	}
	if st := p.Status(); st.State != StateStopped || st.InFlight != 0 || !errors.Is(st.LastError, ErrDisconnected) {
		t.Errorf("status after the end: %+v", st)
	}
}

func TestRemoteSDKStorage(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	p := startRemote(t, "storage", RemoteConfig{Backwards: backwards.NewLocal(backwards.NewFileStore(storeDir, 0))})
	ctx := testCtx(t, 2*time.Minute)

	items, err := p.call(ctx, "storage", map[string]any{"op": "roundtrip", "key": "k", "value": "v1"})
	if err != nil || len(items) != 1 {
		t.Fatalf("round trip: %v, %v", items, err)
	}
	tm, _ := items[0].ToolMessage()
	if want := `{"json_object":{"got":"v1","existed":true,"after_delete":false}}`; string(tm.Message) != want {
		t.Fatalf("round trip: %s, want %s", tm.Message, want)
	}
	if _, err := p.call(ctx, "storage", map[string]any{"op": "set", "key": "kept", "value": "hello"}); err != nil {
		t.Fatal(err)
	}
	file := backwards.NewFileStore(storeDir, 0).Path(backwards.Namespace{TenantID: "t-1", PluginID: "plugd-test/storage"})
	if b, err := os.ReadFile(file); err != nil || string(b) != `{"kept":"aGVsbG8="}` {
		t.Fatalf("storage file %s: %s, %v", file, b, err)
	}
	_, err = p.call(ctx, "storage", map[string]any{"op": "summary", "value": "text"})
	var serr *wire.SessionError
	if !errors.As(err, &serr) || !strings.Contains(serr.Message, `"system_summary" is not available without Dify`) {
		t.Fatalf("summary: %v", err)
	}
}
