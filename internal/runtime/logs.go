package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	// maxLogLine caps one line in plugin.log; a plugin that prints a 50 MiB line would otherwise
	// rotate every other line out of the file at once.
	maxLogLine = 16 << 10
	// maxSlogLine caps one plugin line copied to the daemon's logger.
	maxSlogLine = 1 << 10
	// stderrTail is how much of the end of stderr an ExitError quotes: enough for a Python
	// traceback, short enough for an error message.
	stderrTail = 2 << 10
)

// logFile is a plugin's own log: stderr, log events, stray stdout and lifecycle notes, one line
// each, in <dir>/plugin.log. When the file passes max bytes it becomes plugin.log.1 (replacing
// the previous one) and a new file starts, so a plugin never holds more than twice max on disk.
type logFile struct {
	dir string
	max int64

	mu     sync.Mutex
	f      *os.File
	size   int64
	broken bool // the file could not be opened; reported once
}

func (l *logFile) Path() string { return filepath.Join(l.dir, "plugin.log") }

// write appends one line. Errors are logged once to logger and then ignored: losing the file
// must not stop the plugin.
func (l *logFile) write(logger *slog.Logger, pid int, stream, text string) {
	line := fmt.Sprintf("%s pid=%d %s: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), pid, stream, clip(text, maxLogLine))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		return
	}
	if l.f != nil && l.size+int64(len(line)) > l.max {
		l.f.Close()
		l.f = nil
		os.Rename(l.Path(), l.Path()+".1")
	}
	if l.f == nil {
		err := os.MkdirAll(l.dir, 0o700)
		if err == nil {
			l.f, err = os.OpenFile(l.Path(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		}
		if err == nil {
			var st os.FileInfo
			if st, err = l.f.Stat(); err == nil {
				l.size = st.Size()
			}
		}
		if err != nil {
			l.broken = true
			logger.Error("plugin log file unavailable; plugin output goes to the daemon log only", "err", err)
			return
		}
	}
	n, _ := l.f.WriteString(line)
	l.size += int64(n)
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// clip shortens s to at most n bytes, on a rune boundary, saying how much was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… [%d bytes cut]", s[:cut], len(s)-cut)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept text from its first whole line on, trimmed.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if len(t.buf) == t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = "…\n" + s[i+1:]
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "?"))
}

// readLines calls fn for each line of r, without its line ending; a line longer than 64 KiB
// comes in 64 KiB pieces rather than stopping the reader (bufio.Scanner would give up).
func readLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			fn(strings.TrimRight(string(b), "\r\n"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// slogGate bounds how many plugin lines per second are copied to the daemon's logger. A plugin
// that floods its output would otherwise flood the daemon's log and slow the reader that waits
// on it; plugin.log still keeps every line (size-capped), and the daemon's log says how many
// lines it left out.
type slogGate struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

const (
	slogLinesPerSecond = 100
	slogBurst          = 200
)

// allow reports whether one more line may go to the daemon's logger, and how many lines were
// left out since the last one that did.
func (g *slogGate) allow(now time.Time) (ok bool, dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last.IsZero() {
		g.tokens = slogBurst
	} else {
		g.tokens = min(slogBurst, g.tokens+now.Sub(g.last).Seconds()*slogLinesPerSecond)
	}
	g.last = now
	if g.tokens < 1 {
		g.dropped++
		return false, 0
	}
	g.tokens--
	dropped, g.dropped = g.dropped, 0
	return true, dropped
}

// copyToSlog logs one plugin line to the daemon's logger unless the plugin is flooding it.
func copyToSlog(g *slogGate, logger *slog.Logger, level slog.Level, msg string, args ...any) {
	ok, dropped := g.allow(time.Now())
	if !ok {
		return
	}
	if dropped > 0 {
		logger.Warn("plugin output flood: lines left out of the daemon log; plugin.log has them", "lines", dropped)
	}
	logger.Log(context.Background(), level, msg, args...)
}
