//go:build linux

package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/plugd/plugd/internal/sandbox"
	"golang.org/x/sys/unix"
)

// zygoteSource is the zygote's program; its comments describe the protocol and what the
// forked child does. It is passed with -c, so the zygote needs no file of plugd's on disk.
//
//go:embed zygote.py
var zygoteSource string

// ZygoteConfig configures Zygotes.
type ZygoteConfig struct {
	// DataDir holds the zygotes' own HOME and TMPDIR (never a plugin's).
	DataDir string
	// IdleStop stops a zygote that has had no child for this long; 0 never.
	IdleStop time.Duration
	// StartTimeout bounds a zygote's start (its preload of the SDK); a plugin start that
	// waited that long falls back to a plain spawn. Default 30 s.
	StartTimeout time.Duration
	// Preload is the comma-separated modules a zygote imports before forking. Default
	// "dify_plugin", which imports gevent, pydantic, httpx, yaml, requests, ...
	Preload string
	Logger  *slog.Logger
}

// Zygotes forks plugin processes from per-environment zygotes: Python processes that have
// already imported the SDK (see zygote.py). One zygote serves every plugin that runs with the
// same interpreter and the same daemon-wide environment (LocalConfig.Python and Env); it starts
// on the first plugin start that needs it and stops after IdleStop without children. Any
// failure (a zygote that cannot import the SDK, a broken socket) is reported to the caller,
// which falls back to a plain spawn. Safe for concurrent use.
type Zygotes struct {
	cfg ZygoteConfig
	log *slog.Logger

	mu     sync.Mutex
	byKey  map[string]*zygote
	broken map[string]time.Time // keys whose zygote failed to start, until when not to retry
	closed bool
}

// NewZygotes returns a set of zygotes; none runs until a plugin start asks for one.
func NewZygotes(cfg ZygoteConfig) *Zygotes {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Preload == "" {
		cfg.Preload = "dify_plugin"
	}
	return &Zygotes{cfg: cfg, log: cfg.Logger, byKey: map[string]*zygote{}, broken: map[string]time.Time{}}
}

// brokenRetry is how long a zygote that failed to start is not tried again for its key.
const brokenRetry = time.Minute

// zygote is one zygote process and its control socket.
type zygote struct {
	z    *Zygotes
	key  string
	cmd  *exec.Cmd
	conn *net.UnixConn
	// pid is the host pid of the zygote proper, the parent of its children: cmd's own, or
	// for a confined zygote its child (cmd is PID 1 of the sandbox, a reaper); 0 until ready.
	pid      int
	confined bool

	ready    chan struct{} // closed when the preload is done or failed (err)
	err      error
	dead     chan struct{} // closed when the control socket ended
	waited   chan struct{} // closed when the process is reaped
	deadErr  error
	writeMu  sync.Mutex
	mu       sync.Mutex
	nextID   int
	pending  map[int]chan zygoteReply
	children map[int]*zygoteChild
	idle     *time.Timer
}

