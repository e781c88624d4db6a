package pyenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// toolchain is the interpreter and installer every build of a Builder uses.
type toolchain struct {
	python  string // the interpreter's real path (symlinks and pyenv shims resolved)
	version string // its sys.version, which tells apart two builds at one path
	info    [3]int // major, minor, micro
	uv      string // the uv binary; "" means venv + pip
	pip     string // the interpreter's own pip version, "" if it has none
}

// pipCanTarget reports whether the interpreter's pip can install into another environment
// (`pip --python`, pip 22.3 and later). Environments then need no pip of their own, which
// spares the slowest part of `python -m venv` (seconds to tens of seconds) on every build.
func (tc *toolchain) pipCanTarget() bool { return !versionBelow(tc.pip, "22.3") && tc.pip != "" }

// probeScript prints what a Builder needs to know about an interpreter, and the uv binary
// of its uv package if it has one, in a single start of the interpreter.
const probeScript = `import json, sys
uv = pip = ""
try:
    import uv as m
    uv = m.find_uv_bin()
except Exception:
    pass
try:
    from importlib.metadata import version
    pip = version("pip")
except Exception:
    pass
print(json.dumps({"executable": sys.executable, "version": sys.version, "info": list(sys.version_info[:3]), "uv": uv, "pip": pip}))`

type probe struct {
	Executable string `json:"executable"`
	Version    string `json:"version"`
	Info       []int  `json:"info"`
	UV         string `json:"uv"`
	Pip        string `json:"pip"`
}

// toolchain finds the interpreter and uv once per Builder. A failure is not remembered, so
// installing Python or uv later needs no restart.
func (b *Builder) toolchain(ctx context.Context, emit func(Progress)) (*toolchain, error) {
	b.tcMu.Lock()
	defer b.tcMu.Unlock()
	if b.tc != nil {
		return b.tc, nil
	}
	p, err := b.findPython(ctx)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(p.Executable)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoPython, p.Executable, err)
	}
	tc := &toolchain{python: real, version: p.Version, info: [3]int{p.Info[0], p.Info[1], p.Info[2]}, pip: p.Pip}
	if b.settings.Installer != InstallerPip {
		tc.uv, err = b.findUV(ctx, tc, p.UV, emit)
		if err != nil {
			return nil, err
		}
	}
	b.tc = tc
	return tc, nil
}

func (b *Builder) findPython(ctx context.Context) (*probe, error) {
	candidates := []string{"python3.12", "python3.11", "python3"}
	if b.settings.Python != "" {
		candidates = []string{b.settings.Python}
	}
	var problems []string
	for _, c := range candidates {
		path, err := b.lookPath(c)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		p, err := b.probe(ctx, path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		if p.Info[0] != 3 || p.Info[1] < 11 {
			problems = append(problems, fmt.Sprintf("%s is Python %d.%d, dify_plugin needs 3.11 or newer", path, p.Info[0], p.Info[1]))
			continue
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoPython, strings.Join(problems, "; "))
}

func (b *Builder) probe(ctx context.Context, python string) (*probe, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", probeScript)
	cmd.Env = b.installerEnv()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("%w: %s", err, lastLine(string(ee.Stderr)))
		}
		return nil, err
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil || p.Executable == "" || len(p.Info) != 3 {
		return nil, fmt.Errorf("unexpected answer %q", strings.TrimSpace(string(out)))
	}
	return &p, nil
}

// findUV looks for uv in the order documented on Settings.UV, then installs it when
// allowed. Without it, InstallerAuto falls back to pip and InstallerUV fails.
func (b *Builder) findUV(ctx context.Context, tc *toolchain, fromPython string, emit func(Progress)) (string, error) {
	if b.settings.UV != "" {
		path, err := b.lookPath(b.settings.UV)
		if err != nil {
			return "", fmt.Errorf("%w: UV_PATH %s: %w", ErrNoUV, b.settings.UV, err)
		}
		return path, nil
	}
	if path, err := b.lookPath("uv"); err == nil {
		return path, nil
	}
	if installed := b.toolsUV(); fileExists(installed) {
		return installed, nil
	}
	if fromPython != "" && fileExists(fromPython) {
		return fromPython, nil
	}
	if b.settings.InstallUV {
		path, err := b.installUV(ctx, tc, emit)
		if err == nil {
			return path, nil
		}
		if b.settings.Installer == InstallerUV {
			return "", err
		}
		emit(Progress{Phase: PhaseResolving, Line: "could not install uv, using pip: " + err.Error()})
		return "", nil
	}
	if b.settings.Installer == InstallerUV {
		return "", ErrNoUV
	}
	return "", nil
}

func (b *Builder) toolsUV() string { return filepath.Join(b.dataDir, "tools", "uv", "bin", "uv") }

// installUV installs uv from the configured index (or wheelhouse) into <dataDir>/tools/uv
// with `pip install --target`, which needs no virtual environment and leaves the
// interpreter's own site-packages alone.
func (b *Builder) installUV(ctx context.Context, tc *toolchain, emit func(Progress)) (string, error) {
	unlock, err := lockPath(ctx, filepath.Join(b.dataDir, "locks", "tools-uv.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	target := filepath.Dir(filepath.Dir(b.toolsUV()))
	if fileExists(b.toolsUV()) {
		return b.toolsUV(), nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("pyenv: install uv: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), ".uv-")
	if err != nil {
		return "", fmt.Errorf("pyenv: install uv: %w", err)
	}
	defer os.RemoveAll(tmp)
	argv := append([]string{tc.python, "-m", "pip", "install", "--target", tmp}, b.sourceArgs()...)
	argv = append(argv, "uv")
	ctx, cancel := context.WithTimeout(ctx, b.timeout())
	defer cancel()
	if err := b.run(ctx, "", command{step: "install uv", argv: argv, dir: tmp, phase: PhaseResolving}, emit); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("pyenv: install uv: %w", err)
	}
	return b.toolsUV(), nil
}

// sourceArgs are the index options shared by pip and uv: a wheelhouse switches the
// network off entirely; otherwise the configured indexes are used.
func (b *Builder) sourceArgs() []string {
	s := b.settings
	if s.Wheelhouse != "" {
		abs, _ := filepath.Abs(s.Wheelhouse)
		return []string{"--no-index", "--find-links", abs}
	}
	var args []string
	if s.IndexURL != "" {
		args = append(args, "--index-url", s.IndexURL)
	}
	if s.ExtraIndexURL != "" {
		args = append(args, "--extra-index-url", s.ExtraIndexURL)
	}
	return args
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
