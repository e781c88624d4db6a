package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// State is where a Local is in its lifecycle (see the package documentation).
type State string

const (
	StateStopped    State = "stopped"    // no process; the next request starts one
	StateStarting   State = "starting"   // spawned, waiting for the first heartbeat
	StateReady      State = "ready"      // serving requests
	StateRestarting State = "restarting" // crashed; waiting out the back-off before the next start
	StateFailed     State = "failed"     // crash-looping: requests fail at once until the crash-loop back-off ends or Reset
)

// Status is a snapshot of a Local, for health checks and metrics.
type Status struct {
	Plugin    string
	State     State
	PID       int           // 0 when no process runs
	Restarts  int           // processes started after a crash
	Crashes   int           // crashes within the crash-loop window
	InFlight  int           // requests being served
	LastError error         // why the last process ended, or why the runtime failed
	RSS       int64         // resident bytes of the process and its children; 0 when none
	Uptime    time.Duration // since the current process became ready
	LogFile   string
}

// Local runs one plugin as a supervised local process. It starts the process on the first
// request (or Start), keeps it alive through crashes with exponential back-off, gives up when
// it crash-loops, and stops it when idle. All methods are safe for concurrent use.
type Local struct {
	cfg  LocalConfig
	log  *slog.Logger
	plog *logFile
	shim bool // run under /bin/sh: the daemon is PID 1 (see spawn)

	mu       sync.Mutex
	state    State
	inst     *instance     // the current process, nil when none
	changed  chan struct{} // closed and replaced at every change of state or inst
	lastErr  error
	crashes  []time.Time // within the crash-loop window
	restarts int
	inflight int
	idle     *time.Timer
	retry    *time.Timer
	loops    int         // crash loops in a row: the exponent of the crash-loop back-off
	recover  *time.Timer // ends the failed state of a crash loop; not stopped by Stop
	retryAt  time.Time   // when recover fires
	closed   bool
	// spawnGen numbers starts; a spawn whose number is no longer current when it ends
	// (the runtime was stopped meanwhile) ends its process. spawned is closed when the
	// latest spawn has been settled either way.
	spawnGen uint64
	spawned  chan struct{}
	// failedStarts counts processes that ended before they were ready (lastErr is the latest).
	// A request waiting for a start compares it with its value when it began to wait, so a
	// process that exits before the request even sees it still fails that request at once.
	failedStarts uint64
}

// NewLocal returns a stopped runtime; nothing runs until the first request or Start.
func NewLocal(cfg LocalConfig) *Local { return newLocal(cfg, nil) }

// newLocal is NewLocal writing to plog when it is not nil: the instances of a Pool share
// one plugin.log.
func newLocal(cfg LocalConfig, plog *logFile) *Local {
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("plugin", cfg.PluginID)
	if plog == nil {
		plog = &logFile{dir: filepath.Join(cfg.DataDir, "logs"), max: cfg.LogMaxBytes}
	}
	return &Local{
		cfg:     cfg,
		log:     logger,
		plog:    plog,
		shim:    os.Getpid() == 1,
		state:   StateStopped,
		changed: make(chan struct{}),
	}
}

// LogFile is the plugin's own log: stderr, log events and stray stdout lines.
func (l *Local) LogFile() string { return l.plog.Path() }

// Start starts the plugin if it is not running and waits until it is ready, so that the
// first request does not pay for the start.
func (l *Local) Start(ctx context.Context) error {
	if _, err := l.acquire(ctx); err != nil {
		return err
	}
	l.release()
	return nil
}

// acquire returns the ready instance, starting one if none runs, and counts a request in
// flight on it; release undoes the count. It waits for a start in progress, or a restart's
// back-off, until ctx ends; a start it waited for that failed is its error.
func (l *Local) acquire(ctx context.Context) (*instance, error) {
	if err := l.cfg.validate(); err != nil {
		return nil, err
	}
	first, failedStarts := true, uint64(0)
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, fmt.Errorf("plugin %s: %w", l.cfg.PluginID, ErrClosed)
		}
		if first {
			first, failedStarts = false, l.failedStarts
		} else if l.failedStarts != failedStarts {
			// A start this request waited for ended before it was ready.
			err := l.lastErr
			l.mu.Unlock()
			return nil, err
		}
		if l.state == StateStopped {
			l.startLocked()
		}
		switch l.state {
		case StateFailed:
			err := l.failedErr()
			l.mu.Unlock()
			return nil, err
		case StateReady:
			if inst := l.inst; !inst.gone() { // a gone one is about to be replaced: wait
				l.inflight++
				if l.idle != nil {
					l.idle.Stop()
					l.idle = nil
				}
				l.mu.Unlock()
				return inst, nil
			}
		}
		inst, changed := l.inst, l.changed
		l.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %s: waiting for it to be ready (%s): %w", l.cfg.PluginID, l.Status().State, context.Cause(ctx))
		}
		if inst != nil {
			select {
			case <-inst.exited:
				if !inst.exitErr.Ready {
					return nil, inst.exitErr
				}
			default:
			}
		}
	}
}