type zygoteReply struct {
	Op     string `json:"op"`
	ID     int    `json:"id"`
	PID    int    `json:"pid"`
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// parseZygoteReply reads one message of a zygote. The zygote runs the environment's packages,
// which the plugin's author chose, so its messages are checked like any outside input.
func parseZygoteReply(b []byte) (zygoteReply, error) {
	var r zygoteReply
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	switch r.Op {
	case "ready", "failed":
	case "spawned", "exit":
		if r.PID <= 1 {
			return r, fmt.Errorf("zygote message %q with pid %d", r.Op, r.PID)
		}
	default:
		return r, fmt.Errorf("unknown zygote message %q", r.Op)
	}
	return r, nil
}

// zygoteChild is a plugin process forked by a zygote. The daemon is not its parent: its exit
// status comes from the zygote over the control socket.
type zygoteChild struct {
	pid    int      // in the daemon's PID namespace
	sync   net.Conn // written once the limits are applied: the child waits for it
	exited chan struct{}
	status string
}

// release lets the child go on to run the plugin.
func (c *zygoteChild) release() error {
	defer c.sync.Close()
	_, err := c.sync.Write([]byte("g"))
	return err
}

// abandon ends a child that will not be released: it exits when its sync socket closes.
func (c *zygoteChild) abandon() { c.sync.Close() }

// wait returns the child's exit status as os.ProcessState.String says it.
func (c *zygoteChild) wait() string {
	<-c.exited
	return c.status
}

// forkFromZygote starts the plugin of cfg as a fork of its environment's zygote, with the pipes
// spawn made (parent ends: stdin writer, stdout reader, stderr reader; child ends the other
// way), applies the memory limit before the child runs plugin code, and returns its instance.
// On an error nothing is closed and nothing runs: the caller spawns the plain way instead.
//
// With isolation in force (mode uid only), spec is the plugin's sandbox, as a plain start
// would have it: the zygote is a confined one and the child confines itself to spec (its uid,
// its folders, its limits) before it says so; the daemon then puts it in the plugin's cgroups.
func forkFromZygote(cfg *LocalConfig, logger *slog.Logger, plog *logFile, lim *limiter, env []string, spec *sandbox.Spec, parentEnds, childEnds []*os.File) (*instance, error) {
	inW, outR, errR := parentEnds[0], parentEnds[1], parentEnds[2]
	c, err := cfg.Zygotes.fork(cfg, env, spec, childEnds[0], childEnds[1], childEnds[2])
	if err != nil {
		return nil, err
	}
	var cg *pluginCgroup
	if spec != nil {
		// The child is confined and waits: no plugin code has run. Its pids limit and CPU
		// quota are the plugin's, as for a plain start.
		cg, err = joinPluginCgroup(cfg.PluginID, c.pid, cgroupLimits{pids: spec.Limits.Processes, cpuPercent: cfg.Isolation.CPUPercent})
		if err != nil {
			lvl := slog.LevelDebug
			if cfg.Isolation.CPUPercent > 0 {
				lvl = slog.LevelWarn
			}
			logger.Log(context.Background(), lvl, "no cgroup for the plugin: the process limit is RLIMIT_NPROC alone, and the CPU quota is not applied", "err", err)
		}
	}
	for _, f := range childEnds {
		f.Close() // the child has its copies
	}
	// The child waits on its sync socket until its limit is in place: no plugin code runs
	// outside it. cgroup.procs and prlimit both work on a process that is not our child.
	if err := lim.started(c.pid, false, spec != nil); err != nil {
		logger.Warn("memory limit not applied", "pid", c.pid, "err", err)
		lim.mode = ""
	}
	if err := c.release(); err != nil {
		logger.Warn("zygote child did not take its go signal", "pid", c.pid, "err", err)
	}
	in := &instance{
		cfg: cfg, log: logger.With("pid", c.pid), plog: plog, lim: lim, wait: c.wait, pid: c.pid, spawned: time.Now(),
		ready: make(chan struct{}), stderr: tail{max: stderrTail}, stderrDone: make(chan struct{}),
		stopCh: make(chan error, 1), killCh: make(chan struct{}, 1), exited: make(chan struct{}), cg: cg,
	}
	in.connect(inW, outR, errR)
	isolation := "none"
	if spec != nil {
		isolation = isolationText(*spec) + ", from a confined zygote"
		if cg != nil {
			isolation += "; cgroups " + cg.String()
		}
	}
	plog.write(logger, c.pid, "runtime", fmt.Sprintf("forked from a zygote: %s -m %s in %s (memory limit: %s; isolation: %s)", cfg.Python, cfg.Entrypoint, cfg.Dir, in.limitText(), isolation))
	return in, nil
}

// zygoteKey names the zygote that can fork a plugin of cfg: same interpreter, same
// daemon-wide environment (which may hold variables the interpreter reads at start-up).
func zygoteKey(cfg *LocalConfig) string {
	h := sha256.New()
	if cfg.Isolation.confines() {
		h.Write([]byte("confined\x00")) // never shared with an unconfined zygote
	}
	h.Write([]byte(cfg.Python))
	for _, kv := range cfg.Env {
		h.Write([]byte{0})
		h.Write([]byte(kv))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fork starts the plugin of cfg from its zygote with the given stdio and environment. The
// child waits until release; the caller applies its memory limit first.
func (zs *Zygotes) fork(cfg *LocalConfig, env []string, spec *sandbox.Spec, stdin, stdout, stderr *os.File) (*zygoteChild, error) {
	z, err := zs.get(cfg)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(zs.cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-z.ready:
	case <-timer.C:
		return nil, fmt.Errorf("zygote for %s: not ready within %s", cfg.Python, zs.cfg.StartTimeout)
	}
	if z.err != nil {
		return nil, z.err
	}
	return z.spawn(cfg, env, spec, stdin, stdout, stderr)
}

// get returns the running zygote of cfg's key, starting one if none runs.
func (zs *Zygotes) get(cfg *LocalConfig) (*zygote, error) {
	key := zygoteKey(cfg)
	zs.mu.Lock()
	defer zs.mu.Unlock()
	if zs.closed {
		return nil, ErrClosed
	}
	if z := zs.byKey[key]; z != nil {
		select {
		case <-z.dead:
		default:
			return z, nil
		}
	}
	if until, ok := zs.broken[key]; ok && time.Now().Before(until) {
		return nil, fmt.Errorf("zygote for %s failed to start recently; not retried before %s", cfg.Python, until.Format(time.TimeOnly))
	}
	z, err := zs.start(key, cfg)
	if err != nil {
		zs.broken[key] = time.Now().Add(brokenRetry)
		return nil, err
	}
	zs.byKey[key] = z
	return z, nil
}

// start launches a zygote. It runs with the daemon-wide part of the plugins' environment
// and its own HOME and TMPDIR; each child replaces that with its plugin's environment.
func (zs *Zygotes) start(key string, cfg *LocalConfig) (*zygote, error) {
	dir := filepath.Join(zs.cfg.DataDir, "zygote-"+key)
	home, tmp := filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("zygote: %w", err)
		}
	}
	env, err := pluginEnv(cfg, home, tmp)
	if err != nil {
		return nil, fmt.Errorf("zygote: %w", err)
	}
	env = append(env, "PLUGD_ZYGOTE_PRELOAD="+zs.cfg.Preload)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("zygote: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "zygote-control"), os.NewFile(uintptr(fds[1]), "zygote-control")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("zygote: %w", err)
	}
	conn := fc.(*net.UnixConn)
	errR, errW, err := os.Pipe()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("zygote: %w", err)
	}
	var cmd *exec.Cmd
	confined := cfg.Isolation.confines()
	if confined {
		cmd, err = confinedZygoteCmd(key, cfg, home, tmp, env)
		if err != nil {
			errR.Close()
			errW.Close()
			conn.Close()
			return nil, fmt.Errorf("zygote: %w", err)
		}
		cmd.SysProcAttr = withProcAttr(cmd.SysProcAttr)
	} else {
		cmd = exec.Command(cfg.Python, "-c", zygoteSource)
		cmd.Dir, cmd.Env = dir, env // an empty folder: nothing to import by accident
		// Its own process group and SIGKILL when the daemon dies, as for a plugin; its
		// children set SIGKILL on the zygote's death in turn (zygote.py).
		cmd.SysProcAttr = procAttr()
	}
	cmd.Stderr = errW
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	err = startCmd(cmd)
	errW.Close()
	if err != nil {
		errR.Close()
		conn.Close()
		return nil, fmt.Errorf("zygote: start %s: %w", cfg.Python, err)
	}
	z := &zygote{z: zs, key: key, cmd: cmd, conn: conn, confined: confined, ready: make(chan struct{}), dead: make(chan struct{}), waited: make(chan struct{}),
		pending: map[int]chan zygoteReply{}, children: map[int]*zygoteChild{}}
	log := zs.log.With("zygote", key, "pid", cmd.Process.Pid, "python", cfg.Python)
	go func() { // its stderr: tracebacks of a failed preload, nothing else in normal operation
		defer errR.Close()
		readLines(errR, func(line string) { log.Warn("zygote stderr", "line", clip(line, maxSlogLine)) })
	}()
	go z.read(log)
	go func() {
		err := cmd.Wait()
		close(z.waited)
		conn.Close() // ends read, which fails everything pending
		log.Info("zygote ended", "status", err)
	}()
	log.Info("zygote started")
	return z, nil
}

