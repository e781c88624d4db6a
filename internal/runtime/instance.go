package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plugd/plugd/internal/sandbox"
	"github.com/plugd/plugd/internal/wire"
)

// instance is one plugin process, from spawn to reaping. Local starts at most one at a time;
// an instance never restarts itself.
type instance struct {
	cfg     *LocalConfig
	log     *slog.Logger
	plog    *logFile
	lim     *limiter
	wait    func() string // waits for the process to end and says how it ended
	pid     int
	conn    *wire.Conn
	spawned time.Time

	ready     chan struct{} // closed at the first heartbeat
	readyOnce sync.Once
	readyAt   atomic.Int64 // unix nanoseconds; 0 before ready
	lastSeen  atomic.Int64 // unix nanoseconds of the last bytes read from stdout
	writing   atomic.Int64 // unix nanoseconds since a write to stdin has been blocked; 0 when none is

	stderr     tail
	gate       slogGate // bounds the plugin lines copied to the daemon's logger
	stderrDone chan struct{}

	stopCh chan error    // asks for SIGTERM, then SIGKILL after the grace period
	killCh chan struct{} // asks for SIGKILL now

	exited  chan struct{} // closed once the process is reaped and exitErr is set
	exitErr *ExitError

	// pidOne: the process is PID 1 of its own PID namespace (sandboxed), where the kernel
	// drops every signal it has no handler for. The SDK has no SIGTERM handler, so a stop is
	// a SIGKILL at once, which SIGTERM would have been anyway.
	pidOne bool
	cg     *pluginCgroup // pids and CPU limits; nil when none
}

