package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoPluginDir is the echo plugin of the project's vectors (the reference harness's echo plugin
// plus files only the packaging tests look at). It is copied to a temporary folder for each run,
// so running it never writes into the project.
const echoPluginDir = "../../testdata/vectors/echo-fixture"

// sdkPython is the interpreter with the real dify-plugin SDK (0.7 line). A missing one fails
// the test, so CI cannot skip it by accident; PLUGD_SKIP_PYTHON=1 skips it on purpose.
func sdkPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv(sdkPythonVar())
	if py == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1: not running the real SDK")
		}
		t.Fatal(sdkPythonVar() + " is not set: run scripts/test.sh (or scripts/test-deps.sh), or set PLUGD_SKIP_PYTHON=1 to skip")
	}
	return py
}

// sdkPlugin is a real plugin process driven through a Conn.
type sdkPlugin struct {
	conn   *Conn
	cmd    *exec.Cmd
	stderr string // path of the captured stderr

	mu        sync.Mutex
	manifest  []byte
	logs      []LogRecord
	kinds     []Kind // of every event, in order
	other     []string
	heartbeat chan struct{} // closed at the first heartbeat
}

func (p *sdkPlugin) stderrTail() string {
	b, _ := os.ReadFile(p.stderr)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// startSDKPlugin starts `python -m main` in a copy of dir with the environment the harness
// uses, minus everything of ours, and waits for the first heartbeat.
func startSDKPlugin(t *testing.T, python, dir string) *sdkPlugin {
	t.Helper()
	work := t.TempDir()
	if err := os.CopyFS(work, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	p := &sdkPlugin{stderr: filepath.Join(t.TempDir(), "stderr"), heartbeat: make(chan struct{})}
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { errf.Close() })

	p.cmd = exec.Command(python, "-m", "main")
	p.cmd.Dir = work
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "LANG=C.UTF-8", "INSTALL_METHOD=local"}
	p.cmd.Stderr = errf
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	p.conn = NewConn(stdout, stdin, Options{OnEvent: func(ev Event) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.kinds = append(p.kinds, ev.Kind)
		switch ev.Kind {
		case KindHeartbeat:
			once.Do(func() { close(p.heartbeat) })
		case KindManifest:
			p.manifest = ev.Line
		case KindLog:
			if rec, err := ev.Log(); err == nil {
				p.logs = append(p.logs, rec)
			}
		default:
			p.other = append(p.other, fmt.Sprintf("%s %s %s", ev.Kind, ev.Data, ev.Line))
		}
	}})
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.conn.Done() // stdout must be drained before Wait closes it
		_ = p.cmd.Wait()
	})

	start := time.Now()
	select {
	case <-p.heartbeat:
		t.Logf("spawn to first heartbeat: %v", time.Since(start))
	case <-p.conn.Done():
		t.Fatalf("plugin exited before its first heartbeat: %v\nstderr: %s", p.conn.Err(), p.stderrTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("no heartbeat after 60 s\nstderr: %s", p.stderrTail())
	}
	return p
}

// call runs one request to its end and returns its items. invoke answers backwards calls.
func (p *sdkPlugin) call(t *testing.T, payload Payload, invoke func(*Session, Invocation)) []SessionMessage {
	t.Helper()
	env, err := NewRequest("", "u-1", payload)
	if err != nil {
		t.Fatal(err)
	}
	return p.callEnv(t, env, invoke)
}

func (p *sdkPlugin) callEnv(t *testing.T, env Envelope, invoke func(*Session, Invocation)) []SessionMessage {
	t.Helper()
	items, err := p.tryCall(env, invoke)
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, p.stderrTail())
	}
	return items
}

func (p *sdkPlugin) tryCall(env Envelope, invoke func(*Session, Invocation)) ([]SessionMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := p.conn.Open(ctx, env)
	if err != nil {
		return nil, err
	}
	var items []SessionMessage
	for {
		m, err := s.Next()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return items, fmt.Errorf("session %s: %w", s.ID(), err)
		}
		if m.Type == MessageInvoke && invoke != nil {
			inv, err := m.Invocation()
			if err != nil {
				return items, err
			}
			invoke(s, inv)
			continue
		}
		items = append(items, m)
	}
}