// read handles the zygote's messages until its socket ends.
func (z *zygote) read(log *slog.Logger) {
	buf := make([]byte, 64<<10)
	started := time.Now()
	var err error
	for {
		var n int
		n, _, _, _, err = z.conn.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			if err == nil {
				err = errors.New("zygote closed its socket")
			}
			break
		}
		r, perr := parseZygoteReply(buf[:n])
		if perr != nil {
			log.Warn("zygote sent an unreadable message", "err", perr)
			continue
		}
		switch r.Op {
		case "ready":
			// The zygote proper: the process itself, or for a confined one its PID 1's child.
			pid, err := childPID(z.cmd.Process.Pid, r.PID)
			if !z.confined {
				pid, err = z.cmd.Process.Pid, nil
			}
			if err != nil {
				z.err = fmt.Errorf("zygote: its ready message names pid %d: %w", r.PID, err)
				close(z.ready)
				continue
			}
			z.mu.Lock()
			z.pid = pid
			z.mu.Unlock()
			log.Info("zygote ready", "after", time.Since(started).Round(time.Millisecond), "confined", z.confined)
			close(z.ready)
		case "failed":
			if r.ID == 0 { // the preload failed; the zygote exits
				z.err = fmt.Errorf("zygote: %s", r.Error)
				close(z.ready)
				continue
			}
			fallthrough
		case "spawned":
			z.mu.Lock()
			ch := z.pending[r.ID]
			delete(z.pending, r.ID)
			z.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		case "exit":
			z.mu.Lock()
			c := z.children[r.PID]
			delete(z.children, r.PID)
			z.armIdleLocked()
			z.mu.Unlock()
			if c != nil {
				c.status = waitStatusText(syscall.WaitStatus(r.Status))
				close(c.exited)
			}
		}
	}
	z.conn.Close()
	z.z.mu.Lock()
	if z.z.byKey[z.key] == z {
		delete(z.z.byKey, z.key)
		select {
		case <-z.ready:
		default:
			z.z.broken[z.key] = time.Now().Add(brokenRetry) // died during its preload
		}
	}
	z.z.mu.Unlock()
	z.mu.Lock()
	z.deadErr = fmt.Errorf("zygote ended: %w", err)
	select {
	case <-z.ready:
	default:
		z.err = z.deadErr
		close(z.ready)
	}
	for id, ch := range z.pending {
		ch <- zygoteReply{Op: "failed", ID: id, Error: z.deadErr.Error()}
	}
	z.pending = nil
	for pid, c := range z.children {
		// The kernel kills them (PR_SET_PDEATHSIG); their status is lost with the zygote.
		c.status = "signal: killed (its zygote ended)"
		close(c.exited)
		delete(z.children, pid)
	}
	if z.idle != nil {
		z.idle.Stop()
	}
	z.mu.Unlock()
	close(z.dead)
	// A zygote whose socket broke is of no use: make sure it is gone.
	signalGroup(z.cmd.Process.Pid, syscall.SIGKILL)
}

