package runtime

// Tests that need no Python.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

func TestPluginEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		timeout time.Duration
		want    []string
		err     bool
	}{
		{name: "defaults", timeout: 120 * time.Second, want: []string{
			"PATH=/venv/bin:" + systemPath, "HOME=/h", "TMPDIR=/t", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "HEARTBEAT_INTERVAL=10", "INSTALL_METHOD=local",
		}},
		{name: "short heartbeat timeout", timeout: 2 * time.Second, want: []string{
			"PATH=/venv/bin:" + systemPath, "HOME=/h", "TMPDIR=/t", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "HEARTBEAT_INTERVAL=0.5", "INSTALL_METHOD=local",
		}},
		{name: "extra entries, overrides, no INSTALL_METHOD", timeout: time.Minute,
			env: []string{"HTTPS_PROXY=http://p:3128", "LANG=de_DE.UTF-8", "Install_Method=remote", "MAX_REQUEST_TIMEOUT=120", "EMPTY="},
			want: []string{
				"PATH=/venv/bin:" + systemPath, "HOME=/h", "TMPDIR=/t", "LANG=de_DE.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "HEARTBEAT_INTERVAL=10",
				"HTTPS_PROXY=http://p:3128", "MAX_REQUEST_TIMEOUT=120", "EMPTY=", "INSTALL_METHOD=local",
			}},
		{name: "not KEY=VALUE", timeout: time.Minute, env: []string{"JUSTAKEY"}, err: true},
		{name: "empty key", timeout: time.Minute, env: []string{"=x"}, err: true},
		{name: "NUL", timeout: time.Minute, env: []string{"K=a\x00b"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &LocalConfig{Python: "/venv/bin/python", Env: tt.env, HeartbeatTimeout: tt.timeout}
			got, err := pluginEnv(cfg, "/h", "/t")
			if (err != nil) != tt.err {
				t.Fatalf("err %v", err)
			}
			if !tt.err && !slices.Equal(got, tt.want) {
				t.Errorf("env\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLogFileRotatesOnce(t *testing.T) {
	dir := t.TempDir()
	lf := &logFile{dir: dir, max: 1000}
	logger := slog.New(slog.DiscardHandler)
	for i := range 100 {
		lf.write(logger, 42, "stderr", fmt.Sprintf("line %03d %s", i, strings.Repeat("x", 20)))
	}
	lf.write(logger, 42, "stdout", strings.Repeat("y", 3*maxLogLine))
	lf.close()
	cur, _ := os.ReadFile(filepath.Join(dir, "plugin.log"))
	old, _ := os.ReadFile(filepath.Join(dir, "plugin.log.1"))
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("files %v, want plugin.log and plugin.log.1", ents)
	}
	if int64(len(old)) > lf.max || !strings.Contains(string(old), "pid=42 stderr: line 099") {
		t.Errorf("plugin.log.1 (%d bytes) should end with the last small line:\n%s", len(old), old)
	}
	if !strings.Contains(string(cur), "stdout: yyy") || !strings.Contains(string(cur), fmt.Sprintf("[%d bytes cut]", 2*maxLogLine)) {
		t.Errorf("a long line should be cut in plugin.log: %.200s", cur)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		writes []string
		max    int
		want   string
	}{
		{[]string{"a\n", "b\n"}, 100, "a\nb"},
		{[]string{"first line\n", "second\n", "third\n"}, 12, "…\nthird"},
		{[]string{"\xff\xfe ok\n"}, 100, "? ok"},
	}
	for _, tt := range tests {
		tl := tail{max: tt.max}
		for _, w := range tt.writes {
			tl.Write([]byte(w))
		}
		if got := tl.String(); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.writes, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc… [3 bytes cut]"},
		{"ééé", 3, "é… [4 bytes cut]"}, // never half a rune
	} {
		if got := clip(tt.s, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestExitErrorMessages(t *testing.T) {
	tests := []struct {
		e    ExitError
		want string
		is   []error
	}{
		{ExitError{Plugin: "a/b", PID: 7, Status: "exit status 3", Ready: true, Stderr: "Traceback\nValueError: x"},
			"plugin a/b: process 7 exited (exit status 3); stderr:\nTraceback\nValueError: x", []error{wire.ErrPluginExited}},
		{ExitError{Plugin: "a/b", PID: 7, Status: "exit status 1"},
			"plugin a/b: process 7 exited before it was ready (exit status 1)", []error{wire.ErrPluginExited}},
		{ExitError{Plugin: "a/b", PID: 7, Status: "signal: killed", Reason: fmt.Errorf("%w (3s)", ErrStartTimeout)},
			"plugin a/b: no heartbeat before the start timeout (3s); process 7 killed (signal: killed)", []error{wire.ErrPluginExited, ErrStartTimeout}},
		{ExitError{Plugin: "a/b", PID: 7, Status: "signal: killed", Reason: ErrMemoryLimit, MemoryLimit: 256 << 20, Enforcement: "cgroup", Ready: true},
			"plugin a/b: memory limit of 256 MiB (resource.memory, enforced by a cgroup) exceeded: process 7 killed by the OOM killer (signal: killed)",
			[]error{wire.ErrPluginExited, ErrMemoryLimit}},
		{ExitError{Plugin: "a/b", PID: 7, Status: "signal: terminated", Reason: ErrStopped, Ready: true},
			"plugin a/b: stopped by the daemon; process 7 ended (signal: terminated)", []error{wire.ErrPluginExited, ErrStopped}},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
		for _, target := range tt.is {
			if !errors.Is(&tt.e, target) {
				t.Errorf("%q does not match %v", tt.want, target)
			}
		}
	}
}

func TestFromManifest(t *testing.T) {
	m := &manifest.Plugin{Author: "me", Name: "p", Meta: manifest.Meta{Runner: manifest.Runner{Entrypoint: "app"}}}
	for _, tt := range []struct{ declared, want int64 }{{0, 0}, {1 << 20, MinMemoryLimit}, {1 << 30, 1 << 30}} {
		m.Resource.Memory = tt.declared
		cfg := FromManifest(m, "/d", "/py")
		if cfg.MemoryLimit != tt.want || cfg.PluginID != "me/p" || cfg.Entrypoint != "app" {
			t.Errorf("declared %d: %+v", tt.declared, cfg)
		}
	}
}

func TestInvokeRefusesBadRequests(t *testing.T) {
	l := NewLocal(LocalConfig{PluginID: "me/p", Dir: t.TempDir(), Python: "/nonexistent/python", DataDir: t.TempDir()})
	ctx := context.Background()
	if _, err := l.Invoke(ctx, wire.AccessModel, wire.ActionInvokeTool, nil, InvokeContext{}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("action of another type: %v", err)
	}
	if _, err := l.Invoke(ctx, wire.AccessTool, wire.ActionInvokeTool, json.RawMessage(`[1]`), InvokeContext{}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("data not an object: %v", err)
	}
	if st := l.Status(); st.State != StateStopped {
		t.Errorf("a refused request started the plugin: %+v", st)
	}
	if _, err := NewLocal(LocalConfig{PluginID: "me/p"}).Invoke(ctx, wire.AccessTool, wire.ActionInvokeTool, nil, InvokeContext{}); err == nil ||
		!strings.Contains(err.Error(), "needs Dir, Python") {
		t.Errorf("incomplete config: %v", err)
	}
}

func TestSpawnFailureIsFinal(t *testing.T) {
	l := NewLocal(LocalConfig{PluginID: "me/p", Dir: t.TempDir(), Python: "/nonexistent/python", DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	for range 2 {
		_, err := l.Invoke(context.Background(), wire.AccessTool, wire.ActionInvokeTool, nil, InvokeContext{})
		if !errors.Is(err, ErrSpawn) || errors.Is(err, ErrCrashLoop) || !strings.Contains(err.Error(), "/nonexistent/python") {
			t.Fatalf("err %v", err)
		}
	}
	if st := l.Status(); st.State != StateFailed || st.Crashes != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestExitBeforeReady needs no SDK: /bin/sh refuses `-m main` and exits at once, which must
// fail the waiting request with its stderr, long before the start timeout.
func TestExitBeforeReady(t *testing.T) {
	l := NewLocal(LocalConfig{PluginID: "me/sh", Dir: t.TempDir(), Python: "/bin/sh", DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler), RestartBackoff: time.Hour})
	defer l.Close(context.Background())
	t0 := time.Now()
	_, err := l.Invoke(context.Background(), wire.AccessTool, wire.ActionInvokeTool, nil, InvokeContext{})
	e := asExit(t, err)
	if e.Ready || e.Stderr == "" || !strings.Contains(e.Status, "exit status") || time.Since(t0) > 5*time.Second {
		t.Fatalf("after %s: %v", time.Since(t0), err)
	}
	if st := l.Status(); st.State != StateRestarting || st.Crashes != 1 {
		t.Errorf("status %+v", st)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Invoke(context.Background(), wire.AccessTool, wire.ActionInvokeTool, nil, InvokeContext{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if st := l.Status(); st.State != StateStopped {
		t.Errorf("a closed runtime restarted: %+v", st)
	}
}

// fakePython writes an executable that stands in for the interpreter: it ignores its
// arguments and runs script.
func fakePython(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStdinBlocked: a plugin that beats but never reads its stdin holds the write of a large
// request for ever; the runtime must kill it rather than let every request wait behind it.
func TestStdinBlocked(t *testing.T) {
	beats := `while :; do printf '%s\n' '{"event":"heartbeat","session_id":null,"data":{}}'; sleep 0.1; done`
	l := NewLocal(LocalConfig{PluginID: "me/deaf", Dir: t.TempDir(), Python: fakePython(t, beats), DataDir: t.TempDir(),
		HeartbeatTimeout: time.Second, RestartBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	defer l.Close(context.Background())
	big, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", 4<<20)}) // far more than a pipe holds
	t0 := time.Now()
	_, err := l.Invoke(context.Background(), wire.AccessTool, wire.ActionInvokeTool, big, InvokeContext{})
	if !errors.Is(err, ErrStdinBlocked) || !errors.Is(err, wire.ErrPluginExited) || time.Since(t0) > 10*time.Second {
		t.Fatalf("after %s: %v", time.Since(t0), err)
	}
	t.Logf("after %s: %v", time.Since(t0).Round(time.Millisecond), err)
}

// TestSlogGateBoundsAFlood: a burst passes, then about slogLinesPerSecond per second, and the
// next line let through reports how many were left out.
func TestSlogGateBoundsAFlood(t *testing.T) {
	var g slogGate
	start := time.Unix(1000, 0)
	passed := 0
	for i := 0; i < 10000; i++ { // 10,000 lines within one instant
		if ok, _ := g.allow(start); ok {
			passed++
		}
	}
	if passed != slogBurst {
		t.Fatalf("%d lines passed in a burst, want %d", passed, slogBurst)
	}
	ok, dropped := g.allow(start.Add(time.Second))
	if !ok || dropped != 10000-slogBurst {
		t.Fatalf("after a second: ok %v, dropped %d, want %d", ok, dropped, 10000-slogBurst)
	}
	passed = 1
	for i := 0; i < 1000; i++ {
		if ok, _ := g.allow(start.Add(time.Second)); ok {
			passed++
		}
	}
	if passed != slogLinesPerSecond {
		t.Fatalf("%d lines passed in the next second, want %d", passed, slogLinesPerSecond)
	}
}