func echoTool(text, mode string) InvokeTool {
	params, _ := json.Marshal(map[string]string{"text": text, "mode": mode})
	return InvokeTool{Provider: "echo", Tool: "echo", ToolParameters: params}
}

// toolItems decodes stream items as tool messages.
func toolItems(t *testing.T, items []SessionMessage) []ToolMessage {
	t.Helper()
	var out []ToolMessage
	for _, it := range items {
		if it.Type != MessageStream {
			t.Fatalf("%s item: %s", it.Type, it.Data)
		}
		tm, err := it.ToolMessage()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tm)
	}
	return out
}

func TestRealSDK(t *testing.T) {
	p := startSDKPlugin(t, sdkPython(t), echoPluginDir)

	t.Run("startup", func(t *testing.T) {
		p.mu.Lock()
		defer p.mu.Unlock()
		var m struct {
			Name string
			Type string
		}
		if err := json.Unmarshal(p.manifest, &m); err != nil || m.Name != "echo" || m.Type != "plugin" {
			t.Errorf("manifest %q: %v", p.manifest, err)
		}
		if len(p.kinds) == 0 || p.kinds[0] != KindManifest {
			t.Errorf("first event kinds: %v", p.kinds)
		}
		found := false
		for _, l := range p.logs {
			found = found || (l.Level == "INFO" && l.Message == "Installed tool: echo" && l.Timestamp > 0)
		}
		if !found {
			t.Errorf("logs = %+v", p.logs)
		}
		if len(p.other) > 0 {
			t.Errorf("unexpected events: %q", p.other)
		}
	})

	t.Run("text", func(t *testing.T) {
		tms := toolItems(t, p.call(t, echoTool("hello", "text"), nil))
		if len(tms) != 1 || tms[0].Type != ToolText || string(tms[0].Message) != `{"text":"hello"}` {
			t.Errorf("items = %+v", tms)
		}
	})

	t.Run("every message type", func(t *testing.T) {
		tms := toolItems(t, p.call(t, echoTool("hello", "all"), nil))
		a := NewBlobAssembler(1 << 20)
		var types []string
		var blobs []*Blob
		for _, tm := range tms {
			b, consumed, err := a.Add(tm)
			if err != nil {
				t.Fatal(err)
			}
			if !consumed {
				types = append(types, string(tm.Type))
			}
			if b != nil {
				blobs = append(blobs, b)
			}
		}
		if got := strings.Join(types, ","); got != "text,json,link,image,variable,variable,log" {
			t.Errorf("types = %s", got)
		}
		if string(tms[1].Message) != `{"json_object":{"a":1,"b":"é"}}` {
			t.Errorf("json message = %s", tms[1].Message)
		}
		if len(blobs) != 1 || string(blobs[0].Data) != "\x00\x01hello" || !strings.Contains(string(blobs[0].Meta), `"filename":"a.bin"`) {
			t.Errorf("blobs = %+v", blobs)
		}
	})

	t.Run("tool raises", func(t *testing.T) {
		items := p.call(t, echoTool("hello", "error"), nil)
		if len(items) != 1 {
			t.Fatalf("items = %v", items)
		}
		se, err := items[0].AsError()
		if err != nil || se.ErrorType != "ValueError" || se.Message != "boom" {
			t.Errorf("error item = %+v, %v", se, err)
		}
	})

	t.Run("validation error", func(t *testing.T) {
		env := Envelope{Data: []byte(`{"type":"tool","action":"invoke_tool","user_id":"u","provider":"echo","tool":"echo","credentials":{}}`)}
		items := p.callEnv(t, env, nil)
		if len(items) != 1 {
			t.Fatalf("items = %v", items)
		}
		if se, err := items[0].AsError(); err != nil || se.ErrorType != "ValidationError" || !strings.Contains(se.Message, "tool_parameters") {
			t.Errorf("error item = %+v, %v", se, err)
		}
	})

	t.Run("validate credentials", func(t *testing.T) {
		items := p.call(t, ValidateToolCredentials{Provider: "echo", Credentials: Object(`{"k":"v"}`)}, nil)
		if len(items) != 1 || string(items[0].Data) != `{"result":true}` {
			t.Errorf("items = %v", items)
		}
	})

	t.Run("action without route", func(t *testing.T) {
		if items := p.call(t, GetToolRuntimeParameters{Provider: "echo", Tool: "echo"}, nil); len(items) != 0 {
			t.Errorf("items = %v", items)
		}
	})

	t.Run("backwards storage", func(t *testing.T) {
		var invs []Invocation
		items := p.call(t, echoTool("hello", "storage"), func(s *Session, inv Invocation) {
			invs = append(invs, inv)
			data, _ := json.Marshal(map[string]Hex{"data": Hex("world")})
			ctx := context.Background()
			if err := s.Respond(ctx, BackwardsResult(inv.RequestID, inv.Type.ResponseMessage(), data)); err != nil {
				t.Error(err)
			}
			if err := s.Respond(ctx, BackwardsEnd(inv.RequestID)); err != nil {
				t.Error(err)
			}
		})
		if len(invs) != 1 || invs[0].Type != BackwardsStorage || string(invs[0].Request) != `{"opt":"get","key":"k"}` || len(invs[0].RequestID) != 32 {
			t.Errorf("invocations = %+v", invs)
		}
		tms := toolItems(t, items)
		if len(tms) != 1 || string(tms[0].Message) != `{"text":"world"}` {
			t.Errorf("items = %+v", tms)
		}
	})

	t.Run("backwards error", func(t *testing.T) {
		items := p.call(t, echoTool("hello", "storage"), func(s *Session, inv Invocation) {
			_ = s.Respond(context.Background(), BackwardsError(inv.RequestID, "permission denied"))
			_ = s.Respond(context.Background(), BackwardsEnd(inv.RequestID))
		})
		if len(items) != 1 {
			t.Fatalf("items = %v", items)
		}
		if se, err := items[0].AsError(); err != nil || !strings.Contains(se.Message, "permission denied") {
			t.Errorf("error item = %+v, %v", se, err)
		}
	})

	t.Run("100 concurrent", func(t *testing.T) {
		const n = 100
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				env, _ := NewRequest("", "u-1", echoTool(fmt.Sprintf("msg-%d", i), "text"))
				items, err := p.tryCall(env, nil)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf(`{"type":"text","message":{"text":"msg-%d"},"meta":null}`, i); len(items) != 1 || string(items[0].Data) != want {
					errs <- fmt.Errorf("call %d: items %v", i, items)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d concurrent invoke_tool round trips: %v", n, time.Since(start))
	})

	// Last, because it kills the plugin: sessions blocked in a backwards call fail at once.
	t.Run("exit fails in-flight sessions", func(t *testing.T) {
		const n = 10
		invoked := make(chan struct{}, n)
		errs := make(chan error, n)
		for range n {
			go func() {
				env, _ := NewRequest("", "u-1", echoTool("hello", "storage"))
				items, err := p.tryCall(env, func(*Session, Invocation) { invoked <- struct{}{} }) // never answered
				if err == nil {
					err = fmt.Errorf("ended normally with %v", items)
				}
				errs <- err
			}()
		}
		for range n {
			select {
			case <-invoked:
			case <-time.After(testTimeout):
				t.Fatal("no invocation")
			}
		}
		killed := time.Now()
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := <-errs; !errors.Is(err, ErrPluginExited) {
				t.Errorf("session error = %v", err)
			}
		}
		t.Logf("kill to %d sessions failed: %v", n, time.Since(killed))
	})
}

// sdkPythonVar names the variable holding the SDK interpreter: the 0.7 line by default, the
// newest line when PLUGD_TEST_SDK_LINE=new (scripts/test.sh runs the SDK tests both ways).
func sdkPythonVar() string {
	if os.Getenv("PLUGD_TEST_SDK_LINE") == "new" {
		return "PLUGD_TEST_PYTHON_SDK_NEW"
	}
	return "PLUGD_TEST_PYTHON_SDK07"
}
