package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

const uid = "plugd-test/raiser:0.0.1@" + "0123456789abcdef0123456789abcdef"

type fakePlugins struct{ installed map[string]bool }

func (f fakePlugins) GetPlugin(ctx context.Context, id string) (store.Plugin, error) {
	if f.installed[id] {
		return store.Plugin{UniqueIdentifier: id, InstallType: "local"}, nil
	}
	return store.Plugin{}, store.ErrNotFound
}

func (f fakePlugins) ListPlugins(ctx context.Context) ([]store.Plugin, error) {
	var out []store.Plugin
	for id := range f.installed {
		out = append(out, store.Plugin{UniqueIdentifier: id, InstallType: "local"})
	}
	return out, nil
}

// fixture prepares the runtime package's raiser plugin with the real SDK.
type fixture struct {
	t     *testing.T
	py    string
	calls atomic.Int32
	fail  atomic.Bool
	holds atomic.Int32 // environment holds taken and not released
}

func (f *fixture) Hold(string) (func(), error) {
	f.holds.Add(1)
	return func() { f.holds.Add(-1) }, nil
}

func (f *fixture) Prepare(ctx context.Context, id string, progress func(pyenv.Progress)) (*install.Prepared, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, errors.New("index unreachable")
	}
	dir := filepath.Join(f.t.TempDir(), "raiser")
	if err := os.CopyFS(dir, os.DirFS("../runtime/testdata/plugins/raiser")); err != nil {
		return nil, err
	}
	m, problems := manifest.Load(os.DirFS(dir))
	if m == nil {
		return nil, problems.Err()
	}
	pid, _ := install.ParseIdentifier(id)
	return &install.Prepared{ID: pid, Plugin: m, Dir: dir, Python: f.py, EnvKey: "env-of-raiser"}, nil
}

func newTest(t *testing.T, installed bool) (*Dispatcher, *fixture, *prometheus.Registry) {
	t.Helper()
	py := os.Getenv("PLUGD_TEST_PYTHON_SDK07")
	if py == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatal("PLUGD_TEST_PYTHON_SDK07 is not set: run scripts/test.sh")
	}
	fx := &fixture{t: t, py: py}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d := New(Config{
		Plugins: fakePlugins{installed: map[string]bool{uid: installed}}, Workspace: fx,
		DataDir: t.TempDir(), Metrics: m, StartTimeout: 60 * time.Second, MaxInstances: 1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	m.Attach(d)
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, fx, reg
}

func TestLazyStartInvokeAndMetrics(t *testing.T) {
	d, fx, reg := newTest(t, true)
	ctx := context.Background()
	if err := d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	st := d.Readiness()
	if len(st) != 1 || st[0].State != "idle" || st[0].Processes != 0 {
		t.Fatalf("after reconcile (prepared, not started): %+v", st)
	}
	s, err := d.Invoke(ctx, uid, wire.AccessTool, wire.ActionInvokeTool,
		[]byte(`{"provider":"raiser","tool":"raiser","tool_parameters":{},"credentials":{}}`), runtime.InvokeContext{TenantID: "t", UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.Next()
	if err != nil || !strings.Contains(string(msg.Data), "before the error") {
		t.Fatalf("first item: %s %v", msg.Data, err)
	}
	_, err = s.Next()
	var serr *wire.SessionError
	if !errors.As(err, &serr) || serr.Message != "boom from raiser" {
		t.Fatalf("plugin error: %v", err)
	}
	if fx.calls.Load() != 1 {
		t.Errorf("prepared %d times", fx.calls.Load())
	}
	st = d.Readiness()
	if st[0].State != "ready" || st[0].Processes != 1 || st[0].RSS <= 0 {
		t.Errorf("after a call: %+v", st)
	}
	if got := testutil.ToFloat64(d.cfg.Metrics.errors.WithLabelValues(uid, string(wire.ActionInvokeTool))); got != 1 {
		t.Errorf("errors metric %v", got)
	}
	if got := testutil.ToFloat64(d.cfg.Metrics.active.WithLabelValues(uid)); got != 0 {
		t.Errorf("in-flight metric %v after the stream ended", got)
	}
	n, err := testutil.GatherAndCount(reg, "plugin_processes", "plugin_resident_memory_bytes", "plugin_invocations_total")
	if err != nil || n != 3 {
		t.Errorf("gathered %d series: %v", n, err)
	}
	if err := d.Release(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if len(d.Readiness()) != 0 {
		t.Error("released plugin still listed")
	}
}

func TestNotInstalledAndWarm(t *testing.T) {
	d, fx, _ := newTest(t, false)
	ctx := context.Background()
	if _, err := d.Invoke(ctx, uid, wire.AccessTool, wire.ActionInvokeTool, []byte(`{}`), runtime.InvokeContext{}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("invoke of an uninstalled plugin: %v", err)
	}
	if fx.calls.Load() != 0 {
		t.Error("an uninstalled plugin was prepared")
	}
	// Warm (an install job) starts it before it is recorded, with the plugin the job
	// prepared: the dispatcher does not prepare it again.
	p, err := fx.Prepare(ctx, uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Warm(ctx, p); err != nil {
		t.Fatal(err)
	}
	if fx.calls.Load() != 1 {
		t.Errorf("prepared %d times, want once (by the install job)", fx.calls.Load())
	}
	if st := d.Readiness(); len(st) != 1 || st[0].State != "ready" {
		t.Errorf("readiness after warm: %+v", st)
	}
}

// WarmRecent starts the plugins whose plugin.log is newest, and only plugins that ran before;
// the dispatcher holds their environment until it lets them go.
func TestWarmRecentAndHold(t *testing.T) {
	d, fx, _ := newTest(t, true)
	ctx := context.Background()
	other := "plugd-test/other:0.0.1@" + "0123456789abcdef0123456789abcdee"
	d.cfg.Plugins = fakePlugins{installed: map[string]bool{uid: true, other: true}}
	logDir := filepath.Join(d.cfg.DataDir, "plugd-test", "raiser", "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "plugin.log"), []byte("ran before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := d.WarmRecent(ctx, 5); n != 1 {
		t.Fatalf("warmed %d plugins, want 1 (the one that ran before)", n)
	}
	st := d.Readiness()
	if len(st) != 1 || st[0].UniqueIdentifier != uid || st[0].State != "ready" {
		t.Fatalf("after warming: %+v", st)
	}
	if fx.holds.Load() != 1 {
		t.Errorf("environment holds: %d, want 1", fx.holds.Load())
	}
	if err := d.Release(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if fx.holds.Load() != 0 {
		t.Errorf("environment still held after Release: %d", fx.holds.Load())
	}
}