// spawn asks the zygote for one child.
func (z *zygote) spawn(cfg *LocalConfig, env []string, spec *sandbox.Spec, stdin, stdout, stderr *os.File) (*zygoteChild, error) {
	if (spec != nil) != z.confined {
		return nil, errors.New("zygote: a confined plugin needs a confined zygote, and only it")
	}
	sfds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("zygote: socketpair: %w", err)
	}
	theirSync := os.NewFile(uintptr(sfds[1]), "zygote-sync")
	defer theirSync.Close()
	ourSync := os.NewFile(uintptr(sfds[0]), "zygote-sync")
	goW, err := net.FileConn(ourSync)
	ourSync.Close()
	if err != nil {
		return nil, fmt.Errorf("zygote: %w", err)
	}
	msg := map[string]any{"op": "spawn", "env": env, "module": cfg.Entrypoint}
	fds := []int{int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd()), int(theirSync.Fd())}
	if spec == nil {
		cwd, err := os.Open(cfg.Dir)
		if err != nil {
			goW.Close()
			return nil, err
		}
		defer cwd.Close()
		fds = append(fds, int(cwd.Fd()))
	} else {
		// No descriptor of a folder of the daemon's view: with "..", a confined zygote
		// could walk from it out of its own view. Detached mount trees stop at their root.
		conf, trees, err := childConfinement(cfg, spec)
		if err != nil {
			goW.Close()
			return nil, err
		}
		defer func() {
			for _, t := range trees {
				unix.Close(t)
			}
		}()
		msg["confine"] = conf
		fds = append(fds, trees...)
	}

	z.mu.Lock()
	if z.pending == nil {
		z.mu.Unlock()
		goW.Close()
		return nil, z.deadErr
	}
	z.nextID++
	id := z.nextID
	ch := make(chan zygoteReply, 1)
	z.pending[id] = ch
	if z.idle != nil {
		z.idle.Stop()
		z.idle = nil
	}
	z.mu.Unlock()

	msg["id"] = id
	b, _ := json.Marshal(msg)
	rights := unix.UnixRights(fds...)
	z.writeMu.Lock()
	_, _, err = z.conn.WriteMsgUnix(b, rights, nil)
	z.writeMu.Unlock()
	theirSync.Close() // the child's alone now: its exit ends the socket
	if err != nil {
		z.mu.Lock()
		delete(z.pending, id)
		z.mu.Unlock()
		goW.Close()
		return nil, fmt.Errorf("zygote: send: %w", err)
	}
	var r zygoteReply
	select {
	case r = <-ch:
	case <-time.After(10 * time.Second):
		goW.Close()
		return nil, errors.New("zygote: no answer to a fork within 10 s")
	}
	if r.Op != "spawned" {
		goW.Close()
		return nil, fmt.Errorf("zygote: fork: %s", r.Error)
	}
	// The daemon signals, limits and accounts this pid: it must be the zygote's own child,
	// not a process a compromised zygote names. A confined zygote names it in its own PID
	// namespace.
	pid, err := childPID(z.pid, r.PID)
	if err != nil {
		goW.Close()
		z.conn.Close()
		return nil, fmt.Errorf("zygote: reported pid %d: %w; zygote stopped", r.PID, err)
	}
	c := &zygoteChild{pid: pid, sync: goW, exited: make(chan struct{})}
	z.mu.Lock()
	if z.children == nil || z.pending == nil { // died meanwhile
		z.mu.Unlock()
		goW.Close()
		return nil, z.deadErr
	}
	z.children[r.PID] = c
	z.mu.Unlock()
	// The child says "c" once it is set up (confined, for a confined zygote); a child that
	// fails there exits, and the plugin starts the plain way.
	goW.SetReadDeadline(time.Now().Add(10 * time.Second))
	var one [1]byte
	if n, err := goW.Read(one[:]); n != 1 || one[0] != 'c' {
		goW.Close()
		return nil, fmt.Errorf("zygote: the child %d did not set itself up (%v); see the plugin's stderr", pid, err)
	}
	goW.SetReadDeadline(time.Time{})
	return c, nil
}

