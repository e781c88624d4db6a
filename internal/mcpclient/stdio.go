package mcpclient

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// systemPath follows the command's own folder in PATH; fixed, like a plugin's, so nothing of
// the daemon's environment reaches the server.
const systemPath = "/usr/local/bin:/usr/bin:/bin"

// rlimitHeadroom is added to the memory limit for RLIMIT_DATA, which counts reserved private
// address space rather than resident pages (thread stacks in full, a JavaScript engine's
// reserved heap): without it a server could fail well below its limit.
const rlimitHeadroom = 256 << 20

// Confiner wraps a stdio server's command in a sandbox (internal/sandbox, as plugins are):
// it gets the command plugd built (allow-listed environment, working folder) and the folders
// the server may write, and returns the command to start instead. nil runs it unconfined.
type Confiner func(cmd *exec.Cmd, writable []string) (*exec.Cmd, error)

// stdioDirs are a server's own folders under the pool's data folder: HOME, TMPDIR and its log.
type stdioDirs struct{ home, tmp, log string }

func (p *Pool) dirs(k key) stdioDirs {
	base := filepath.Join(p.opts.DataDir, "mcp", escape(k.tenant), escape(k.provider))
	return stdioDirs{home: filepath.Join(base, "home"), tmp: filepath.Join(base, "tmp"), log: filepath.Join(base, "stderr.log")}
}

// escape makes a tenant or provider id one safe path segment.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "%%%02x", r)
		}
	}
	if s := b.String(); s != "" && s != "." && s != ".." {
		return s
	}
	return "_"
}

// stdioEnv is the server's whole environment: PATH (the command's folder, then the system's),
// HOME and TMPDIR of its own, LANG=C.UTF-8, then the provider's env values. Nothing of the
// daemon's own environment is passed on (the reference daemon's plugins got its secrets).
func stdioEnv(resolved string, d stdioDirs, cfg Config, creds map[string]string) []string {
	env := []string{
		"PATH=" + filepath.Dir(resolved) + ":" + systemPath,
		"HOME=" + d.home,
		"TMPDIR=" + d.tmp,
		"LANG=C.UTF-8",
	}
	for _, k := range cfg.Env {
		kv := k + "=" + creds[envPrefix+k]
		replaced := false
		for i, e := range env {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}

// stdioTransport builds the SDK transport that starts the server's process. The memory limit
// is set by a /bin/sh shim before it execs the command, so not one allocation escapes it.
func (p *Pool) stdioTransport(k key, cfg Config, creds map[string]string, logw *cappedLog) (mcp.Transport, error) {
	resolved, err := exec.LookPath(cfg.Command)
	if err != nil {
		return nil, fmt.Errorf("stdio server command %q: %w", cfg.Command, err)
	}
	if resolved, err = filepath.Abs(resolved); err != nil {
		return nil, err
	}
	d := p.dirs(k)
	for _, dir := range []string{d.home, d.tmp} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("preparing the folders of stdio server %q: %w", cfg.Command, err)
		}
	}
	argv := append([]string{resolved}, cfg.Args...)
	if p.opts.MemoryLimit > 0 {
		kib := (uint64(p.opts.MemoryLimit) + rlimitHeadroom) / 1024
		argv = append([]string{"/bin/sh", "-c", "ulimit -d " + strconv.FormatUint(kib, 10) + ` && exec "$0" "$@"`}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = stdioEnv(resolved, d, cfg, creds)
	cmd.Dir = d.home
	if p.opts.Confine != nil {
		if cmd, err = p.opts.Confine(cmd, []string{d.home, d.tmp}); err != nil {
			return nil, fmt.Errorf("confining stdio server %q: %w", cfg.Command, err)
		}
	}
	cmd.Stderr = logw
	addProcAttr(cmd)
	return &groupKiller{CommandTransport: mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}}, nil
}

// groupKiller is the SDK's command transport, plus: when the connection closes, whatever
// the server spawned (its process group) is killed too, so `npx` or `uvx` wrappers leave no
// grandchild behind.
type groupKiller struct {
	mcp.CommandTransport
}

func (g *groupKiller) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := g.CommandTransport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &groupConn{Connection: conn, cmd: g.Command}, nil
}

type groupConn struct {
	mcp.Connection
	cmd  *exec.Cmd
	once sync.Once
}

func (c *groupConn) Close() error {
	err := c.Connection.Close()
	c.once.Do(func() {
		if c.cmd.Process != nil {
			killGroup(c.cmd.Process.Pid)
		}
	})
	return err
}

// killGroup ends the process group led by pid (see procAttr: Setpgid).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// cappedLog is a stdio server's stderr: written to a file that is rotated once (to .1) when it
// reaches its cap, so a chatty server never fills the disk, with the last lines kept in
// memory for the error that reports a crash.
type cappedLog struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
	tail []byte
}

const tailBytes = 2048

func openCappedLog(path string, max int64) (*cappedLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &cappedLog{path: path, max: max, f: f, size: st.Size()}, nil
}

func (l *cappedLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, b...)
	if len(l.tail) > tailBytes {
		l.tail = append(l.tail[:0], l.tail[len(l.tail)-tailBytes:]...)
	}
	if l.f == nil {
		return len(b), nil
	}
	if l.size+int64(len(b)) > l.max {
		l.f.Close()
		os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			l.f = nil
			return len(b), nil // the tail still records it
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.Write(b)
	l.size += int64(n)
	return len(b), nil
}

// Tail is the end of what the server wrote, trimmed to whole lines.
func (l *cappedLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := string(l.tail)
	if len(l.tail) == tailBytes {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}

func (l *cappedLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
