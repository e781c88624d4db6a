package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plugd/plugd/internal/pyenv"
)

// Intervals of buildProgress: a terminal line is redrawn every second; a log (not a
// terminal) gets a line at each phase change and then one every 15 s, enough to show the
// build is alive without filling CI logs.
const (
	progressRedraw  = time.Second
	progressLogLine = 15 * time.Second
)

// buildProgress shows a Python environment build on w while it runs: the phase (resolving,
// downloading, installing), the time so far and the installer's latest line. On a terminal
// it is one line redrawn in place; otherwise plain lines. It prints nothing when no build
// happens (an environment that exists reports no progress). A goroutine redraws while the
// installer is silent; finish stops it.
type buildProgress struct {
	w     io.Writer
	tty   bool
	width int // of the terminal, 0 when unknown: a redrawn line must not wrap
	// manual leaves the redrawing to calls of tick (tests drive it with their own times).
	manual bool

	mu       sync.Mutex
	started  time.Time // first event; zero while nothing is being built
	phase    pyenv.Phase
	line     string    // the installer's latest output line
	printed  time.Time // when the last line was written
	stop     chan struct{}
	finished bool
}

func newBuildProgress(w io.Writer, tty bool) *buildProgress {
	b := &buildProgress{w: w, tty: tty, stop: make(chan struct{})}
	if tty {
		b.width = terminalWidth(w)
	}
	return b
}

// event records one progress report of the builder.
func (b *buildProgress) event(p pyenv.Progress, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished || p.Phase == pyenv.PhaseDone {
		return
	}
	if b.started.IsZero() {
		b.started = now
		if !b.manual {
			go b.ticker()
		}
	}
	if l := strings.TrimSpace(p.Line); l != "" {
		b.line = l
	}
	if p.Phase != b.phase {
		b.phase = p.Phase
		b.print(now)
	}
}

func (b *buildProgress) ticker() {
	every := progressLogLine
	if b.tty {
		every = progressRedraw
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			b.tick(now)
		}
	}
}

// tick prints the current state when it is time to.
func (b *buildProgress) tick(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished || b.started.IsZero() {
		return
	}
	if b.tty || now.Sub(b.printed) >= progressLogLine {
		b.print(now)
	}
}

// finish ends the display with the outcome of the build.
func (b *buildProgress) finish(err error, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	close(b.stop)
	if b.started.IsZero() {
		return // nothing was built
	}
	took := now.Sub(b.started).Round(time.Second)
	var msg string
	if err != nil {
		msg = fmt.Sprintf("python environment: failed after %s", took)
	} else {
		msg = fmt.Sprintf("python environment: built in %s", took)
	}
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s\n", msg)
	} else {
		fmt.Fprintln(b.w, msg)
	}
}

// print writes the state line; the caller holds mu.
func (b *buildProgress) print(now time.Time) {
	b.printed = now
	msg := fmt.Sprintf("python environment: %s (%s)", b.phase, now.Sub(b.started).Round(time.Second))
	if b.line != "" {
		msg += " " + truncate(b.line, 60)
	}
	if b.tty {
		if b.width > 1 {
			msg = truncate(msg, b.width-1)
		}
		fmt.Fprintf(b.w, "\r\033[K%s", msg)
		return
	}
	fmt.Fprintln(b.w, msg)
}

// truncate shortens s to at most n runes, marking the cut, and drops control characters
// (an installer's own progress bars) that would garble the line.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
