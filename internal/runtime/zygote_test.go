//go:build linux

package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/sandbox"
)

// parentPID reads the parent of pid from /proc.
func parentPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, errors.New("unreadable /proc stat")
	}
	return strconv.Atoi(string(f[1]))
}

// parentOf reads the parent pid of pid from /proc.
func parentOf(t testing.TB, pid int) int {
	t.Helper()
	ppid, err := parentPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// FuzzZygoteReply: no message of a zygote panics the parser, and an accepted one that names a
// process names a real pid (never 0 or 1, which kill and prlimit treat specially).
func FuzzZygoteReply(f *testing.F) {
	for _, s := range []string{`{"op":"ready","pid":12}`, `{"op":"spawned","id":1,"pid":1234}`, `{"op":"exit","pid":1234,"status":768}`,
		`{"op":"failed","id":0,"error":"preload: x"}`, `{"op":"spawned","pid":0}`, `{"op":"exit","pid":-1}`, `[]`, `{"op":7}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseZygoteReply(b)
		if err == nil && (r.Op == "spawned" || r.Op == "exit") && r.PID <= 1 {
			t.Fatalf("accepted %q with pid %d", b, r.PID)
		}
		_ = waitStatusText(syscall.WaitStatus(r.Status))
	})
}

// A forked plugin gets exactly the environment, working directory and .env handling of a
// spawned one, and its parent is the zygote, not the daemon.
func TestZygoteForkedPluginEnvironment(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox")
	cfg.Env = []string{"HTTPS_PROXY=http://proxy.invalid:3128"}
	zs := withZygotes(t, &cfg, "")
	if err := os.WriteFile(filepath.Join(cfg.Dir, ".env"), []byte("INSTALL_METHOD=remote\nREMOTE_INSTALL_KEY=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := start(t, cfg)
	items, err := callTool(t, testCtx(t, 60*time.Second), l, "environ", nil)
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
	var keys []string
	for k := range got.JSON.Environ {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"HEARTBEAT_INTERVAL", "HOME", "HTTPS_PROXY", "INSTALL_METHOD", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "TMPDIR"}
	if !slices.Equal(keys, want) {
		t.Errorf("forked plugin environment has %v, want exactly %v", keys, want)
	}
	if got.JSON.Environ["HOME"] != filepath.Join(cfg.DataDir, "home") || got.JSON.Environ["INSTALL_METHOD"] != "local" {
		t.Errorf("HOME %q INSTALL_METHOD %q", got.JSON.Environ["HOME"], got.JSON.Environ["INSTALL_METHOD"])
	}
	if got.JSON.Cwd != cfg.Dir {
		t.Errorf("cwd %s, want %s", got.JSON.Cwd, cfg.Dir)
	}
	zpids := zs.Running()
	if len(zpids) != 1 || got.JSON.PPID != zpids[0] {
		t.Errorf("plugin's parent is %d; zygotes %v: the plugin was not forked", got.JSON.PPID, zpids)
	}
	st := l.Status()
	if pg, err := syscall.Getpgid(st.PID); err != nil || pg != st.PID {
		t.Errorf("plugin %d is in process group %d (%v), want its own", st.PID, pg, err)
	}
	if st.RSS == 0 {
		t.Errorf("no RSS for the forked plugin")
	}
	if n, rss := zs.Usage(); n != 1 || rss == 0 {
		t.Errorf("zygote usage: %d running, %d bytes", n, rss)
	}
	b, _ := os.ReadFile(l.LogFile())
	if !strings.Contains(string(b), "forked from a zygote") {
		t.Errorf("plugin.log does not say the plugin was forked:\n%s", b)
	}
}

// The exit status of a forked plugin comes from the zygote, with its stderr.
func TestZygoteExitStatus(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	withZygotes(t, &cfg, "")
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	_, err := callTool(t, ctx, l, "crash", nil)
	e := asExit(t, err)
	if e.Status != "exit status 3" || !strings.Contains(e.Stderr, "crasher: exiting on purpose") {
		t.Fatalf("crash of a forked plugin: status %q stderr %q", e.Status, e.Stderr)
	}
	// Restarted after the back-off, from the same zygote.
	waitState(t, l, StateReady, 30*time.Second)
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// Stop signals the forked plugin's process group; the status says how it ended.
func TestZygoteStop(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	withZygotes(t, &cfg, "")
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := l.Status().PID
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin %d still exists after Stop: %v", pid, err)
	}
}

// A zygote that dies takes its children with it (PR_SET_PDEATHSIG); the runtime sees a crash,
// and the restart starts a new zygote.
func TestZygoteDeathKillsChildren(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	zs := withZygotes(t, &cfg, "")
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := l.Status().PID
	zpids := zs.Running()
	if len(zpids) != 1 {
		t.Fatalf("zygotes %v", zpids)
	}
	syscall.Kill(zpids[0], syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d outlived its zygote", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := waitState(t, l, StateReady, 30*time.Second)
	if st.PID == pid || len(zs.Running()) != 1 || zs.Running()[0] == zpids[0] {
		t.Fatalf("not restarted from a new zygote: %+v, zygotes %v", st, zs.Running())
	}
}

// A zygote that cannot preload falls back to the plain spawn.
func TestZygoteFallback(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "crasher")
	zs := withZygotes(t, &cfg, "no_such_module_plugd")
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ppid := parentOf(t, l.Status().PID); ppid != os.Getpid() {
		t.Fatalf("plugin's parent is %d, want the daemon %d (plain spawn)", ppid, os.Getpid())
	}
	if len(zs.Running()) != 0 {
		t.Fatalf("a zygote that failed its preload runs: %v", zs.Running())
	}
}

// The memory limit applies to a forked plugin (before it runs any plugin code).
func TestZygoteMemoryLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox") // resource.memory: 256 MiB
	withZygotes(t, &cfg, "")
	l := start(t, cfg)
	ctx := testCtx(t, 60*time.Second)
	if _, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 64}); err != nil {
		t.Fatalf("64 MiB under a 256 MiB limit: %v", err)
	}
	_, err := callTool(t, ctx, l, "allocate", map[string]any{"mib": 1024})
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("1 GiB under a 256 MiB limit: %v", err)
	}
}

// With isolation in force as root (mode uid), a plugin is forked from a confined zygote and
// runs confined as a plain start would: its own uid (not the zygote's), no capability,
// no-new-privileges, a mount namespace of its own, the zygote's PID namespace. In mode
// userns, zygotes are not used.
func TestZygoteConfinedFork(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sandbox")
	zs := withZygotes(t, &cfg, "")
	tmp := t.TempDir()
	uids := sandbox.NewAllocator(filepath.Join(tmp, "uids.json"), 300000, 1000)
	iso, how := ChooseIsolation("required", Isolation{
		UIDs:   uids,
		Limits: sandbox.Limits{Processes: 64, OpenFiles: 256},
		Root:   filepath.Join(tmp, "root"),
	})
	if iso.Refused != nil {
		t.Skipf("no sandbox here: %s", how)
	}
	cfg.Isolation = iso
	l := start(t, cfg)
	if err := l.Start(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(l.LogFile())
	if iso.Mode != sandbox.ModeUID {
		if n, _ := zs.Usage(); n != 0 || strings.Contains(string(b), "forked from a zygote") {
			t.Fatalf("a zygote forked a plugin isolated in mode %s:\n%s", iso.Mode, b)
		}
		return
	}
	if !strings.Contains(string(b), "forked from a zygote") || !strings.Contains(string(b), "isolation: uid") {
		t.Fatalf("the plugin was not forked from a confined zygote:\n%s", b)
	}
	pid := l.Status().PID
	zpids := zs.Running()
	if len(zpids) != 1 || parentOf(t, pid) != zpids[0] {
		t.Fatalf("plugin %d: parent %d, zygotes %v", pid, parentOf(t, pid), zpids)
	}
	want, _ := uids.UID(cfg.PluginID)
	status := procStatus(t, pid)
	zstatus := procStatus(t, zpids[0])
	if status["Uid"][0] != strconv.Itoa(want) || status["Gid"][0] != strconv.Itoa(want) {
		t.Errorf("plugin runs as uid %v gid %v, want %d", status["Uid"], status["Gid"], want)
	}
	if zstatus["Uid"][0] == status["Uid"][0] || zstatus["Uid"][0] == "0" {
		t.Errorf("zygote uid %v, plugin uid %v: want different, unprivileged ones", zstatus["Uid"], status["Uid"])
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if status[k][0] != "0000000000000000" {
			t.Errorf("plugin %s = %s, want none", k, status[k][0])
		}
	}
	if status["NoNewPrivs"][0] != "1" {
		t.Errorf("plugin NoNewPrivs %v", status["NoNewPrivs"])
	}
	if len(status["NSpid"]) != 2 {
		t.Errorf("plugin NSpid %v: want a pid in the zygote's PID namespace", status["NSpid"])
	}
	ns := func(pid int, kind string) string {
		s, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if ns(pid, "mnt") == ns(zpids[0], "mnt") || ns(pid, "mnt") == ns(os.Getpid(), "mnt") {
		t.Errorf("the plugin shares a mount namespace with its zygote or the daemon")
	}
	if ns(pid, "user") == ns(os.Getpid(), "user") {
		t.Errorf("the plugin is in the daemon's user namespace")
	}
	// Its working folder is its code, and its HOME is writable: the plugin works.
	items, err := callTool(t, testCtx(t, 60*time.Second), l, "environ", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		t.Fatal("no answer")
	}
}

// procStatus reads /proc/<pid>/status as fields per key.
func procStatus(t testing.TB, pid int) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.Fields(v)
		}
	}
	return m
}

// A child of a confined zygote that cannot confine itself exits before it says so, and the
// plugin starts the plain sandboxed way: never unconfined. Here the plugin's uid (kept in the
// uid table from before) lies outside the range the zygote's user namespace maps, so the
// child's setresuid fails.
func TestZygoteConfinedFallback(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("confined zygotes need root (mode uid)")
	}
	cfg := testConfig(t, "sandbox")
	zs := withZygotes(t, &cfg, "")
	tmp := t.TempDir()
	table := filepath.Join(tmp, "uids.json")
	if err := os.WriteFile(table, []byte(`{"`+cfg.PluginID+`": 299000}`), 0o600); err != nil {
		t.Fatal(err)
	}
	iso, how := ChooseIsolation("uid", Isolation{
		UIDs:   sandbox.NewAllocator(table, 300000, 1000),
		Limits: sandbox.Limits{Processes: 64, OpenFiles: 256},
		Root:   filepath.Join(tmp, "root"),
	})
	if iso.Refused != nil {
		t.Skipf("no sandbox here: %s", how)
	}
	cfg.Isolation = iso
	l := start(t, cfg)
	if err := l.Start(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(l.LogFile())
	if strings.Contains(string(b), "forked from a zygote") || !strings.Contains(string(b), "isolation: uid 299000") {
		t.Fatalf("want a plain sandboxed start after the failed fork:\n%s", b)
	}
	if n, _ := zs.Usage(); n != 1 {
		t.Errorf("the confined zygote does not run (%d): only its child failed", n)
	}
	if st := procStatus(t, l.Status().PID); st["Uid"][0] != "299000" || st["CapEff"][0] != "0000000000000000" {
		t.Errorf("the plain start runs as %v with CapEff %v", st["Uid"], st["CapEff"])
	}
}
