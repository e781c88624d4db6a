package pyenv

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests install real packages from PyPI with a real Python 3.11 and uv. They need
// PLUGD_TEST_PYTHON311 (or python3.11 on PATH) and PLUGD_TEST_UV (scripts/test-deps.sh sets
// it); without them they fail, unless PLUGD_SKIP_PYTHON=1. One download cache is shared by
// the whole run so that each package is fetched once.
var (
	testPython string
	testUV     string
	testCache  string
)

func TestMain(m *testing.M) {
	if os.Getenv("PLUGD_SKIP_PYTHON") != "1" {
		testPython = os.Getenv("PLUGD_TEST_PYTHON311")
		if testPython == "" {
			testPython, _ = exec.LookPath("python3.11")
		}
		testUV = os.Getenv("PLUGD_TEST_UV")
	}
	dir, err := os.MkdirTemp("", "pyenv-test-cache-")
	if err != nil {
		panic(err)
	}
	testCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTools skips under PLUGD_SKIP_PYTHON=1 and fails when the tools are missing.
func needTools(t *testing.T) {
	t.Helper()
	if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
		t.Skip("PLUGD_SKIP_PYTHON=1")
	}
	if testPython == "" {
		t.Fatal("no Python 3.11: set PLUGD_TEST_PYTHON311 or put python3.11 on PATH (or PLUGD_SKIP_PYTHON=1)")
	}
	if testUV == "" {
		t.Fatal("PLUGD_TEST_UV is not set: run scripts/test.sh, or eval scripts/test-deps.sh (or PLUGD_SKIP_PYTHON=1)")
	}
}

// uvSettings and pipSettings are the settings of most tests: the test interpreter, the
// shared cache, and uv or pip.
func uvSettings() Settings {
	return Settings{Python: testPython, UV: testUV, Installer: InstallerUV, CacheDir: testCache}
}

func pipSettings() Settings {
	return Settings{Python: testPython, Installer: InstallerPip, CacheDir: testCache}
}

// plugin writes a plugin folder holding the given files.
func plugin(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []Progress
}

func (r *recorder) add(p Progress) { r.mu.Lock(); r.events = append(r.events, p); r.mu.Unlock() }

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

func (r *recorder) phases() []Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []Phase
	for _, e := range r.events {
		if len(ps) == 0 || ps[len(ps)-1] != e.Phase {
			ps = append(ps, e.Phase)
		}
	}
	return ps
}