// spawn starts the process and its Conn. shim runs it under /bin/sh (see below).
func spawn(cfg *LocalConfig, logger *slog.Logger, plog *logFile, shim bool) (*instance, error) {
	home, tmp := filepath.Join(cfg.DataDir, "home"), filepath.Join(cfg.DataDir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, err)
		}
	}
	env, err := pluginEnv(cfg, home, tmp)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, err)
	}

	// The runtime owns all three pipes. Stdin in particular stays open for as long as the
	// process lives: with stdin at EOF the SDK's read loop spins at 100 % CPU and never exits
	// (plugin-protocol.md 6.7), so the runtime closes it only after the process is reaped.
	var parentEnds, childEnds []*os.File
	pipe := func() (r, w *os.File) {
		if err == nil {
			r, w, err = os.Pipe()
		}
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	parentEnds = append(parentEnds, inW, outR, errR)
	childEnds = append(childEnds, inR, outW, errW)
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	if err != nil {
		closeAll(parentEnds)
		closeAll(childEnds)
		return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, err)
	}

	lim := newLimiter(cfg, logger)
	iso := cfg.Isolation
	confined := iso.confines()
	if iso != nil && iso.Refused != nil {
		closeAll(parentEnds)
		closeAll(childEnds)
		return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, iso.Refused)
	}
	var spec sandbox.Spec
	if cfg.Zygotes != nil && (!confined || iso.Mode == sandbox.ModeUID) {
		// A fork of the environment's zygote (zygote_linux.go); the plain spawn below when
		// it fails. A confined (isolated) plugin is forked from a confined zygote and
		// confines itself to the very sandbox a plain start would give it (zygote.py), which
		// needs the daemon to be root (mode uid): in mode userns it always starts the plain way.
		var confine *sandbox.Spec
		if confined {
			if spec, err = iso.spec(cfg, env, home, tmp, lim.dataRlimit()); err == nil {
				confine = &spec
			}
		}
		if err == nil {
			in, zerr := forkFromZygote(cfg, logger, plog, lim, env, confine, parentEnds, childEnds)
			if zerr == nil {
				return in, nil
			}
			logger.Warn("cannot fork the plugin from a zygote; starting it the plain way", "err", zerr)
		}
		err = nil
	}
	if confined {
		// RLIMIT_DATA is set by the init, before the exec, rather than by prlimit after it.
		if spec, err = iso.spec(cfg, env, home, tmp, lim.dataRlimit()); err != nil {
			lim.release()
			closeAll(parentEnds)
			closeAll(childEnds)
			return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, err)
		}
	}
	build := func() (*exec.Cmd, error) {
		var c *exec.Cmd
		switch {
		case confined:
			// The sandbox's init execs the plugin as PID 1 of a PID namespace of its own:
			// its getppid() is 0, never 1, so the PID 1 shim is never needed.
			var err error
			if c, err = sandbox.Command(spec); err != nil {
				return nil, err
			}
			c.SysProcAttr = withProcAttr(c.SysProcAttr)
		case shim:
			// The SDK polls getppid() and exits when it reads 1, taking it for a dead parent
			// (plugin-protocol.md 6.3). When the daemon itself is PID 1, as in a container
			// started without an init, every child sees 1, so the plugin runs under a shell
			// that stays its parent; the shell also sets the rlimit, which prlimit could only
			// set on the shell after it had already forked.
			c = exec.Command("/bin/sh", "-c", lim.shimLimit()+`"$0" "$@"; exit $?`, cfg.Python, "-m", cfg.Entrypoint)
		default:
			c = exec.Command(cfg.Python, "-m", cfg.Entrypoint)
		}
		if !confined {
			c.Dir, c.Env = cfg.Dir, env
			c.SysProcAttr = procAttr()
		}
		c.Stdin, c.Stdout, c.Stderr = inR, outW, errW
		return c, nil
	}
	cmd, err := build()
	inCgroup := false
	if err == nil {
		inCgroup = lim.prepare(cmd.SysProcAttr)
		err = startCmd(cmd)
	}
	if err != nil && inCgroup {
		// Starting inside the cgroup needs clone3 (Linux 5.7), which seccomp filters may
		// refuse; start normally and move the process in instead.
		if cmd, err = build(); err == nil {
			inCgroup = false
			err = startCmd(cmd)
		}
	}
	closeAll(childEnds) // the child has its copies; ours would keep the pipes from ever ending
	if err != nil {
		lim.release()
		closeAll(parentEnds)
		return nil, fmt.Errorf("%w %s: %w", ErrSpawn, cfg.PluginID, err)
	}
	pid := cmd.Process.Pid
	if err := lim.started(pid, inCgroup, shim || confined); err != nil {
		logger.Warn("memory limit not applied", "pid", pid, "err", err)
		lim.mode = ""
	}
	var cg *pluginCgroup
	if confined {
		// The init does not fork: once it is in the cgroups, so is everything the plugin
		// starts. Without a usable cgroup, RLIMIT_NPROC alone holds, and no CPU quota.
		var err error
		cg, err = joinPluginCgroup(cfg.PluginID, pid, cgroupLimits{pids: spec.Limits.Processes, cpuPercent: iso.CPUPercent})
		if err != nil {
			lvl := slog.LevelDebug
			if iso.CPUPercent > 0 {
				lvl = slog.LevelWarn
			}
			logger.Log(context.Background(), lvl, "no cgroup for the plugin: the process limit is RLIMIT_NPROC alone, and the CPU quota is not applied", "err", err)
		}
	}

	in := &instance{
		cfg: cfg, log: logger.With("pid", pid), plog: plog, lim: lim, wait: waitCmd(cmd), pid: pid, spawned: time.Now(),
		ready: make(chan struct{}), stderr: tail{max: stderrTail}, stderrDone: make(chan struct{}),
		stopCh: make(chan error, 1), killCh: make(chan struct{}, 1), exited: make(chan struct{}),
		pidOne: confined, cg: cg,
	}
	in.connect(inW, outR, errR)
	isolation := "none"
	if confined {
		isolation = isolationText(spec)
		if cg != nil {
			isolation += "; cgroups " + cg.String()
		}
	}
	plog.write(logger, pid, "runtime", fmt.Sprintf("started %s -m %s in %s (memory limit: %s; isolation: %s)", cfg.Python, cfg.Entrypoint, cfg.Dir, in.limitText(), isolation))
	return in, nil
}

// connect starts the protocol on the process's stdin and stdout and the reading of its
// stderr; spawn and forkFromZygote share it.
func (in *instance) connect(inW, outR, errR *os.File) {
	in.lastSeen.Store(in.spawned.UnixNano())
	// The Conn writes only whole JSON lines, never a blank one: SDKs before 0.2.2 answer a
	// blank line with an error event. It reads lines up to cfg.Bounds.MaxLine (64 MiB in the
	// daemon), where the reference's 5 MiB cap killed plugins that returned a large result
	// (user-pains.md 1.8).
	in.conn = wire.NewConn(&activityReader{outR, &in.lastSeen}, &watchedWriter{w: inW, since: &in.writing}, wire.Options{OnEvent: in.onEvent, SessionBuffer: in.cfg.SessionBuffer, Bounds: in.cfg.Bounds})
	go in.readStderr(errR)
}

// waitCmd waits for a spawned process and says how it ended.
func waitCmd(cmd *exec.Cmd) func() string {
	return func() string { cmd.Wait(); return cmd.ProcessState.String() }
}

// startCmd forks from a fresh goroutine: see Pdeathsig in procAttr.
func startCmd(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Start() }()
	return <-done
}

func (in *instance) limitText() string {
	if in.lim.mode == "" {
		return "none"
	}
	return formatBytes(in.lim.bytes) + " by " + in.lim.mode
}

