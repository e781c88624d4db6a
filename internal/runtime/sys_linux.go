//go:build linux

package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procAttr is how every plugin process starts.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// Its own process group, so that one signal stops the plugin and whatever it spawned.
		Setpgid: true,
		// If the daemon dies, the plugin dies too. The SDK exits by itself only when it is
		// re-parented to PID 1; under a subreaper (systemd, tini -s) it would be left with its
		// stdin at EOF, spinning at 100 % CPU for ever. The signal fires when the thread that
		// forked the child ends, which is why spawn forks from a fresh goroutine: the Go
		// runtime ends a thread only when a goroutine locked to it exits, and a new goroutine
		// is never locked.
		Pdeathsig: syscall.SIGKILL,
	}
}

// withProcAttr adds procAttr's settings to a sandbox's clone attributes.
func withProcAttr(attr *syscall.SysProcAttr) *syscall.SysProcAttr {
	if attr == nil {
		return procAttr()
	}
	p := procAttr()
	attr.Setpgid, attr.Pdeathsig = p.Setpgid, p.Pdeathsig
	return attr
}

// limiter enforces one process's memory limit. With a usable cgroup v2 it is a child cgroup
// with memory.max, which counts resident memory of the plugin and everything it spawns and
// lets the kernel's OOM killer end the whole group at the limit. Without one it is
// RLIMIT_DATA, set on the process right after it starts (see docs/runtime.md for why that
// rlimit and how much headroom).
type limiter struct {
	bytes int64
	mode  string // "cgroup", "rlimit" or "" (none)
	dir   string // the cgroup folder
	fd    *os.File
}

// rlimitHeadroom is added to the limit for RLIMIT_DATA. RLIMIT_DATA counts private writable
// address space, not resident pages: every thread's stack is counted in full though barely
// touched, and gevent's resolver pool can add ten threads. Measured on SDK 0.7.4 after a few
// requests: 55 MiB of data mappings for 65 MiB resident. Without headroom a plugin could fail
// below the limit its author declared; with it, it may use up to this much more.
const rlimitHeadroom = 128 << 20

var cgroupSeq atomic.Uint64

func newLimiter(cfg *LocalConfig, logger *slog.Logger) *limiter {
	if cfg.MemoryLimit <= 0 {
		return &limiter{}
	}
	parent := cfg.CgroupParent
	if parent == "" {
		parent = delegatedCgroup()
	} else if err := cgroupUsable(parent); err != nil {
		logger.Warn("cgroup parent unusable; limiting memory with RLIMIT_DATA instead", "cgroup", parent, "err", err)
		parent = ""
	}
	if parent != "" {
		dir, err := makeCgroup(parent, cfg.PluginID, cfg.MemoryLimit)
		if err == nil {
			return &limiter{bytes: cfg.MemoryLimit, mode: "cgroup", dir: dir}
		}
		logger.Warn("cannot create a cgroup; limiting memory with RLIMIT_DATA instead", "err", err)
	}
	return &limiter{bytes: cfg.MemoryLimit, mode: "rlimit"}
}

// delegatedCgroup returns the daemon's own cgroup v2 folder when the memory controller is
// enabled for its children and the daemon may write there, as under systemd with Delegate=yes.
// The daemon does not rearrange cgroups itself: that belongs to whoever starts it.
func delegatedCgroup() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "" // no cgroup v2, or a hybrid host where memory stays with v1
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			dir := filepath.Join("/sys/fs/cgroup", p)
			if cgroupUsable(dir) == nil {
				return dir
			}
		}
	}
	return ""
}

func cgroupUsable(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " memory ") {
		return fmt.Errorf("the memory controller is not enabled in %s/cgroup.subtree_control", dir)
	}
	return unix.Access(dir, unix.W_OK)
}