// pyRun runs a script with an environment's interpreter and returns its output. Scripts
// that import dify_plugin end with os._exit: the SDK's gevent patching makes a normal
// interpreter exit print noise, or wait for the threads a test leaves blocked.
func pyRun(t *testing.T, env *Env, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Python, "-c", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

const sdk07 = "dify_plugin>=0.7,<0.8\n"

func TestEnsureRequirementsAndReuse(t *testing.T) {
	needTools(t)
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	b := NewBuilder(data, uvSettings())

	var first recorder
	start := time.Now()
	env, err := b.Ensure(ctx, plugin(t, map[string]string{"requirements.txt": sdk07}), first.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %v, %d progress events", time.Since(start), first.count())
	if got := pyRun(t, env, "import dify_plugin, importlib.metadata as m, os; print(m.version('dify_plugin'), flush=True); os._exit(0)"); !strings.HasPrefix(got, "0.7.") {
		t.Fatalf("dify_plugin version %q, want 0.7.x", got)
	}
	if !strings.HasPrefix(env.SDKVersion, "0.7.") || env.Spec != SpecRequirements || len(env.Fixes) != 0 {
		t.Errorf("env = %+v", env)
	}
	if want := []Phase{PhaseResolving, PhaseDownloading, PhaseInstalling, PhaseDone}; !slices.Equal(first.phases(), want) &&
		!slices.Equal(first.phases(), []Phase{PhaseResolving, PhaseInstalling, PhaseDone}) {
		t.Errorf("phases %v, want %v (downloading may be skipped with a warm cache)", first.phases(), want)
	}

	// Same dependencies, written differently, in another plugin folder: no installer runs.
	var second recorder
	other := plugin(t, map[string]string{"requirements.txt": "# the SDK\r\ndify_plugin>=0.7,<0.8   \r\n\r\n"})
	start = time.Now()
	again, err := b.Ensure(ctx, other, second.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cached Ensure: %v", time.Since(start))
	if again.Dir != env.Dir || second.count() != 0 || b.builds.Load() != 1 {
		t.Errorf("second Ensure: dir %s (want %s), %d events, %d builds", again.Dir, env.Dir, second.count(), b.builds.Load())
	}

	// A new Builder on the same folder (a restarted daemon) finds it too.
	b2 := NewBuilder(data, uvSettings())
	if again, err := b2.Ensure(ctx, other, second.add); err != nil || again.Dir != env.Dir || b2.builds.Load() != 0 {
		t.Errorf("restarted builder: %v, %v, %d builds", again, err, b2.builds.Load())
	}

	envs, err := b.List()
	if err != nil || len(envs) != 1 || envs[0].Key != env.Key || envs[0].SDKVersion != env.SDKVersion {
		t.Fatalf("List = %+v, %v", envs, err)
	}
	if err := b.Remove(ctx, env.Key); err != nil {
		t.Fatal(err)
	}
	if envs, err := b.List(); err != nil || len(envs) != 0 {
		t.Fatalf("List after Remove = %+v, %v", envs, err)
	}
	if err := b.Remove(ctx, env.Key); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestEnsurePyprojectWithLock(t *testing.T) {
	needTools(t)
	t.Parallel()
	// six is a dev dependency: it is locked but must not be installed.
	pyproject := func(version string) string {
		return "[project]\nname = \"lock-test\"\nversion = \"" + version + "\"\ndescription = \"test\"\n" +
			"requires-python = \">=3.11\"\ndependencies = [\"dify_plugin>=0.7,<0.8\"]\n\n" +
			"[dependency-groups]\ndev = [\"six\"]\n"
	}
	dir := plugin(t, map[string]string{"pyproject.toml": pyproject("0.1.0")})
	lock := exec.Command(testUV, "lock", "--quiet", "--python", testPython, "--no-config")
	lock.Dir = dir
	lock.Env = append(os.Environ(), "UV_CACHE_DIR="+filepath.Join(testCache, "uv"))
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("uv lock: %v\n%s", err, out)
	}
	lockBytes, _ := os.ReadFile(filepath.Join(dir, "uv.lock"))
	m := regexp.MustCompile(`name = "dify-plugin"\nversion = "([^"]+)"`).FindSubmatch(lockBytes)
	if m == nil {
		t.Fatalf("no dify-plugin in uv.lock:\n%s", lockBytes)
	}
	// A requirements.txt that disagrees with the lock loses to it.
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("dify_plugin==0.7.0\n"), 0o644)

	b := NewBuilder(t.TempDir(), uvSettings())
	env, err := b.Ensure(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.Spec != SpecLock || env.SDKVersion != string(m[1]) {
		t.Errorf("spec %s, SDK %s; want %s, %s from uv.lock", env.Spec, env.SDKVersion, SpecLock, m[1])
	}
	if got := pyRun(t, env, "import importlib.util as u; print(u.find_spec('six') is None)"); got != "True" {
		t.Errorf("dev dependency six is installed")
	}

	// The next version of the plugin, with the same dependencies, shares the environment.
	next := plugin(t, map[string]string{
		"pyproject.toml": pyproject("0.2.0"),
		"uv.lock": strings.Replace(string(lockBytes), "version = \"0.1.0\"\nsource = { virtual = \".\" }",
			"version = \"0.2.0\"\nsource = { virtual = \".\" }", 1),
	})
	if env2, err := b.Ensure(context.Background(), next, nil); err != nil || env2.Key != env.Key || b.builds.Load() != 1 {
		t.Errorf("next version: %v, %v, %d builds; want key %s, 1 build", env2, err, b.builds.Load(), env.Key)
	}
}

func TestEnsureUnresolvable(t *testing.T) {
	needTools(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Settings
	}{{"uv", uvSettings()}, {"pip", pipSettings()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewBuilder(t.TempDir(), tc.s)
			dir := plugin(t, map[string]string{"requirements.txt": "this-package-does-not-exist-plugd==1.0\n"})
			_, err := b.Ensure(context.Background(), dir, nil)
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want *BuildError", err)
			}
			tail := strings.Join(be.Tail, "\n")
			if be.Step != "install dependencies" || !strings.Contains(tail, "this-package-does-not-exist-plugd") || len(be.Tail) > tailLines {
				t.Errorf("step %q, cmd %v, tail:\n%s", be.Step, be.Cmd, tail)
			}
			t.Logf("error: %v", err)
			if envs, _ := b.List(); len(envs) != 0 {
				t.Errorf("failed build left %v", envs)
			}
			if left, _ := os.ReadDir(b.scratchDir()); len(left) != 0 {
				t.Errorf("failed build left scratch %v", left)
			}
		})
	}
}

func TestEnsureOfflineWheelhouse(t *testing.T) {
	needTools(t)
	t.Parallel()
	// Fill a wheelhouse once, with the network.
	wheels := t.TempDir()
	dl := exec.Command(testPython, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", wheels, "dify_plugin>=0.7,<0.8")
	dl.Env = append(os.Environ(), "PIP_CONFIG_FILE="+os.DevNull, "PIP_CACHE_DIR="+filepath.Join(testCache, "pip"))
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("pip download: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		s    Settings
	}{{"uv", uvSettings()}, {"pip", pipSettings()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.s
			s.Wheelhouse = wheels
			// Any use of the network fails: the index and the proxies point at a closed port,
			// and the download cache starts empty.
			s.IndexURL = "http://127.0.0.1:9/simple"
			s.HTTPProxy, s.HTTPSProxy = "http://127.0.0.1:9", "http://127.0.0.1:9"
			s.CacheDir = t.TempDir()
			b := NewBuilder(t.TempDir(), s)
			start := time.Now()
			env, err := b.Ensure(context.Background(), plugin(t, map[string]string{"requirements.txt": sdk07}), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("offline build with %s: %v", tc.name, time.Since(start))
			pyRun(t, env, "import dify_plugin, os; os._exit(0)")
		})
	}
}

func TestEnsureTimeoutKillsInstaller(t *testing.T) {
	needTools(t)
	t.Parallel()
	for _, tc := range []struct {
		name            string
		s               Settings
		cancelOnConnect bool // the caller gives up once the installer is waiting on the index
		want            error
	}{
		// The timeouts leave the installer time to start on a loaded machine; uv and pip
		// themselves wait 30 s and 15 s (with retries) before giving up on an index.
		{"settings timeout uv", Settings{Timeout: 10 * time.Second}, false, context.DeadlineExceeded},
		{"settings timeout pip", Settings{Timeout: 20 * time.Second, Installer: InstallerPip}, false, context.DeadlineExceeded},
		{"caller cancels", Settings{}, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// An index that accepts connections and never answers.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conns := make(chan net.Conn, 16)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if tc.cancelOnConnect {
						cancel()
					}
					conns <- c
				}
			}()
			s := tc.s
			s.Python, s.CacheDir = testPython, t.TempDir()
			if s.Installer == InstallerAuto {
				s.UV, s.Installer = testUV, InstallerUV
			}
			s.IndexURL = "http://" + ln.Addr().String() + "/simple"
			b := NewBuilder(t.TempDir(), s)
			_, err = b.Ensure(ctx, plugin(t, map[string]string{"requirements.txt": "six\n"}), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var be *BuildError
			if !tc.cancelOnConnect && (!errors.As(err, &be) || be.Step != "install dependencies") {
				t.Errorf("err = %#v, want a BuildError of the install step", err)
			}
			// The installer connected, and is killed: its connection closes.
			select {
			case c := <-conns:
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.Copy(io.Discard, c); err != nil {
					t.Errorf("installer still connected: %v", err)
				}
			case <-time.After(time.Second):
				t.Fatal("the installer never connected to the index")
			}
			// The abandoned build cleans up after itself.
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if left, _ := os.ReadDir(b.scratchDir()); len(left) == 0 {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("scratch folder not cleaned: %v", left)
				}
			}
		})
	}
}

