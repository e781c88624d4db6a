package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Phase is the stage of a build reported by Progress. Phases only move forward.
type Phase string

const (
	PhaseResolving   Phase = "resolving"   // creating the environment, resolving versions
	PhaseDownloading Phase = "downloading" // fetching packages
	PhaseInstalling  Phase = "installing"  // installing, fixing old SDKs, verifying
	PhaseDone        Phase = "done"        // the environment is ready
)

func (p Phase) rank() int {
	return slices.Index([]Phase{PhaseResolving, PhaseDownloading, PhaseInstalling, PhaseDone}, p)
}

func later(a, b Phase) Phase {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Progress is one event of a build: a line of installer output (or a note of ours, or the
// command about to run, prefixed "$ ") and the phase the build is in.
type Progress struct {
	Key   string
	Phase Phase
	Line  string
}

// Env is a ready environment.
type Env struct {
	Key        string
	Dir        string    // <dataDir>/envs/<Key>
	Python     string    // the interpreter to start plugins with: Dir/bin/python
	Spec       Spec      // the dependency file it was built from
	SDKVersion string    // installed dify_plugin version, "" if none
	Fixes      []string  // old-SDK fixes applied (see issue 3, item 6)
	Created    time.Time // when the build finished
}

// markerFile is written into an environment last, before it is moved into place, and holds
// what List and Ensure report about it.
const markerFile = "plugd-env.json"

type marker struct {
	Key        string    `json:"key"`
	Spec       Spec      `json:"spec"`
	SDKVersion string    `json:"sdk_version,omitempty"`
	Fixes      []string  `json:"fixes,omitempty"`
	Python     string    `json:"base_python"`
	Installer  string    `json:"installer"`
	Created    time.Time `json:"created"`
}

// Builder builds and caches plugin environments under one data folder. Environments are
// content-addressed (see envKey), so it never rebuilds what it has, and it builds each
// missing one once however many callers ask for it at the same time: in-process through
// shared flights, across processes through a lock file per key. Safe for concurrent use.
type Builder struct {
	dataDir  string
	cacheDir string
	caBundle string
	settings Settings

	tcMu sync.Mutex
	tc   *toolchain

	mu      sync.Mutex
	flights map[string]*flight

	lookPath func(string) (string, error) // exec.LookPath; tests hide programs with it
	builds   atomic.Int64                 // builds actually run, for tests
}

// flight is one build in progress, shared by every Ensure waiting for its key. It runs on
// its own context so that the caller who started it can leave without failing the others;
// it is cancelled when the last waiter leaves.
type flight struct {
	done    chan struct{}
	cancel  context.CancelFunc
	env     *Env
	err     error
	waiters int
	subs    map[int]func(Progress)
	nextSub int
}

// NewBuilder returns a Builder that keeps environments, locks, caches and tools under dataDir.
func NewBuilder(dataDir string, s Settings) *Builder {
	cache := s.CacheDir
	if cache == "" {
		cache = filepath.Join(dataDir, "cache")
	}
	ca := s.CABundle
	if ca == "" {
		ca = systemCABundle()
	}
	return &Builder{dataDir: dataDir, cacheDir: cache, caBundle: ca, settings: s, flights: map[string]*flight{},
		lookPath: exec.LookPath}
}

func (b *Builder) envsDir() string          { return filepath.Join(b.dataDir, "envs") }
func (b *Builder) envDir(key string) string { return filepath.Join(b.envsDir(), key) }
func (b *Builder) scratchDir() string       { return filepath.Join(b.envsDir(), ".tmp") }
func (b *Builder) lockFile(key string) string {
	return filepath.Join(b.dataDir, "locks", "env-"+key+".lock")
}

func (b *Builder) timeout() time.Duration {
	if b.settings.Timeout > 0 {
		return b.settings.Timeout
	}
	return DefaultTimeout
}

// Ensure returns the environment for the plugin in pluginDir, building it if no plugin with
// the same dependencies had one. An existing environment costs a few file reads and, once
// per Builder, one start of the interpreter to identify it; it reports no progress.
// progress, which may be nil, receives the events of the build this call waits for (also
// when another call started it); it is called from one goroutine at a time and should not
// block. The build runs under Settings.Timeout, not ctx: it goes on while any caller still
// waits for it and is killed when the last one gives up. Build failures are *BuildError.
func (b *Builder) Ensure(ctx context.Context, pluginDir string, progress func(Progress)) (*Env, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	p, err := b.plan(ctx, pluginDir, progress)
	if err != nil {
		return nil, err
	}
	if env, err := b.load(p.key); err == nil {
		b.touch(p.key)
		return env, nil
	}

	b.mu.Lock()
	f := b.flights[p.key]
	if f == nil {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout())
		f = &flight{done: make(chan struct{}), cancel: cancel, subs: map[int]func(Progress){}}
		b.flights[p.key] = f
		go b.fly(bctx, p, f)
	}
	f.waiters++
	id := f.nextSub
	f.nextSub++
	f.subs[id] = progress
	b.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		env := *f.env
		env.Fixes = slices.Clone(env.Fixes)
		b.touch(p.key)
		return &env, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(f.subs, id)
		if f.waiters--; f.waiters == 0 {
			f.cancel()
			if b.flights[p.key] == f {
				delete(b.flights, p.key) // a newcomer starts afresh instead of joining a dying build
			}
		}
		b.mu.Unlock()
		return nil, fmt.Errorf("pyenv: ensure %s: %w", pluginDir, ctx.Err())
	}
}

