package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/pyenv"
)

func TestBuildProgressLog(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, manual: true, stop: make(chan struct{})}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.event(pyenv.Progress{Phase: pyenv.PhaseResolving}, t0)
	b.event(pyenv.Progress{Phase: pyenv.PhaseResolving, Line: "Resolved 40 packages"}, t0.Add(2*time.Second))
	b.tick(t0.Add(10 * time.Second)) // under the log interval: nothing
	b.event(pyenv.Progress{Phase: pyenv.PhaseDownloading, Line: "Downloading pydantic-core \r 50%"}, t0.Add(12*time.Second))
	b.tick(t0.Add(20 * time.Second)) // 8 s after the last line: nothing
	b.tick(t0.Add(28 * time.Second)) // 16 s after: a line
	b.event(pyenv.Progress{Phase: pyenv.PhaseDone}, t0.Add(40*time.Second))
	b.finish(nil, t0.Add(41*time.Second))
	b.tick(t0.Add(60 * time.Second)) // after finish: nothing
	want := "python environment: resolving (0s)\n" +
		"python environment: downloading (12s) Downloading pydantic-core  50%\n" +
		"python environment: downloading (28s) Downloading pydantic-core  50%\n" +
		"python environment: built in 41s\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestBuildProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, tty: true, manual: true, stop: make(chan struct{})}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.event(pyenv.Progress{Phase: pyenv.PhaseInstalling, Line: strings.Repeat("x", 100)}, t0)
	b.tick(t0.Add(time.Second))
	b.finish(errors.New("boom"), t0.Add(3*time.Second))
	want := "\r\033[Kpython environment: installing (0s) " + strings.Repeat("x", 59) + "…" +
		"\r\033[Kpython environment: installing (1s) " + strings.Repeat("x", 59) + "…" +
		"\r\033[Kpython environment: failed after 3s\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestBuildProgressSilentWithoutBuild(t *testing.T) {
	var out bytes.Buffer
	b := newBuildProgress(&out, false)
	b.finish(nil, time.Now())
	if out.Len() != 0 {
		t.Errorf("printed %q for an environment that already existed", out.String())
	}
}

func TestBuildProgressFitsTheTerminal(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, tty: true, width: 40, manual: true, stop: make(chan struct{})}
	b.event(pyenv.Progress{Phase: pyenv.PhaseDownloading, Line: "Downloading a-package-with-a-long-name (12 MiB)"}, time.Now())
	line := strings.TrimPrefix(out.String(), "\r\033[K")
	if n := len([]rune(line)); n != 39 || !strings.HasPrefix(line, "python environment: downloading (0s) ") {
		t.Errorf("%d columns: %q", n, line)
	}
}
