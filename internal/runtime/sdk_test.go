//go:build unix

package runtime

// End-to-end tests: real plugins from testdata/plugins, run by the real dify-plugin SDK.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/sandbox"
	"github.com/plugd/plugd/internal/wire"
)

func TestReadyAtFirstHeartbeat(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "crasher"))
	if st := l.Status(); st.State != StateStopped || st.PID != 0 {
		t.Fatalf("before Start: %+v", st)
	}
	t0 := time.Now()
	if err := l.Start(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Logf("spawn to first heartbeat: %s", time.Since(t0).Round(time.Millisecond))
	st := l.Status()
	if st.State != StateReady || st.PID == 0 || st.RSS == 0 {
		t.Fatalf("after Start: %+v", st)
	}
	t.Logf("RSS of a ready SDK plugin: %d MiB", st.RSS>>20)

	// Round trip of a trivial request on the ready plugin.
	const n = 50
	t0 = time.Now()
	for range n {
		items, err := callTool(t, testCtx(t, 10*time.Second), l, "echo", map[string]any{"text": "hi"})
		if err != nil || len(items) != 1 {
			t.Fatalf("echo: %v, %v", items, err)
		}
	}
	t.Logf("echo round trip: %s per call (sequential, %d calls)", (time.Since(t0) / n).Round(time.Microsecond), n)
}

func TestEveryMessageType(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "everything"))
	items, err := callTool(t, testCtx(t, 60*time.Second), l, "everything", nil)
	if err != nil {
		t.Fatal(err)
	}
	asm := wire.NewBlobAssembler(32 << 20)
	var kinds []string
	var blob *wire.Blob
	for _, m := range items {
		tm, err := m.ToolMessage()
		if err != nil {
			t.Fatal(err)
		}
		b, consumed, err := asm.Add(tm)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case b != nil:
			blob = b
			kinds = append(kinds, "blob")
		case !consumed:
			k := string(tm.Type)
			if strings.Contains(string(tm.Message), `"stream":true`) {
				k = "stream variable"
			}
			kinds = append(kinds, k)
		}
	}
	if err := asm.Finish(); err != nil {
		t.Fatal(err)
	}
	want := []string{"text", "json", "link", "image", "variable", "stream variable", "log", "log", "blob", "text"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("message types %v, want %v", kinds, want)
	}
	pattern := make([]byte, 256)
	for i := range pattern {
		pattern[i] = byte(i)
	}
	wantBlob := bytes.Repeat(pattern, 20<<20/256)
	if len(blob.Data) != 20<<20 || sha256.Sum256(blob.Data) != sha256.Sum256(wantBlob) {
		t.Fatalf("blob of %d bytes differs from the 20 MiB the plugin sent", len(blob.Data))
	}
	if !strings.Contains(string(blob.Meta), `"filename":"big.bin"`) {
		t.Errorf("blob meta %s", blob.Meta)
	}
	t.Logf("%d stream items; blob of %d MiB reassembled intact", len(items), len(blob.Data)>>20)
}

func TestPluginErrorIsSessionError(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "raiser"))
	items, err := callTool(t, testCtx(t, 30*time.Second), l, "raiser", nil)
	if got := texts(t, items); !slices.Equal(got, []string{"before the error"}) {
		t.Errorf("items before the error: %q", got)
	}
	var serr *wire.SessionError
	if !errors.As(err, &serr) || serr.ErrorType != "ValueError" || serr.Message != "boom from raiser" {
		t.Fatalf("error %v, want the plugin's ValueError", err)
	}
	if l.Status().State != StateReady {
		t.Errorf("a request error must not affect the process: %+v", l.Status())
	}
}