func (b *Builder) fly(ctx context.Context, p *plan, f *flight) {
	cur := PhaseResolving
	emit := func(ev Progress) {
		ev.Key = p.key
		ev.Phase = later(cur, ev.Phase)
		cur = ev.Phase
		b.mu.Lock()
		subs := make([]func(Progress), 0, len(f.subs))
		for _, s := range f.subs {
			subs = append(subs, s)
		}
		b.mu.Unlock()
		for _, s := range subs {
			s(ev)
		}
	}
	env, err := b.build(ctx, p, emit)
	f.cancel()
	b.mu.Lock()
	f.env, f.err = env, err
	if b.flights[p.key] == f {
		delete(b.flights, p.key)
	}
	b.mu.Unlock()
	close(f.done)
}

// plan finds the toolchain, picks the dependency file and computes the key.
func (b *Builder) plan(ctx context.Context, pluginDir string, progress func(Progress)) (*plan, error) {
	dir, err := filepath.Abs(pluginDir)
	if err != nil {
		return nil, fmt.Errorf("pyenv: %w", err)
	}
	tc, err := b.toolchain(ctx, progress)
	if err != nil {
		return nil, err
	}
	spec, err := chooseSpec(dir, tc, b.settings)
	if err != nil {
		return nil, err
	}
	key, err := envKey(dir, spec, tc, b.settings)
	if err != nil {
		return nil, err
	}
	return &plan{key: key, pluginDir: dir, spec: spec, tc: tc}, nil
}

// load returns the finished environment for key, or an error if there is none. An
// environment whose interpreter link is broken (the base Python was removed) counts as
// none and is rebuilt.
func (b *Builder) load(key string) (*Env, error) {
	dir := b.envDir(key)
	raw, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(raw, &m); err != nil || m.Key != key {
		return nil, fmt.Errorf("pyenv: bad marker in %s", dir)
	}
	python := filepath.Join(dir, "bin", "python")
	if _, err := os.Stat(python); err != nil {
		return nil, err
	}
	return &Env{Key: key, Dir: dir, Python: python, Spec: m.Spec, SDKVersion: m.SDKVersion,
		Fixes: m.Fixes, Created: m.Created}, nil
}

