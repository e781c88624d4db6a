package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/sandbox"
	"github.com/plugd/plugd/internal/wire"
)

// testSecret is set in the test process's environment and must never reach a plugin.
const testSecret = "PLUGD_TEST_SECRET"

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit() // the isolated tests start this binary as the sandbox init
	os.Setenv(testSecret, "hunter2")
	os.Exit(m.Run())
}

// sdkPython is the interpreter with the real dify-plugin SDK (0.7 line). A missing one fails
// the test, so CI cannot skip it by accident; PLUGD_SKIP_PYTHON=1 skips it on purpose.
func sdkPython(t testing.TB) string {
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

// testConfig is the configuration of a test plugin from testdata/plugins, copied to a
// temporary folder so Python's caches stay out of the source tree. Timeouts are short so
// failures show quickly; the back-off is short so restarts do.
func testConfig(t testing.TB, name string) LocalConfig {
	t.Helper()
	py := sdkPython(t)
	dir := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "plugins", name))); err != nil {
		t.Fatal(err)
	}
	m, problems := manifest.Load(os.DirFS(dir))
	if m == nil || len(problems) > 0 {
		t.Fatalf("test plugin %s: %v", name, problems)
	}
	cfg := FromManifest(m, dir, py)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.StartTimeout = 30 * time.Second
	cfg.HeartbeatTimeout = 30 * time.Second
	cfg.StopGrace = 2 * time.Second
	cfg.RestartBackoff = 50 * time.Millisecond
	if os.Getenv("PLUGD_TEST_ZYGOTE") == "1" { // every SDK test through a zygote
		withZygotes(t, &cfg, "")
	}
	return cfg
}

// withZygotes gives cfg a zygote set that the test closes. PLUGD_TEST_ZYGOTE=1 does it for
// every test plugin (scripts/test.sh runs the package once that way).
func withZygotes(t testing.TB, cfg *LocalConfig, preload string) *Zygotes {
	t.Helper()
	zs := NewZygotes(ZygoteConfig{DataDir: t.TempDir(), Preload: preload,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		zs.Close(ctx)
	})
	cfg.Zygotes = zs
	return zs
}

// start makes a Local and stops it when the test ends.
func start(t testing.TB, cfg LocalConfig) *Local {
	t.Helper()
	l := NewLocal(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// tool invokes a tool of the test plugin whose provider has the plugin's name.
func tool(ctx context.Context, l *Local, name string, params map[string]any) (*Stream, error) {
	if params == nil {
		params = map[string]any{}
	}
	p, _ := json.Marshal(params)
	return l.InvokePayload(ctx, wire.InvokeTool{Provider: l.cfg.PluginID[len("plugd-test/"):], Tool: name, ToolParameters: p},
		InvokeContext{UserID: "u-1", TenantID: "t-1"})
}

// collect reads a stream to its end and returns its items and the error that ended it (nil
// for a normal end).
func collect(s *Stream) ([]wire.SessionMessage, error) {
	var out []wire.SessionMessage
	for {
		m, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// texts decodes the text of each tool message.
func texts(t testing.TB, items []wire.SessionMessage) []string {
	t.Helper()
	var out []string
	for _, m := range items {
		tm, err := m.ToolMessage()
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Text string }
		json.Unmarshal(tm.Message, &v)
		out = append(out, v.Text)
	}
	return out
}

// callTool runs a tool to its end.
func callTool(t testing.TB, ctx context.Context, l *Local, name string, params map[string]any) ([]wire.SessionMessage, error) {
	t.Helper()
	s, err := tool(ctx, l, name, params)
	if err != nil {
		return nil, err
	}
	return collect(s)
}

// waitState polls until l is in state want.
func waitState(t testing.TB, l *Local, want State, within time.Duration) Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := l.Status()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s after %s, want %s (last error: %v)", st.State, within, want, st.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func asExit(t testing.TB, err error) *ExitError {
	t.Helper()
	var e *ExitError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *ExitError", err, err)
	}
	return e
}

// sdkPythonVar names the variable holding the SDK interpreter: the 0.7 line by default, the
// newest line when PLUGD_TEST_SDK_LINE=new (scripts/test.sh runs the SDK tests both ways).
func sdkPythonVar() string {
	if os.Getenv("PLUGD_TEST_SDK_LINE") == "new" {
		return "PLUGD_TEST_PYTHON_SDK_NEW"
	}
	return "PLUGD_TEST_PYTHON_SDK07"
}