// armIdleLocked stops the zygote after IdleStop without children.
func (z *zygote) armIdleLocked() {
	if z.z.cfg.IdleStop <= 0 || len(z.children) > 0 || len(z.pending) > 0 || z.idle != nil {
		return
	}
	z.idle = time.AfterFunc(z.z.cfg.IdleStop, func() {
		z.mu.Lock()
		busy := len(z.children) > 0 || len(z.pending) > 0
		z.idle = nil
		z.mu.Unlock()
		if !busy {
			z.z.log.Info("zygote idle; stopping it", "zygote", z.key)
			z.stop()
		}
	})
}

// stop ends the zygote: closing its socket makes it exit, and its children with it.
func (z *zygote) stop() {
	z.z.mu.Lock()
	if z.z.byKey[z.key] == z {
		delete(z.z.byKey, z.key)
	}
	z.z.mu.Unlock()
	z.conn.Close()
}

// Close stops every zygote and starts no more. Plugins forked from them are killed with
// them; stop the plugins first.
func (zs *Zygotes) Close(ctx context.Context) error {
	zs.mu.Lock()
	zs.closed = true
	all := make([]*zygote, 0, len(zs.byKey))
	for _, z := range zs.byKey {
		all = append(all, z)
	}
	zs.mu.Unlock()
	for _, z := range all {
		z.stop()
		// Until reaped: a confined zygote's PID namespace (its plugins included) is gone
		// only once its PID 1 is.
		select {
		case <-z.waited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Running reports the zygotes' process ids, for metrics and tests.
func (zs *Zygotes) Running() []int {
	zs.mu.Lock()
	defer zs.mu.Unlock()
	var pids []int
	for _, z := range zs.byKey {
		z.mu.Lock()
		if z.pid != 0 {
			pids = append(pids, z.pid)
		}
		z.mu.Unlock()
	}
	return pids
}

// Usage is the number of running zygotes and their own resident memory (not their
// children's, which count to their plugins), for metrics.
func (zs *Zygotes) Usage() (count int, rss int64) {
	for _, pid := range zs.Running() {
		count++
		rss += vmRSS(pid)
	}
	return count, rss
}

// childPID finds the child of parent (a pid of the daemon's namespace) whose pid in its own
// (innermost) PID namespace is nsPID, and returns its pid in the daemon's: a zygote names its
// children as it sees them, and only its own children count.
func childPID(parent, nsPID int) (int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", parent))
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", parent, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range bytes.Fields(b) {
			pid, err := strconv.Atoi(string(f))
			if err != nil {
				continue
			}
			if inner, err := innermostPID(pid); err == nil && inner == nsPID {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("not a child of %d", parent)
}

// innermostPID reads the pid of pid in its own PID namespace (the last of NSpid).
func innermostPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("NSpid:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(string(f[len(f)-1]))
		}
	}
	return 0, errors.New("no NSpid in /proc status")
}

// confinedZygoteCmd is the command of a confined zygote of key: the sandbox of a plugin of
// its environment, but root of a user namespace of its own (sandbox.Nest) that maps the
// sandbox's uid range, so that it can give each child its plugin's uid; it runs as a uid of
// the range of its own, sees the system folders and the interpreter, read-only, and its own
// HOME and TMPDIR, and no plugin's code or folders (each child mounts its own).
func confinedZygoteCmd(key string, cfg *LocalConfig, home, tmp string, env []string) (*exec.Cmd, error) {
	iso := cfg.Isolation
	if iso.Mode != sandbox.ModeUID || iso.UIDs == nil {
		return nil, fmt.Errorf("confined zygotes need isolation mode uid (the daemon as root), not %q", iso.Mode)
	}
	uid, err := iso.UIDs.UID(".zygote-" + key)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{home, tmp} {
		if err := chownTree(d, uid); err != nil {
			return nil, fmt.Errorf("giving %s to uid %d: %w", d, uid, err)
		}
	}
	base, count := iso.UIDs.Range()
	spec := sandbox.Spec{
		Mode: sandbox.ModeUID, Path: cfg.Python, Args: []string{cfg.Python, "-c", zygoteSource},
		Dir: home, Env: env, UID: uid, GID: uid, Self: iso.Self, Root: iso.Root,
		ReadOnly: sandbox.PythonPaths(cfg.Python), Writable: []string{home, tmp},
		// Its children's hard limits cannot exceed its own: the plugins' limits, but no CPU
		// time (it lives long), which each child sets for itself.
		Limits: sandbox.Limits{Processes: iso.Limits.Processes, OpenFiles: iso.Limits.OpenFiles},
		Nest:   &sandbox.Nest{Base: base, Count: count},
	}
	return sandbox.Command(spec)
}

// childConfinement is what a confined zygote's child needs to confine itself to spec (see
// zygote.py): the message part and the mount trees of its code (read-only), HOME and TMPDIR,
// cloned here with open_tree, since a mount namespace cannot bind a path of another one.
func childConfinement(cfg *LocalConfig, spec *sandbox.Spec) (map[string]any, []int, error) {
	var trees []int
	var paths []string
	fail := func(err error) (map[string]any, []int, error) {
		for _, t := range trees {
			unix.Close(t)
		}
		return nil, nil, fmt.Errorf("zygote: %w", err)
	}
	add := func(p string, rw bool) error {
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("open_tree %s: %w", p, err)
		}
		trees = append(trees, fd)
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if !rw {
			attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr %s: %w", p, err)
		}
		paths = append(paths, p)
		return nil
	}
	if err := add(cfg.Dir, false); err != nil {
		return fail(err)
	}
	for _, p := range spec.Writable {
		if err := add(p, true); err != nil {
			return fail(err)
		}
	}
	view := (&sandbox.Spec{ReadOnly: sandbox.PythonPaths(cfg.Python)}).View()
	tmpSize := spec.TmpSize
	if tmpSize <= 0 {
		tmpSize = 64 << 20
	}
	return map[string]any{
		"uid": spec.UID, "gid": spec.GID, "dir": spec.Dir, "root": sandbox.NestRoot, "view": view,
		"mounts": paths, "tmp_size": tmpSize, "limits": spec.Limits,
	}, trees, nil
}

// waitStatusText says a raw wait status the way os.ProcessState.String does.
func waitStatusText(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %d", int(ws))
}