// build makes the environment for p under the key's lock file, in a scratch folder that is
// renamed into place when complete, so that an environment folder that exists is whole.
func (b *Builder) build(ctx context.Context, p *plan, emit func(Progress)) (*Env, error) {
	unlock, err := lockPath(ctx, b.lockFile(p.key))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if env, err := b.load(p.key); err == nil {
		return env, nil // another process built it while we waited
	}
	b.builds.Add(1)

	// Leftovers of a build that crashed, or of an environment that was broken.
	stale, _ := filepath.Glob(filepath.Join(b.scratchDir(), p.key+"-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	if err := os.RemoveAll(b.envDir(p.key)); err != nil {
		return nil, fmt.Errorf("pyenv: remove broken environment: %w", err)
	}
	if err := os.MkdirAll(b.scratchDir(), 0o755); err != nil {
		return nil, fmt.Errorf("pyenv: %w", err)
	}
	work, err := os.MkdirTemp(b.scratchDir(), p.key+"-")
	if err != nil {
		return nil, fmt.Errorf("pyenv: %w", err)
	}
	defer os.RemoveAll(work)
	venv := filepath.Join(work, "venv")
	final := b.envDir(p.key)

	steps, err := b.installSteps(p, work, venv, emit)
	if err != nil {
		return nil, err
	}
	for _, c := range steps {
		if err := b.run(ctx, p.key, c, emit); err != nil {
			return nil, err
		}
	}

	site := filepath.Join(venv, "lib", fmt.Sprintf("python%d.%d", p.tc.info[0], p.tc.info[1]), "site-packages")
	sdk := installedSDKVersion(site)
	note := func(line string) { emit(Progress{Phase: PhaseInstalling, Line: line}) }
	fixes, modules, err := applyOldSDKFixes(site, sdk, note)
	if err != nil {
		return nil, &BuildError{Key: p.key, Step: "fix old SDK", Err: err}
	}
	if sdk != "" {
		// Importing the SDK proves the environment can start a plugin and warms its
		// bytecode, and importing the fixed modules proves the fixes load. os._exit skips
		// the interpreter's finalisation, where gevent's patched locks print noise.
		script := "import importlib, os; [importlib.import_module(m) for m in " +
			pyList(append([]string{"dify_plugin"}, modules...)) + "]; os._exit(0)"
		verify := command{step: "verify dify_plugin import", argv: []string{filepath.Join(venv, "bin", "python"), "-c", script},
			dir: work, phase: PhaseInstalling}
		if err := b.run(ctx, p.key, verify, emit); err != nil {
			return nil, err
		}
	}

	installer := "uv"
	if p.tc.uv == "" {
		installer = "pip"
	}
	m := marker{Key: p.key, Spec: p.spec, SDKVersion: sdk, Fixes: fixes, Python: p.tc.python,
		Installer: installer, Created: time.Now().UTC().Truncate(time.Second)}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(venv, markerFile), raw, 0o644); err != nil {
		return nil, fmt.Errorf("pyenv: %w", err)
	}
	if err := relocate(venv, final); err != nil {
		return nil, &BuildError{Key: p.key, Step: "relocate environment", Err: err}
	}
	if err := os.Rename(venv, final); err != nil {
		return nil, &BuildError{Key: p.key, Step: "move environment into place", Err: err}
	}
	env, err := b.load(p.key)
	if err != nil {
		return nil, &BuildError{Key: p.key, Step: "check environment", Err: err}
	}
	emit(Progress{Phase: PhaseDone, Line: fmt.Sprintf("environment ready: %s", final)})
	return env, nil
}