func (in *instance) isReady() bool { return in.readyAt.Load() != 0 }

// gone reports whether the process's stream has ended: it is dead or being killed.
func (in *instance) gone() bool {
	select {
	case <-in.conn.Done():
		return true
	default:
		return false
	}
}

// explain adds the plugin's id to a request's failure and, when the failure is the end of
// the process, replaces it with the *ExitError. A session fails with wire.ErrPluginExited the
// moment stdout ends, a little before the process is reaped; waiting that moment gives the
// caller the exit status and the stderr tail.
func (in *instance) explain(err error) error {
	if errors.Is(err, wire.ErrPluginExited) {
		select {
		case <-in.exited:
			return in.exitErr
		case <-time.After(5 * time.Second):
		}
	}
	return fmt.Errorf("plugin %s: %w", in.cfg.PluginID, err)
}

// activityReader is the plugin's stdout as the Conn reads it. Every read counts as a sign of
// life, not only heartbeats: while the SDK writes one long line (a 50 MiB result) its
// heartbeats wait behind it, and a plugin busy sending is not a hung one.
type activityReader struct {
	f    *os.File
	seen *atomic.Int64
}

func (r *activityReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if n > 0 {
		r.seen.Store(time.Now().UnixNano())
	}
	return n, err
}

func (r *activityReader) Close() error { return r.f.Close() }

// watchedWriter is the plugin's stdin (or a remote plugin's connection) as the Conn writes
// it, noting when a write began. A plugin that stops reading blocks that write for ever,
// holding the Conn's write turn: every other request then waits, and heartbeats alone cannot
// tell. watch kills it (Remote's watch disconnects it).
type watchedWriter struct {
	w     io.WriteCloser
	since *atomic.Int64
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.since.Store(time.Now().UnixNano())
	defer w.since.Store(0)
	return w.w.Write(p)
}

func (w *watchedWriter) Close() error { return w.w.Close() }

// onEvent runs on the Conn's reader for every line that is not a session item. It must be
// quick: the reader waits for it.
func (in *instance) onEvent(ev wire.Event) {
	switch ev.Kind {
	case wire.KindHeartbeat:
		in.readyOnce.Do(func() { close(in.ready) })
	case wire.KindLog:
		rec, err := ev.Log()
		if err != nil {
			in.plog.write(in.log, in.pid, "log", string(ev.Data))
			return
		}
		in.plog.write(in.log, in.pid, "log "+rec.Level, rec.Message)
		copyToSlog(&in.gate, in.log, slogLevel(rec.Level), clip(rec.Message, maxSlogLine), "source", "plugin log")
	case wire.KindError:
		msg := string(ev.Data)
		if pe, err := ev.PluginError(); err == nil {
			msg = pe.Message
		}
		in.plog.write(in.log, in.pid, "error", msg)
		copyToSlog(&in.gate, in.log, slog.LevelWarn, "plugin reported an error", "err", clip(msg, maxSlogLine))
	case wire.KindOutput:
		// print() output and junk: never fatal, kept as log lines (plugin-protocol.md 2.2).
		in.plog.write(in.log, in.pid, "stdout", string(ev.Line))
		copyToSlog(&in.gate, in.log, slog.LevelInfo, "plugin stdout", "line", clip(string(ev.Line), maxSlogLine))
	case wire.KindUnrouted:
		in.log.Debug("plugin line for a finished session dropped", "session", ev.SessionID)
	}
}

func slogLevel(level string) slog.Level {
	switch strings.ToUpper(level) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR", "CRITICAL", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (in *instance) readStderr(r *os.File) {
	defer close(in.stderrDone)
	defer r.Close()
	readLines(r, func(line string) {
		in.stderr.Write([]byte(line + "\n"))
		in.plog.write(in.log, in.pid, "stderr", line)
		copyToSlog(&in.gate, in.log, slog.LevelInfo, "plugin stderr", "line", clip(line, maxSlogLine))
	})
}

// stop asks for a graceful stop; kill for an immediate one. Neither waits: in.exited says when
// the process is gone.
func (in *instance) stop(reason error) {
	select {
	case in.stopCh <- reason:
	default:
	}
}

func (in *instance) kill() {
	select {
	case in.killCh <- struct{}{}:
	default:
	}
}