func TestCrashFailsEveryRequestInFlight(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "crasher"))
	ctx := testCtx(t, 60*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := l.Status().PID

	const slow = 5
	var streams []*Stream
	for range slow {
		s, err := tool(ctx, l, "slow", map[string]any{"seconds": 60})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Next(); err != nil { // "started": the plugin is working on it
			t.Fatalf("slow: %v %v", m, err)
		}
		streams = append(streams, s)
	}
	crash, err := tool(ctx, l, "crash", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crash.Next(); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now() // the plugin exits right after this message

	var wg sync.WaitGroup
	latency := make([]time.Duration, slow+1)
	for i, s := range append(streams, crash) {
		wg.Go(func() {
			_, err := collect(s)
			latency[i] = time.Since(crashed)
			e := asExit(t, err)
			if !errors.Is(err, wire.ErrPluginExited) || e.Status != "exit status 3" || e.PID != pid || !e.Ready {
				t.Errorf("request %d: %v", i, err)
			}
			if !strings.Contains(e.Stderr, "crasher: exiting on purpose") || !strings.Contains(err.Error(), "exit status 3") {
				t.Errorf("request %d: the error lacks the exit status or stderr: %v", i, err)
			}
		})
	}
	wg.Wait()
	worst := slices.Max(latency)
	t.Logf("crash to all %d requests failed: %s", slow+1, worst.Round(time.Millisecond))
	if worst > 10*time.Second { // a hang, not a speed measurement
		t.Errorf("requests took %s to fail", worst)
	}

	t0 := time.Now()
	items, err := callTool(t, ctx, l, "echo", map[string]any{"text": "again"})
	if err != nil || !slices.Equal(texts(t, items), []string{"again"}) {
		t.Fatalf("after the restart: %v, %v", items, err)
	}
	st := l.Status()
	if st.Restarts != 1 || st.PID == pid || st.Crashes != 1 {
		t.Errorf("status after one crash: %+v", st)
	}
	t.Logf("crash to next answer (back-off %s + restart): %s", l.cfg.RestartBackoff, time.Since(t0).Round(time.Millisecond))
}

func TestCrashLoop(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crashloop")
	cfg.CrashLoopCount = 3
	cfg.RestartBackoff = 10 * time.Millisecond
	l := start(t, cfg)
	ctx := testCtx(t, 30*time.Second)

	_, err := callTool(t, ctx, l, "echo", nil)
	if e := asExit(t, err); e.Ready || e.Status != "exit status 3" || !strings.Contains(e.Stderr, "CRASHLOOP_TOKEN") {
		t.Fatalf("first start: %v", err)
	}
	waitState(t, l, StateFailed, 20*time.Second)

	t0 := time.Now()
	_, err = callTool(t, ctx, l, "echo", nil)
	if !errors.Is(err, ErrCrashLoop) || !strings.Contains(err.Error(), "CRASHLOOP_TOKEN is missing") {
		t.Fatalf("failed runtime: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("a failed runtime took %s to refuse", d)
	}
	if st := l.Status(); st.Crashes != 3 || st.Restarts != 2 || st.PID != 0 {
		t.Errorf("status: %+v", st)
	}

	l.Reset()
	if _, err := callTool(t, ctx, l, "echo", nil); errors.Is(err, ErrCrashLoop) || asExit(t, err) == nil {
		t.Fatalf("after Reset the plugin should be started again: %v", err)
	}
}

// TestCrashLoopBackoff: a failed runtime becomes startable again once its back-off is over,
// and a second loop in a row waits twice as long.
func TestCrashLoopBackoff(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crashloop")
	cfg.CrashLoopCount = 2
	cfg.RestartBackoff = 10 * time.Millisecond
	cfg.CrashLoopBackoff = 300 * time.Millisecond
	l := start(t, cfg)
	ctx := testCtx(t, 30*time.Second)
	for loop := 1; loop <= 2; loop++ {
		before := time.Now()
		callTool(t, ctx, l, "echo", nil)
		waitState(t, l, StateFailed, 20*time.Second)
		if _, err := callTool(t, ctx, l, "echo", nil); !errors.Is(err, ErrCrashLoop) || !strings.Contains(err.Error(), "may start again in") {
			t.Fatalf("loop %d: a failed runtime answered %v", loop, err)
		}
		// The back-off doubles per loop: the retry is scheduled at least that long after
		// the loop began (read from the runtime, not timed, so a slow machine cannot fail it).
		l.mu.Lock()
		retryAt, loops := l.retryAt, l.loops
		l.mu.Unlock()
		if want := cfg.CrashLoopBackoff << (loop - 1); loops != loop || retryAt.Sub(before) < want {
			t.Errorf("loop %d: %d loops counted, retry %s after the loop began, want at least %s", loop, loops, retryAt.Sub(before), want)
		}
		// And it does start again by itself once the back-off ends.
		waitState(t, l, StateStopped, 20*time.Second)
	}
}

func TestFiftyMiBLine(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "bigline")
	// Building and writing 50 MiB holds the SDK's heartbeats back; on a loaded machine under
	// the race detector that took over the tests' usual 30 s. What is tested is the line.
	cfg.HeartbeatTimeout = 2 * time.Minute
	l := start(t, cfg)
	items, err := callTool(t, testCtx(t, 3*time.Minute), l, "bigline", nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	got := texts(t, items)[0]
	want := strings.Repeat("0123456789abcdef", 50<<20/16)
	if len(got) != len(want) || got != want {
		t.Fatalf("text of %d bytes differs from the 50 MiB sent", len(got))
	}
	t.Logf("one line of %d MiB arrived intact", len(items[0].Data)>>20)
}

func TestNoHeartbeatIsAStartTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "noheartbeat")
	cfg.StartTimeout = 3 * time.Second
	cfg.RestartBackoff = time.Minute // one attempt is enough here
	l := start(t, cfg)
	t0 := time.Now()
	_, err := callTool(t, testCtx(t, 30*time.Second), l, "echo", nil)
	if !errors.Is(err, ErrStartTimeout) || !strings.Contains(err.Error(), "plugin plugd-test/noheartbeat") {
		t.Fatalf("error %v, want a start timeout naming the plugin", err)
	}
	if e := asExit(t, err); e.Status != "signal: killed" {
		t.Errorf("the process should have been killed: %v", err)
	}
	t.Logf("failed after %s: %v", time.Since(t0).Round(time.Millisecond), err)
}