func makeCgroup(parent, plugin string, limit int64) (string, error) {
	dir := filepath.Join(parent, fmt.Sprintf("plugd-%s-%d-%d", escapeName(plugin), os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(limit, 10)), 0); err != nil {
		os.Remove(dir)
		return "", err
	}
	// Best effort: no swapping past the limit, and an OOM kill takes the whole plugin rather
	// than one of its processes, leaving a half-working plugin behind.
	os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
	os.WriteFile(filepath.Join(dir, "memory.oom.group"), []byte("1"), 0)
	return dir, nil
}

// prepare runs before the process starts. With a cgroup, the child is created inside it
// (clone3 CLONE_INTO_CGROUP), so not one allocation escapes the limit; it reports whether
// that is the plan.
func (l *limiter) prepare(attr *syscall.SysProcAttr) bool {
	if l.mode != "cgroup" {
		return false
	}
	if l.fd == nil {
		fd, err := os.Open(l.dir)
		if err != nil {
			return false // started() moves the process in instead
		}
		l.fd = fd
	}
	attr.UseCgroupFD, attr.CgroupFD = true, int(l.fd.Fd())
	return true
}

// started applies the limit to the new process. shimmed says pid is the PID 1 shim, whose
// script already set the rlimit before it forked the plugin.
func (l *limiter) started(pid int, inCgroup, shimmed bool) error {
	if l.fd != nil {
		l.fd.Close()
		l.fd = nil
	}
	switch {
	case l.mode == "cgroup" && !inCgroup:
		return os.WriteFile(filepath.Join(l.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	case l.mode == "rlimit" && !shimmed:
		n := uint64(l.bytes) + rlimitHeadroom
		return unix.Prlimit(pid, unix.RLIMIT_DATA, &unix.Rlimit{Cur: n, Max: n}, nil)
	}
	return nil
}

// dataRlimit is RLIMIT_DATA for the process in bytes, 0 when the limit is not an rlimit.
func (l *limiter) dataRlimit() uint64 {
	if l.mode != "rlimit" {
		return 0
	}
	return uint64(l.bytes) + rlimitHeadroom
}

// shimLimit is the shell command that sets the limit in the PID 1 shim (see spawn).
func (l *limiter) shimLimit() string {
	if l.mode != "rlimit" {
		return ""
	}
	return fmt.Sprintf("ulimit -d %d 2>/dev/null; ", (uint64(l.bytes)+rlimitHeadroom)/1024)
}

// oomKilled reports whether the kernel killed a process of the cgroup for memory.
func (l *limiter) oomKilled() bool {
	if l.dir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(l.dir, "memory.events"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			v, _ := strconv.Atoi(n)
			return v > 0
		}
	}
	return false
}

// release removes the cgroup, killing anything that escaped the process group first.
func (l *limiter) release() {
	if l.fd != nil {
		l.fd.Close()
		l.fd = nil
	}
	if l.dir == "" {
		return
	}
	os.WriteFile(filepath.Join(l.dir, "cgroup.kill"), []byte("1"), 0)
	for range 20 { // the last processes leave the cgroup a moment after they are reaped
		if err := os.Remove(l.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readRSS returns the resident memory of pid and its direct children, in bytes: the plugin
// plus anything it runs, or the plugin itself when pid is the PID 1 shim.
func readRSS(pid int) int64 {
	total := vmRSS(pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		for f := range strings.FieldsSeq(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				total += vmRSS(c)
			}
		}
	}
	return total
}

func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ackNow returns a function that has the kernel acknowledge at once what has arrived on
// conn (TCP_QUICKACK), or nil when conn is no socket. Linux re-enters delayed-ACK mode by
// itself, so it is called after every read. Why a remote plugin needs it: the SDK writes each
// message and its "\n\n" as two send() calls without TCP_NODELAY, so Nagle holds the second
// until the first is acknowledged, and a delayed ACK makes every request wait about 40 ms.
func ackNow(conn any) func() {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var broken atomic.Bool // not TCP (a Unix socket): stop trying
	return func() {
		if broken.Load() {
			return
		}
		raw.Control(func(fd uintptr) {
			if unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) != nil {
				broken.Store(true)
			}
		})
	}
}