func (l *Local) failedErr() error {
	if errors.Is(l.lastErr, ErrSpawn) {
		return l.lastErr
	}
	return fmt.Errorf("plugin %s: %w (%d crashes within %s; it may start again in %s, or at once when reset): %w",
		l.cfg.PluginID, ErrCrashLoop, len(l.crashes), l.cfg.CrashLoopWindow, max(time.Until(l.retryAt), 0).Round(time.Second), l.lastErr)
}

// release ends one request's hold and arms the idle timer when none is left.
func (l *Local) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	l.armIdleLocked()
}

func (l *Local) armIdleLocked() {
	if l.cfg.IdleStop <= 0 || l.inflight > 0 || l.state != StateReady || l.idle != nil {
		return
	}
	inst := l.inst
	l.idle = time.AfterFunc(l.cfg.IdleStop, func() {
		l.mu.Lock()
		if l.inst != inst || l.state != StateReady || l.inflight > 0 {
			l.mu.Unlock()
			return
		}
		l.idle = nil
		l.detachLocked(StateStopped)
		l.mu.Unlock()
		l.log.Info("plugin idle; stopping it", "idle", l.cfg.IdleStop)
		inst.stop(ErrStopped)
	})
}

// broadcastLocked wakes everyone waiting for a change.
func (l *Local) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// detachLocked makes the current process no longer the plugin's, without waiting for it:
// a new request starts a fresh one at once.
func (l *Local) detachLocked(to State) {
	l.spawnGen++ // a spawn in progress is no longer wanted
	l.inst = nil
	l.state = to
	for _, t := range []**time.Timer{&l.idle, &l.retry} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	l.broadcastLocked()
}

// startLocked starts a process. The spawn itself (fork, exec, cgroup set-up: milliseconds)
// runs without l.mu, which every request, status read and the Pool's picks take; the state is
// StateStarting meanwhile, so requests wait for it as for the first heartbeat.
func (l *Local) startLocked() {
	l.spawnGen++
	gen := l.spawnGen
	done := make(chan struct{})
	l.spawned = done
	l.state = StateStarting
	l.broadcastLocked()
	go func() {
		inst, err := spawn(&l.cfg, l.log, l.plog, l.shim)
		l.mu.Lock()
		if l.spawnGen != gen {
			// Stopped (or stopped and started again) while spawning: this process is nobody's.
			l.mu.Unlock()
			if inst != nil {
				inst.stop(ErrStopped)
				inst.watch(func() {})
			}
			close(done)
			return
		}
		defer close(done) // settled: l.inst is set or the runtime failed
		if err != nil {
			// No interpreter, no folder: starting again cannot help, so fail now.
			l.lastErr = err
			l.state = StateFailed
			l.log.Error("cannot start plugin", "err", err)
			l.broadcastLocked()
			l.mu.Unlock()
			return
		}
		l.inst = inst
		l.broadcastLocked()
		l.mu.Unlock()
		go l.supervise(inst)
	}()
}