func TestStorage(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	cfg := testConfig(t, "storage")
	cfg.Backwards = backwards.NewLocal(backwards.NewFileStore(storeDir, 0))
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)

	items, err := callTool(t, ctx, l, "storage", map[string]any{"op": "roundtrip", "key": "k", "value": "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := items[0].ToolMessage()
	if want := `{"json_object":{"got":"v1","existed":true,"after_delete":false}}`; string(tm.Message) != want {
		t.Fatalf("round trip: %s, want %s", tm.Message, want)
	}

	if _, err := callTool(t, ctx, l, "storage", map[string]any{"op": "set", "key": "kept", "value": "hello"}); err != nil {
		t.Fatal(err)
	}
	file := backwards.NewFileStore(storeDir, 0).Path(backwards.Namespace{TenantID: "t-1", PluginID: "plugd-test/storage"})
	if b, err := os.ReadFile(file); err != nil || string(b) != `{"kept":"aGVsbG8="}` {
		t.Fatalf("storage file %s: %s, %v", file, b, err)
	}

	// Another Backwards type has no Dify to go to; the plugin raises the handler's message.
	_, err = callTool(t, ctx, l, "storage", map[string]any{"op": "summary", "value": "text"})
	var serr *wire.SessionError
	if !errors.As(err, &serr) || !strings.Contains(serr.Message, `"system_summary" is not available without Dify (plugd plugin run/invoke has no Dify to call)`) {
		t.Fatalf("summary: %v", err)
	}

	// A new runtime and a new store over the same folder: the value is still there.
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Backwards = backwards.NewLocal(backwards.NewFileStore(storeDir, 0))
	l2 := start(t, cfg)
	items, err = callTool(t, ctx, l2, "storage", map[string]any{"op": "get", "key": "kept"})
	if err != nil || !slices.Equal(texts(t, items), []string{"hello"}) {
		t.Fatalf("after restart: %v, %v", items, err)
	}
}

func TestEnvironmentIsAllowListed(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox")
	cfg.Zygotes = nil // the plain spawn; TestZygoteForkedPluginEnvironment checks a fork
	cfg.Env = []string{"HTTPS_PROXY=http://proxy.invalid:3128", "install_method=remote"}
	// Authors ship .env files from debugging; INSTALL_METHOD=local must win over this one.
	if err := os.WriteFile(filepath.Join(cfg.Dir, ".env"), []byte("INSTALL_METHOD=remote\nREMOTE_INSTALL_KEY=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := start(t, cfg)
	items, err := callTool(t, testCtx(t, 30*time.Second), l, "environ", nil)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := items[0].ToolMessage()
	var got struct {
		JSON struct {
			Environ map[string]string `json:"environ"`
			Cwd     string            `json:"cwd"`
			PPID    int               `json:"ppid"`
		} `json:"json_object"`
	}
	if err := json.Unmarshal(tm.Message, &got); err != nil {
		t.Fatal(err)
	}
	env := got.JSON.Environ
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"HEARTBEAT_INTERVAL", "HOME", "HTTPS_PROXY", "INSTALL_METHOD", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "TMPDIR"}
	if !slices.Equal(keys, want) {
		t.Errorf("plugin environment has %v, want exactly %v", keys, want)
	}
	if _, leaked := env[testSecret]; leaked || os.Getenv(testSecret) == "" {
		t.Errorf("%s leaked into the plugin", testSecret)
	}
	checks := map[string]string{
		"INSTALL_METHOD": "local",
		"HOME":           filepath.Join(cfg.DataDir, "home"),
		"TMPDIR":         filepath.Join(cfg.DataDir, "tmp"),
		"PATH":           filepath.Dir(cfg.Python) + ":" + systemPath,
		"HTTPS_PROXY":    "http://proxy.invalid:3128",
	}
	for k, v := range checks {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if got.JSON.Cwd != cfg.Dir || got.JSON.PPID != os.Getpid() {
		t.Errorf("cwd %s, ppid %d; want %s, %d", got.JSON.Cwd, got.JSON.PPID, cfg.Dir, os.Getpid())
	}
	// The plugin imported its modules from cfg.Dir: no bytecode may have been written there.
	filepath.WalkDir(cfg.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && (d.Name() == "__pycache__" || strings.HasSuffix(p, ".pyc")) {
			t.Errorf("running the plugin wrote %s", p)
		}
		return nil
	})
}

func TestLazyStartAndIdleStop(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	cfg.IdleStop = 300 * time.Millisecond
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	time.Sleep(100 * time.Millisecond)
	if st := l.Status(); st.State != StateStopped || st.PID != 0 {
		t.Fatalf("a runtime nobody used is running: %+v", st)
	}
	if _, err := os.Stat(l.LogFile()); !os.IsNotExist(err) {
		t.Fatalf("plugin.log exists before the first request: %v", err)
	}

	// A request longer than the idle time keeps the plugin up.
	items, err := callTool(t, ctx, l, "slow", map[string]any{"seconds": 0.6})
	if err != nil || len(items) != 2 {
		t.Fatalf("slow: %v, %v", items, err)
	}
	pid := l.Status().PID
	if pid == 0 {
		t.Fatal("no process after the request")
	}
	t0 := time.Now()
	waitState(t, l, StateStopped, 10*time.Second)
	t.Logf("idle stop %s after the last request (IdleStop %s)", time.Since(t0).Round(time.Millisecond), cfg.IdleStop)
	waitGone(t, pid)

	items, err = callTool(t, ctx, l, "echo", map[string]any{"text": "back"})
	if err != nil || !slices.Equal(texts(t, items), []string{"back"}) {
		t.Fatalf("after the idle stop: %v, %v", items, err)
	}
	if st := l.Status(); st.PID == pid || st.Restarts != 0 || st.LastError != nil {
		t.Errorf("an idle stop is not a crash: %+v", st)
	}
}

// waitGone waits until pid no longer exists (it has been reaped).
func waitGone(t testing.TB, pid int) {
	t.Helper()
	for range 100 {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d still exists", pid)
}

func TestStopTermThenKill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		plugin   string
		grace    time.Duration
		status   string
		min, max time.Duration
	}{
		{"crasher", 5 * time.Second, "signal: terminated", 0, 4 * time.Second}, // SIGTERM is enough
		{"stubborn", time.Second, "signal: killed", time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, tt.plugin)
			cfg.StopGrace = tt.grace
			l := start(t, cfg)
			ctx := testCtx(t, 30*time.Second)
			if err := l.Start(ctx); err != nil {
				t.Fatal(err)
			}
			pid := l.Status().PID
			var inflight *Stream
			if tt.plugin == "crasher" {
				var err error
				if inflight, err = tool(ctx, l, "slow", map[string]any{"seconds": 60}); err != nil {
					t.Fatal(err)
				}
				inflight.Next()
			}
			t0 := time.Now()
			if err := l.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			took := time.Since(t0)
			if took < tt.min || took > tt.max {
				t.Errorf("Stop took %s, want %s to %s", took, tt.min, tt.max)
			}
			waitGone(t, pid)
			log, _ := os.ReadFile(l.LogFile())
			if !strings.Contains(string(log), "ended: "+tt.status) {
				t.Errorf("plugin.log does not say %q:\n%s", tt.status, log)
			}
			if inflight != nil {
				if _, err := collect(inflight); !errors.Is(err, ErrStopped) {
					t.Errorf("request in flight: %v, want ErrStopped", err)
				}
			}
			if st := l.Status(); st.State != StateStopped || st.LastError != nil {
				t.Errorf("after Stop: %+v", st)
			}
			t.Logf("stopped in %s (%s)", took.Round(time.Millisecond), tt.status)
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox") // resource.memory: 256 MiB
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	if _, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 64}); err != nil {
		t.Fatalf("64 MiB under a 256 MiB limit: %v", err)
	}
	_, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 1024})
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "256 MiB") {
		t.Fatalf("1 GiB under a 256 MiB limit: %v", err)
	}
	t.Logf("at the limit: %v", err)
	if _, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 64}); err != nil {
		t.Fatalf("the plugin does not answer after reaching its limit: %v", err)
	}
}

