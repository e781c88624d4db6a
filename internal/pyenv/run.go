package pyenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// command is one step of a build that runs a program.
type command struct {
	step  string // for BuildError.Step, e.g. "install dependencies"
	argv  []string
	dir   string
	phase Phase // the phase its output starts in
}

// run runs c with the installer environment in its own process group, so that a deadline
// kills pip's or uv's children too (build backends, compilers), and reports every output
// line to emit. On failure the error is a *BuildError with the end of the output.
func (b *Builder) run(ctx context.Context, key string, c command, emit func(Progress)) error {
	shown := redactArgs(c.argv)
	emit(Progress{Key: key, Phase: c.phase, Line: "$ " + strings.Join(shown, " ")})
	var tail []string
	phase := c.phase
	out := &lineWriter{line: func(l string) {
		if len(tail) == tailLines {
			tail = append(tail[:0], tail[1:]...)
		}
		tail = append(tail, l)
		phase = later(phase, phaseOf(l))
		emit(Progress{Key: key, Phase: phase, Line: l})
	}}
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = b.installerEnv()
	cmd.Stdout, cmd.Stderr = out, out // one writer: exec then calls it from one goroutine
	cmd.SysProcAttr = installerProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out.flush()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	}
	return &BuildError{Key: key, Step: c.step, Cmd: shown, Tail: tail, Err: err}
}

// installerEnv is the whole environment of pip and uv: an allow-list, so that the daemon's
// own secrets (database passwords, API keys) never reach an installer or a package's build
// script. User and site configuration files are switched off as well, because everything
// that changes what gets installed must be in Settings, and so in the environment key.
func (b *Builder) installerEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	env = append(env,
		"UV_CACHE_DIR="+filepath.Join(b.cacheDir, "uv"),
		"UV_NO_CONFIG=1",
		"UV_PYTHON_DOWNLOADS=never",
		"PIP_CACHE_DIR="+filepath.Join(b.cacheDir, "pip"),
		"PIP_CONFIG_FILE="+os.DevNull,
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PYTHONNOUSERSITE=1",
	)
	s := b.settings
	for _, kv := range [][2]string{
		{"HTTP_PROXY", s.HTTPProxy}, {"HTTPS_PROXY", s.HTTPSProxy}, {"NO_PROXY", s.NoProxy},
	} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1], strings.ToLower(kv[0])+"="+kv[1])
		}
	}
	if b.caBundle != "" {
		env = append(env, "SSL_CERT_FILE="+b.caBundle, "PIP_CERT="+b.caBundle, "REQUESTS_CA_BUNDLE="+b.caBundle)
	}
	return env
}

// phaseOf recognises the lines with which uv and pip announce their stages; other lines
// give "", which keeps the current phase.
func phaseOf(line string) Phase {
	l := strings.TrimSpace(line)
	for _, p := range []struct {
		prefix string
		phase  Phase
	}{
		{"Downloading", PhaseDownloading}, {"Downloaded", PhaseDownloading}, {"Using cached", PhaseDownloading},
		{"Prepared", PhaseInstalling}, {"Installing", PhaseInstalling}, {"Installed", PhaseInstalling},
		{"Successfully installed", PhaseInstalling}, {"Bytecode compiled", PhaseInstalling},
	} {
		if strings.HasPrefix(l, p.prefix) {
			return p.phase
		}
	}
	return ""
}

// redactArgs hides index credentials in a command line.
func redactArgs(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if strings.Contains(a, "://") && strings.Contains(a, "@") {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
				a = k + "=" + redactURL(v)
			} else {
				a = redactURL(a)
			}
		}
		out[i] = a
	}
	return out
}

// maxLine caps one reported output line; a longer one (a progress bar gone wild) is cut.
const maxLine = 8 << 10

// lineWriter splits a program's output into lines for a callback.
type lineWriter struct {
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 8*maxLine {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) emit(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	if len(b) > maxLine {
		b = append(b[:maxLine:maxLine], "…"...)
	}
	w.line(strings.TrimRight(string(b), " \t"))
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}