// watch supervises the process until it is reaped: it marks it ready at the first heartbeat
// (calling onReady), kills it when the start or heartbeat timeout passes or its stdout ends,
// carries out stop and kill requests, and finally records why it ended and fails what is
// still in flight.
func (in *instance) watch(onReady func()) {
	waited := make(chan struct{})
	var status string
	go func() {
		status = in.wait()
		close(waited)
	}()
	startTimer := time.NewTimer(in.cfg.StartTimeout)
	defer startTimer.Stop()
	tick := time.NewTicker(min(max(in.cfg.HeartbeatTimeout/4, 100*time.Millisecond), 5*time.Second))
	defer tick.Stop()

	var reason error // why the daemon ended it, if it did
	kill := func(why error) {
		if reason == nil {
			reason = why
		}
		signalGroup(in.pid, syscall.SIGKILL)
	}
	ready, connDone := in.ready, in.conn.Done()
	var grace <-chan time.Time
loop:
	for {
		select {
		case <-ready:
			ready = nil
			startTimer.Stop()
			now := time.Now()
			in.readyAt.Store(now.UnixNano())
			in.log.Info("plugin ready", "after", now.Sub(in.spawned).Round(time.Millisecond))
			in.plog.write(in.log, in.pid, "runtime", fmt.Sprintf("ready after %s", now.Sub(in.spawned).Round(time.Millisecond)))
			onReady()
		case <-startTimer.C:
			select {
			case <-in.ready: // it arrived at the same moment; the case above will see it
			default:
				kill(fmt.Errorf("%w (%s)", ErrStartTimeout, in.cfg.StartTimeout))
			}
		case <-tick.C:
			if in.conn.Backpressured() {
				// Held back by callers slower than it (wire.Bounds): not reading its stdout
				// is the daemon's doing, so its silence proves nothing.
				in.lastSeen.Store(time.Now().UnixNano())
			}
			if in.isReady() && time.Since(time.Unix(0, in.lastSeen.Load())) > in.cfg.HeartbeatTimeout {
				kill(fmt.Errorf("%w (%s)", ErrHeartbeatTimeout, in.cfg.HeartbeatTimeout))
			}
			if w := in.writing.Load(); w != 0 && time.Since(time.Unix(0, w)) > in.cfg.HeartbeatTimeout {
				kill(fmt.Errorf("%w for %s", ErrStdinBlocked, in.cfg.HeartbeatTimeout))
			}
		case <-connDone:
			// Nothing more can come from a plugin whose stdout ended, nor go to one whose stdin
			// broke. Don't wait for it to notice.
			connDone = nil
			if err := in.conn.Err(); errors.Is(err, wire.ErrLineTooLong) && reason == nil {
				reason = err // the daemon ended it: say why, with the limit
			}
			signalGroup(in.pid, syscall.SIGKILL)
		case why := <-in.stopCh:
			if reason == nil {
				reason = why
			}
			if in.pidOne {
				signalGroup(in.pid, syscall.SIGKILL)
			} else {
				signalGroup(in.pid, syscall.SIGTERM) // the SDK has no handler: SIGTERM ends it
				grace = time.After(in.cfg.StopGrace)
			}
		case <-grace:
			grace = nil
			signalGroup(in.pid, syscall.SIGKILL)
		case <-in.killCh:
			kill(ErrStopped)
		case <-waited:
			break loop
		}
	}

	signalGroup(in.pid, syscall.SIGKILL) // whatever the plugin left behind in its group
	// What the plugin wrote before it ended is still in the pipe when the kernel reports the
	// exit: let the reader route it (it ends the Conn itself at the end of the output) before
	// Close fails the sessions, or a last message would find its session gone.
	// One second in all for both pipes: a grandchild outside the group may hold them open.
	drainCtx, drained := context.WithTimeout(context.Background(), time.Second)
	select {
	case <-in.conn.Done():
	case <-drainCtx.Done():
	}
	select {
	case <-in.stderrDone:
	case <-drainCtx.Done():
	}
	drained()
	e := &ExitError{
		Plugin: in.cfg.PluginID, PID: in.pid, Status: status, Reason: reason,
		Ready: in.isReady(), MemoryLimit: in.lim.bytes, Enforcement: in.lim.mode, Stderr: in.stderr.String(),
	}
	// The kernel's word is final; a MemoryError in stderr is a strong hint only when the
	// process ended by itself (a C extension that aborted when an allocation failed).
	if in.lim.oomKilled() || reason == nil && in.lim.mode == "rlimit" && strings.Contains(e.Stderr, "MemoryError") {
		e.Reason = ErrMemoryLimit
	}
	in.lim.release()
	in.cg.release()
	in.exitErr = e
	in.conn.Close() // fails any session still open, and closes stdin now that nobody reads it
	in.plog.write(in.log, in.pid, "runtime", "ended: "+status)
	if errors.Is(reason, ErrStopped) {
		in.log.Info("plugin stopped", "status", e.Status)
	} else {
		in.log.Warn("plugin process ended", "err", e)
	}
	close(in.exited)
}