func TestLLMStream(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "llm"))
	s, err := l.InvokePayload(testCtx(t, 30*time.Second), wire.InvokeLLM{
		ModelBase:      wire.ModelBase{Provider: "streamer", ModelType: wire.ModelLLM, Model: "words"},
		PromptMessages: wire.Array(`[{"role":"user","content":"hi"}]`),
		Stop:           json.RawMessage("null"),
		Tools:          json.RawMessage("null"),
	}, InvokeContext{UserID: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	items, err := collect(s)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for i, m := range items {
		var chunk struct {
			Delta struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
				Usage        *struct{ TotalTokens int } `json:"usage"`
				FinishReason *string                    `json:"finish_reason"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(m.Data, &chunk); err != nil {
			t.Fatal(err)
		}
		text.WriteString(chunk.Delta.Message.Content)
		if last := i == len(items)-1; last != (chunk.Delta.Usage != nil && chunk.Delta.FinishReason != nil) {
			t.Errorf("chunk %d: usage %v, finish %v", i, chunk.Delta.Usage, chunk.Delta.FinishReason)
		}
	}
	if len(items) != 9 || text.String() != "the quick brown fox jumps over the lazy dog" {
		t.Fatalf("%d chunks, %q", len(items), text.String())
	}
}

func TestCancelAbandonsTheRequest(t *testing.T) {
	t.Parallel()
	l := start(t, testConfig(t, "crasher"))
	ctx := testCtx(t, 60*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := callTool(t, short, l, "slow", map[string]any{"seconds": 30})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Fatalf("after %s: %v", time.Since(t0), err)
	}
	items, err := callTool(t, ctx, l, "echo", map[string]any{"text": "still here"})
	if err != nil || len(items) != 1 {
		t.Fatalf("the plugin should be unaffected: %v, %v", items, err)
	}
	if st := l.Status(); st.InFlight != 0 || st.Restarts != 0 {
		t.Errorf("status: %+v", st)
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	cfg.HeartbeatTimeout = 2 * time.Second // HEARTBEAT_INTERVAL becomes 0.5 s
	cfg.RestartBackoff = time.Minute
	l := start(t, cfg)
	ctx := testCtx(t, 30*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := l.Status().PID
	time.Sleep(3 * time.Second) // beats every 0.5 s: still ready
	if st := l.Status(); st.State != StateReady || st.PID != pid {
		t.Fatalf("a beating plugin was disturbed: %+v", st)
	}
	syscall.Kill(pid, syscall.SIGSTOP) // frozen: no beats, no exit
	st := waitState(t, l, StateRestarting, 10*time.Second)
	if !errors.Is(st.LastError, ErrHeartbeatTimeout) || asExit(t, st.LastError).Status != "signal: killed" {
		t.Fatalf("last error %v", st.LastError)
	}
}

// TestUnderPID1 runs TestPID1Child in a new PID namespace, where the test binary is PID 1 as a
// daemon in a container without an init is: the plugin must still start and answer.
func TestUnderPID1(t *testing.T) {
	if os.Getenv("PLUGD_TEST_AS_PID1") != "" {
		t.Skip("inside the namespace")
	}
	py := sdkPython(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) here")
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", exe, "-test.run=^TestPID1Child$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUGD_TEST_AS_PID1=1", sdkPythonVar()+"="+py)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") {
		t.Skipf("cannot make a PID namespace here: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPID1Child") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestPID1Child(t *testing.T) {
	if os.Getenv("PLUGD_TEST_AS_PID1") == "" {
		t.Skip("run by TestUnderPID1")
	}
	if os.Getpid() != 1 {
		t.Fatalf("pid %d, want 1", os.Getpid())
	}
	cfg := testConfig(t, "sandbox")
	cfg.Zygotes = nil // the shim is what this checks; a forked plugin's parent is its zygote
	l := start(t, cfg)
	ctx := testCtx(t, 30*time.Second)
	items, err := callTool(t, ctx, l, "environ", nil)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := items[0].ToolMessage()
	var got struct {
		JSON struct {
			PPID int `json:"ppid"`
		} `json:"json_object"`
	}
	json.Unmarshal(tm.Message, &got)
	if got.JSON.PPID == 1 || got.JSON.PPID != l.Status().PID {
		t.Errorf("plugin's parent is %d; want the shim %d", got.JSON.PPID, l.Status().PID)
	}
	time.Sleep(time.Second) // the SDK checks its parent every 0.5 s
	if _, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 1024}); !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("the shim must apply the memory limit: %v", err)
	}
	if _, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 8}); err != nil {
		t.Errorf("the plugin under the shim went away: %v", err)
	}
}

// TestIsolatedPlugin runs a real SDK plugin in the sandbox the daemon uses (ModeUID as root,
// ModeUserNS otherwise): it starts, answers, sees its own folders at the usual paths, is
// PID 1 of its own PID namespace, and its start is logged with the isolation in force.
func TestIsolatedPlugin(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox")
	tmp := t.TempDir()
	iso, how := ChooseIsolation("required", Isolation{
		UIDs:       sandbox.NewAllocator(filepath.Join(tmp, "uids.json"), 300000, 1000),
		Limits:     sandbox.Limits{Processes: 64, OpenFiles: 256},
		CPUPercent: 50,
		Root:       filepath.Join(tmp, "root"),
	})
	if iso.Refused != nil {
		t.Skipf("no sandbox here: %s", how)
	}
	t.Log(how)
	cfg.Isolation = iso
	l := start(t, cfg)
	items, err := callTool(t, testCtx(t, 30*time.Second), l, "environ", nil)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := items[0].ToolMessage()
	var got struct {
		JSON struct {
			Environ map[string]string `json:"environ"`
			Cwd     string            `json:"cwd"`
			PPID    int               `json:"ppid"`
		} `json:"json_object"`
	}
	if err := json.Unmarshal(tm.Message, &got); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.LogFile())
	// A plain start is PID 1 of its namespace (parent 0); a fork of a confined zygote (with
	// PLUGD_TEST_ZYGOTE=1, as root) is a child of the zygote proper, never of a PID 1.
	forked := strings.Contains(string(b), "forked from a zygote")
	if forked && (cfg.Zygotes == nil || iso.Mode != sandbox.ModeUID) {
		t.Errorf("forked from a zygote without zygotes or in mode %s", iso.Mode)
	}
	if got.JSON.Cwd != cfg.Dir || got.JSON.Environ["HOME"] != filepath.Join(cfg.DataDir, "home") || (got.JSON.PPID != 0) != forked || got.JSON.PPID == 1 {
		t.Errorf("inside the sandbox: cwd %q, HOME %q, ppid %d (forked: %v); want %q, %q, 0 (PID 1 of its namespace) or the zygote's",
			got.JSON.Cwd, got.JSON.Environ["HOME"], got.JSON.PPID, forked, cfg.Dir, filepath.Join(cfg.DataDir, "home"))
	}
	if err != nil || !strings.Contains(string(b), "isolation: "+string(iso.Mode)) {
		t.Errorf("plugin.log does not name the isolation (%v):\n%s", err, b)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(line, "runtime: started") || strings.Contains(line, "runtime: forked") {
			t.Log(line)
		}
	}
	// The plugin's cgroups, when the host lets the daemon make them, carry its limits.
	cgroups, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", l.Status().PID))
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(cgroups)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.Contains(f[2], "plugd-") {
			continue
		}
		want := map[string]string{}
		switch {
		case f[1] == "":
			want = map[string]string{"pids.max": "64", "cpu.max": "50000 100000"}
		case strings.Contains(","+f[1]+",", ",pids,"):
			f[1], want = "pids", map[string]string{"pids.max": "64"}
		case strings.Contains(","+f[1]+",", ",cpu,"):
			f[1], want = "cpu", map[string]string{"cpu.cfs_quota_us": "50000"}
		}
		for file, v := range want {
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f[1], f[2], file))
			if err != nil || strings.TrimSpace(string(b)) != v {
				t.Errorf("cgroup %s %s: %q (%v), want %q", f[1], file, b, err, v)
			}
			checked++
		}
	}
	t.Logf("%d cgroup limits checked (%s)", checked, strings.ReplaceAll(strings.TrimSpace(string(cgroups)), "\n", " "))
	t0 := time.Now()
	if err := l.Stop(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(t0).Round(time.Millisecond))
}