// installSteps returns the commands that create the environment in venv and install the
// plugin's dependencies into it.
func (b *Builder) installSteps(p *plan, work, venv string, emit func(Progress)) ([]command, error) {
	tc := p.tc
	python := filepath.Join(venv, "bin", "python")
	var steps []command
	var install []string // the installer command up to its requirement arguments
	if tc.uv != "" {
		steps = append(steps, command{step: "create environment", argv: []string{tc.uv, "venv", "--quiet", "--python", tc.python, venv}, dir: work})
		install = []string{tc.uv, "pip", "install", "--python", python, "--compile-bytecode"}
	} else if tc.pipCanTarget() {
		steps = append(steps, command{step: "create environment", argv: []string{tc.python, "-m", "venv", "--without-pip", venv}, dir: work})
		install = []string{tc.python, "-m", "pip", "--python", python, "install", "--progress-bar", "off"}
	} else {
		steps = append(steps, command{step: "create environment", argv: []string{tc.python, "-m", "venv", venv}, dir: work})
		install = []string{python, "-m", "pip", "install", "--progress-bar", "off"}
	}
	install = append(install, b.sourceArgs()...)
	if tc.uv != "" && b.settings.Wheelhouse != "" {
		install = append(install, "--offline")
	}

	dir := p.pluginDir
	switch p.spec {
	case SpecRequirements:
		install = append(install, "-r", filepath.Join(dir, "requirements.txt"))
	case SpecLock:
		// uv export reads only the lock (--frozen), so it works offline; the pinned list
		// it writes is then installed like any requirements file, from whatever index or
		// wheelhouse is configured. Hashes are kept as a check against a tampered mirror,
		// except for a wheelhouse, which may hold wheels built locally from sdists.
		proj := filepath.Join(work, "project")
		if err := copyFiles(dir, proj, "pyproject.toml", "uv.lock"); err != nil {
			return nil, err
		}
		pinned := filepath.Join(work, "pinned.txt")
		export := []string{tc.uv, "export", "--quiet", "--frozen", "--no-dev", "--no-emit-project",
			"--format", "requirements-txt", "--project", proj, "-o", pinned}
		if b.settings.Wheelhouse != "" {
			export = append(export, "--no-hashes")
		}
		steps = append(steps, command{step: "export uv.lock", argv: export, dir: proj})
		install = append(install, "-r", pinned)
	case SpecPyproject:
		if tc.uv != "" {
			install = append(install, "-r", filepath.Join(dir, "pyproject.toml"))
			break
		}
		if fileExists(filepath.Join(dir, "uv.lock")) {
			emit(Progress{Phase: PhaseResolving, Line: "uv not available: uv.lock ignored, pyproject.toml dependencies resolved afresh"})
		}
		// pip cannot read dependencies from a pyproject.toml that is not a buildable
		// package, so the interpreter's tomllib lists them for it.
		reqs := filepath.Join(work, "pyproject-requirements.txt")
		script := "import sys, tomllib; d = tomllib.load(open(sys.argv[1], 'rb')); " +
			"open(sys.argv[2], 'w').write(''.join(r + '\\n' for r in d.get('project', {}).get('dependencies', [])))"
		steps = append(steps, command{step: "read pyproject.toml", argv: []string{tc.python, "-c", script,
			filepath.Join(dir, "pyproject.toml"), reqs}, dir: work})
		install = append(install, "-r", reqs)
	}
	install = append(install, b.settings.ExtraArgs...)
	steps = append(steps, command{step: "install dependencies", argv: install, dir: dir})
	return steps, nil
}

// relocate rewrites the scratch path to the final one in the environment's scripts and
// pyvenv.cfg. Python finds its prefix from where bin/python is, so nothing else in a venv
// depends on its path; scripts' #! lines and activate files do.
func relocate(from, to string) error {
	files, _ := filepath.Glob(filepath.Join(from, "bin", "*"))
	files = append(files, filepath.Join(from, "pyvenv.cfg"))
	old, repl := []byte(from), []byte(to)
	for _, f := range files {
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, old) || bytes.IndexByte(b, 0) >= 0 {
			continue
		}
		if err := replaceFile(f, bytes.ReplaceAll(b, old, repl)); err != nil {
			return err
		}
	}
	return nil
}

func copyFiles(from, to string, names ...string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("pyenv: %w", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			return fmt.Errorf("pyenv: %w", err)
		}
		if err := os.WriteFile(filepath.Join(to, n), b, 0o644); err != nil {
			return fmt.Errorf("pyenv: %w", err)
		}
	}
	return nil
}

func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

var keyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// List returns the finished environments, for garbage collection (see Collect).
func (b *Builder) List() ([]Env, error) {
	entries, err := os.ReadDir(b.envsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pyenv: list: %w", err)
	}
	var envs []Env
	for _, e := range entries {
		if !e.IsDir() || !keyRE.MatchString(e.Name()) {
			continue
		}
		if env, err := b.load(e.Name()); err == nil {
			envs = append(envs, *env)
		}
	}
	return envs, nil
}

// Remove deletes the environment key; removing one that does not exist is not an error.
// It waits for a build of the same key to finish. The caller must know that no plugin
// runs from it; Collect checks that for unused environments.
func (b *Builder) Remove(ctx context.Context, key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("pyenv: remove: invalid key %q", key)
	}
	lock := b.lockFile(key)
	unlock, err := lockPath(ctx, lock)
	if err != nil {
		return err
	}
	defer unlock()
	defer os.Remove(lock)
	if err := os.MkdirAll(b.scratchDir(), 0o755); err != nil {
		return fmt.Errorf("pyenv: remove: %w", err)
	}
	// Renaming first makes the environment vanish at once for other readers; deleting
	// thousands of files then happens out of sight.
	trash, err := os.MkdirTemp(b.scratchDir(), key+"-")
	if err != nil {
		return fmt.Errorf("pyenv: remove: %w", err)
	}
	defer os.RemoveAll(trash)
	err = os.Rename(b.envDir(key), filepath.Join(trash, "env"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pyenv: remove: %w", err)
	}
	return nil
}