func TestEnsureConcurrentBuildsOnce(t *testing.T) {
	needTools(t)
	t.Parallel()
	data := t.TempDir()
	// Two builders stand for two processes sharing the data folder.
	builders := []*Builder{NewBuilder(data, uvSettings()), NewBuilder(data, uvSettings())}
	const n = 8
	var wg sync.WaitGroup
	dirs := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		dir := plugin(t, map[string]string{"requirements.txt": "six==1.17.0\n"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, err := builders[i%2].Ensure(context.Background(), dir, nil)
			errs[i] = err
			if env != nil {
				dirs[i] = env.Dir
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("Ensure %d: %s, %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	if got := builders[0].builds.Load() + builders[1].builds.Load(); got != 1 {
		t.Errorf("%d builds, want 1", got)
	}
}

// TestOldSDKFixes builds environments pinned to early SDK releases that real official
// packages still pin (the agent strategy in testdata/vectors/official pins 0.0.1b75) and
// checks that each fix changes the behaviour it is for.
func TestOldSDKFixes(t *testing.T) {
	needTools(t)
	t.Parallel()
	promptEcho := `
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta
from dify_plugin.entities.model.message import AssistantPromptMessage, UserPromptMessage
from dify_plugin.entities.model.llm import LLMUsage
chunk = LLMResultChunk(model="m", prompt_messages=[UserPromptMessage(content="secret")],
    delta=LLMResultChunkDelta(index=0, message=AssistantPromptMessage(content="hi")))
assert chunk.prompt_messages == [], chunk.prompt_messages
assert "secret" not in chunk.model_dump_json()
bare = LLMResultChunk(model="m", delta=LLMResultChunkDelta(index=0, message=AssistantPromptMessage(content="hi")))
assert bare.prompt_messages == []
result = LLMResult(model="m", prompt_messages=[UserPromptMessage(content="secret")],
    message=AssistantPromptMessage(content="hi"), usage=LLMUsage.empty_usage())
assert result.prompt_messages == [] and result.to_llm_result_chunk().prompt_messages == []
print("ok", flush=True)
import os; os._exit(0)
`
	// Blank lines, then two requests larger than one read: the reader yields both and
	// writes nothing (an unfixed reader answers each blank line with an error event).
	stdinReader := `
import json, os, tempfile
req = lambda sid: json.dumps({"session_id": sid, "event": "request", "data": {"x": "y" * 200000}}).encode()
with tempfile.TemporaryFile() as f:
    f.write(b"\n\n  \n" + req("s1") + b"\n\n" + req("s2") + b"\n")
    f.seek(0)
    os.dup2(f.fileno(), 0)
from dify_plugin.core.server.stdio.request_reader import StdioRequestReader
stream = StdioRequestReader()._read_stream()
got = [next(stream).session_id, next(stream).session_id]
assert got == ["s1", "s2"], got
print("ok", flush=True)
os._exit(0)
`
	tokenCount := `
from dify_plugin.interfaces.model.ai_model import AIModel
assert "_plugd_fix_token_count" in AIModel._get_num_tokens_by_gpt2.__qualname__
assert AIModel._get_num_tokens_by_gpt2(None, "x" * 100000) == 100000
print("ok", flush=True)
import os; os._exit(0)
`
	for _, tc := range []struct {
		version string
		fixes   []string
		checks  []string
	}{
		{"0.0.1b75", []string{"no-prompt-echo", "stdin-reader"}, []string{promptEcho, stdinReader}},
		{"0.0.1b65", []string{"token-count-threads", "no-prompt-echo", "stdin-reader"}, []string{promptEcho, stdinReader, tokenCount}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			b := NewBuilder(t.TempDir(), uvSettings())
			start := time.Now()
			env, err := b.Ensure(context.Background(), plugin(t, map[string]string{"requirements.txt": "dify_plugin==" + tc.version + "\n"}), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("build: %v", time.Since(start))
			if env.SDKVersion != tc.version || !slices.Equal(env.Fixes, tc.fixes) {
				t.Fatalf("SDK %s, fixes %v; want %s, %v", env.SDKVersion, env.Fixes, tc.version, tc.fixes)
			}
			for i, check := range tc.checks {
				start := time.Now()
				if out := pyRun(t, env, check); out != "ok" {
					t.Errorf("check printed %q", out)
				}
				t.Logf("check %d: %v", i, time.Since(start))
			}
		})
	}
}

func TestEnsurePyprojectWithoutLock(t *testing.T) {
	needTools(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Settings
	}{{"uv", uvSettings()}, {"pip", pipSettings()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := plugin(t, map[string]string{"pyproject.toml": "[project]\nname = \"p\"\nversion = \"0.1.0\"\n" +
				"requires-python = \">=3.11\"\ndependencies = [\n  \"six==1.17.0\",\n]\n"})
			env, err := NewBuilder(t.TempDir(), tc.s).Ensure(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := pyRun(t, env, "import six; print(six.__version__)"); env.Spec != SpecPyproject || got != "1.17.0" {
				t.Errorf("spec %s, six %s", env.Spec, got)
			}
		})
	}
}

// TestInstallUV hides uv and lets the Builder install it from PyPI into the data folder.
func TestInstallUV(t *testing.T) {
	needTools(t)
	t.Parallel()
	if exec.Command(testPython, "-c", "import uv").Run() == nil {
		t.Skip("the test interpreter has the uv package")
	}
	noUV := func(name string) (string, error) {
		if name == "uv" {
			return "", exec.ErrNotFound
		}
		return exec.LookPath(name)
	}
	data := t.TempDir()
	s := Settings{Python: testPython, Installer: InstallerUV, InstallUV: true, CacheDir: testCache}
	b := NewBuilder(data, s)
	b.lookPath = noUV
	env, err := b.Ensure(context.Background(), plugin(t, map[string]string{"requirements.txt": "six==1.17.0\n"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "tools", "uv", "bin", "uv"); b.tc.uv != want {
		t.Errorf("uv = %s, want %s", b.tc.uv, want)
	}
	pyRun(t, env, "import six")
	// A second Builder finds the installed uv, and the environment, without installing.
	b2 := NewBuilder(data, s)
	b2.lookPath = noUV
	var rec recorder
	if _, err := b2.Ensure(context.Background(), plugin(t, map[string]string{"requirements.txt": "six==1.17.0\n"}), rec.add); err != nil || rec.count() != 0 {
		t.Errorf("second builder: %v, %d events", err, rec.count())
	}
}