// supervise follows one process and decides what happens after it ends.
func (l *Local) supervise(inst *instance) {
	inst.watch(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.inst == inst {
			l.state = StateReady
			l.armIdleLocked()
			l.broadcastLocked()
		}
	})

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inst != inst {
		return // stopped on purpose (Stop, idle): its state is already set
	}
	l.inst = nil
	l.lastErr = inst.exitErr
	if !inst.exitErr.Ready {
		l.failedStarts++
	}
	now := time.Now()
	recent := l.crashes[:0]
	for _, t := range l.crashes {
		if now.Sub(t) < l.cfg.CrashLoopWindow {
			recent = append(recent, t)
		}
	}
	l.crashes = append(recent, now)
	if at := inst.readyAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) >= l.cfg.CrashLoopWindow {
		l.loops = 0 // it ran well for a while: a new loop starts the back-off afresh
	}
	if len(l.crashes) >= l.cfg.CrashLoopCount {
		l.loops++
		delay := l.cfg.CrashLoopBackoff << min(l.loops-1, 30)
		if delay > l.cfg.CrashLoopBackoffMax || delay <= 0 {
			delay = l.cfg.CrashLoopBackoffMax
		}
		l.state, l.retryAt = StateFailed, now.Add(delay)
		l.log.Error("plugin is crash-looping; requests fail until the back-off ends or it is reset",
			"crashes", len(l.crashes), "window", l.cfg.CrashLoopWindow, "backoff", delay, "loops", l.loops)
		l.recover = time.AfterFunc(delay, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.state == StateFailed && !l.closed {
				// The next request starts it again; its crashes count afresh, the loop
				// count stays, so another loop waits twice as long.
				l.crashes, l.recover = nil, nil
				l.state = StateStopped
				l.log.Info("crash-loop back-off over; the next request starts the plugin")
				l.broadcastLocked()
			}
		})
		l.broadcastLocked()
		return
	}
	delay := l.cfg.RestartBackoff << (len(l.crashes) - 1)
	if delay > l.cfg.RestartBackoffMax || delay <= 0 {
		delay = l.cfg.RestartBackoffMax
	}
	l.state = StateRestarting
	l.log.Info("restarting plugin", "in", delay)
	l.retry = time.AfterFunc(delay, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.state == StateRestarting && l.inst == nil {
			l.retry = nil
			l.restarts++
			l.startLocked()
		}
	})
	l.broadcastLocked()
}

// Stop stops the process: SIGTERM to its process group, then SIGKILL after StopGrace, or at
// once when ctx ends first. Requests in flight fail with ErrStopped. The runtime stays usable:
// the next request starts the plugin again. A failed runtime stays failed.
func (l *Local) Stop(ctx context.Context) error {
	l.mu.Lock()
	inst, spawning := l.inst, l.state == StateStarting && l.inst == nil
	spawned := l.spawned
	to := StateStopped
	if l.state == StateFailed {
		to = StateFailed
	}
	l.detachLocked(to)
	l.mu.Unlock()
	if spawning && spawned != nil {
		// The spawner sees it is no longer wanted and ends its process; wait for that.
		select {
		case <-spawned:
		case <-ctx.Done():
			return fmt.Errorf("plugin %s: stop: %w", l.cfg.PluginID, context.Cause(ctx))
		}
	}
	if inst == nil {
		return nil
	}
	inst.stop(ErrStopped)
	select {
	case <-inst.exited:
		return nil
	case <-ctx.Done():
		inst.kill()
		<-inst.exited
		return fmt.Errorf("plugin %s: stop: %w", l.cfg.PluginID, context.Cause(ctx))
	}
}

// Close stops the plugin for good, as Stop does; requests fail with ErrClosed from then on.
func (l *Local) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	if l.recover != nil {
		l.recover.Stop()
		l.recover = nil
	}
	l.mu.Unlock()
	err := l.Stop(ctx)
	l.plog.close()
	return err
}

// Reset clears a failed runtime, its crash history and its crash-loop back-off; the next
// request starts the plugin.
func (l *Local) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.crashes, l.loops = nil, 0
	if l.recover != nil {
		l.recover.Stop()
		l.recover = nil
	}
	if l.state == StateFailed {
		l.state = StateStopped
		l.broadcastLocked()
	}
}

// Status returns a snapshot of the runtime.
func (l *Local) Status() Status {
	l.mu.Lock()
	s := Status{
		Plugin: l.cfg.PluginID, State: l.state, Restarts: l.restarts, InFlight: l.inflight,
		LastError: l.lastErr, LogFile: l.plog.Path(),
	}
	now := time.Now()
	for _, t := range l.crashes {
		if now.Sub(t) < l.cfg.CrashLoopWindow {
			s.Crashes++
		}
	}
	inst := l.inst
	l.mu.Unlock()
	if inst != nil {
		s.PID = inst.pid
		s.RSS = readRSS(inst.pid)
		if at := inst.readyAt.Load(); at != 0 {
			s.Uptime = now.Sub(time.Unix(0, at))
		}
	}
	return s
}
