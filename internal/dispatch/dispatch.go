// Package dispatch sends requests to installed plugins: it keeps one runtime (a pool of
// processes) per installed unique identifier, created on the first request and stopped when
// idle, so a daemon with a hundred installed plugins runs processes only for those in use.
// It also measures every invocation for the metrics endpoint.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// ErrNotInstalled: no tenant has the unique identifier installed.
var ErrNotInstalled = fmt.Errorf("plugin is not installed: %w", store.ErrNotFound)

// Preparer makes an installed plugin runnable on this machine; *install.Workspace is one.
type Preparer interface {
	Prepare(ctx context.Context, uid string, progress func(pyenv.Progress)) (*install.Prepared, error)
	// Hold keeps the environment key from garbage collection until release is called.
	Hold(key string) (release func(), err error)
}

// Plugins tells which unique identifiers are installed; store.Store is one.
type Plugins interface {
	GetPlugin(ctx context.Context, uid string) (store.Plugin, error)
	ListPlugins(ctx context.Context) ([]store.Plugin, error)
}

// Config wires a Dispatcher.
type Config struct {
	Plugins   Plugins
	Workspace Preparer
	Backwards runtime.Backwards
	// DataDir holds each plugin's HOME, TMPDIR and logs: <DataDir>/<author>/<name>.
	DataDir string
	// Env is given to every plugin process (proxies, SDK settings); nothing else of the
	// daemon's environment reaches plugins.
	Env []string
	// IdleStop stops a plugin's processes after this long without a request; 0 never.
	IdleStop time.Duration
	// MaxInstances bounds the processes of one busy plugin; 0: the runtime's default.
	MaxInstances int
	// StartTimeout bounds spawn to first heartbeat (PYTHON_ENV_INIT_TIMEOUT); 0: default.
	StartTimeout time.Duration
	// Zygotes, when set, forks plugins from per-environment zygotes (runtime.Zygotes); Close
	// closes it.
	Zygotes *runtime.Zygotes
	// Isolation confines every plugin process (runtime.Isolation); nil: none.
	Isolation *runtime.Isolation
	// Restart and crash-loop back-offs (runtime.LocalConfig); 0: the runtime's defaults.
	RestartBackoff, CrashLoopBackoff, CrashLoopBackoffMax time.Duration
	// PrepareConcurrency bounds the plugins prepared at once by Reconcile. Default 2.
	PrepareConcurrency int
	// Bounds bound the memory of every plugin connection (wire.Bounds): line length and the
	// per-connection and daemon-wide budgets.
	Bounds wire.Bounds
	// NewRuntime makes the runtime of one prepared plugin. Default: a *runtime.Pool.
	// Tests give a fake so that the dispatcher's own concurrency is tested without Python.
	NewRuntime func(runtime.PoolConfig) Runtime
	Metrics    *Metrics // nil: not measured
	Logger     *slog.Logger
}

// Runtime is one installed plugin's processes as the dispatcher uses them; a *runtime.Pool
// (through PoolRuntime) is the real one.
type Runtime interface {
	Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (ResultStream, error)
	// Start starts a process if none runs and waits until one is ready.
	Start(ctx context.Context) error
	Status() []runtime.Status
	// Reset ends a crash loop's back-off at once (plugd reset).
	Reset()
	Close(ctx context.Context) error
}

// ResultStream is a plugin's answer to one request; *runtime.Stream is one.
type ResultStream interface {
	Next() (wire.SessionMessage, error)
	Close()
}

// PoolRuntime adapts a *runtime.Pool to Runtime (Go has no covariant results).
type PoolRuntime struct{ *runtime.Pool }

// Invoke is runtime.Pool.Invoke.
func (p PoolRuntime) Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (ResultStream, error) {
	s, err := p.Pool.Invoke(ctx, access, action, data, ic)
	if err != nil {
		return nil, err // not a typed nil inside a non-nil interface
	}
	return s, nil
}

// Dispatcher routes requests to plugin runtimes. Safe for concurrent use.
type Dispatcher struct {
	cfg Config
	log *slog.Logger
	// life ends with Close: preparations run on it rather than on the request that started
	// them (others wait for the same preparation), and Close cancels them.
	life context.Context
	end  context.CancelFunc

	mu      sync.Mutex
	entries map[string]*entry
	remotes map[string]Attached // plugins attached for remote debugging, by unique identifier
	closed  bool
}

// entry is one unique identifier's runtime, made once.
type entry struct {
	uid   string
	ready chan struct{} // closed when rt or err is set; read neither before
	rt    Runtime
	err   error  // preparing failed
	hold  func() // releases the environment's hold; nil when none
	since time.Time
}

// New makes a Dispatcher; it starts nothing until asked.
func New(cfg Config) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PrepareConcurrency <= 0 {
		cfg.PrepareConcurrency = 2
	}
	if cfg.NewRuntime == nil {
		cfg.NewRuntime = func(c runtime.PoolConfig) Runtime { return PoolRuntime{runtime.NewPool(c)} }
	}
	life, end := context.WithCancel(context.Background())
	return &Dispatcher{cfg: cfg, log: cfg.Logger, life: life, end: end, entries: map[string]*entry{}, remotes: map[string]Attached{}}
}

// runtimeFor returns the runtime of uid, preparing the plugin on first use. prepared, when
// not nil, is the plugin as an install job has just prepared it: it is used as it is (the
// plugin need not be recorded as installed yet) instead of being prepared again.
func (d *Dispatcher) runtimeFor(ctx context.Context, uid string, prepared *install.Prepared) (Runtime, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, runtime.ErrClosed
	}
	e, ok := d.entries[uid]
	// e.err may be read only once e.ready is closed (the close publishes it). A failed
	// preparation is tried again on the next request: the cause (a full disk, an index
	// outage) may be gone.
	if ok && isDone(e.ready) && e.err != nil {
		ok = false
	}
	if !ok {
		e = &entry{uid: uid, ready: make(chan struct{}), since: time.Now()}
		d.entries[uid] = e
		d.mu.Unlock()
		e.rt, e.hold, e.err = d.build(ctx, uid, prepared)
		close(e.ready)
	} else {
		d.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.rt, nil
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// build makes the runtime of uid, preparing it unless p is the plugin already prepared. The
// plugin's environment is held (kept from garbage collection) for as long as the entry
// exists; hold releases it.
func (d *Dispatcher) build(ctx context.Context, uid string, p *install.Prepared) (rt Runtime, hold func(), err error) {
	if p == nil {
		if pl, err := d.cfg.Plugins.GetPlugin(ctx, uid); err == nil && pl.InstallType == "remote" {
			return nil, nil, fmt.Errorf("%s is a remote-debugging plugin that is not connected now: %w", uid, ErrNotInstalled)
		} else if errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s: %w", uid, ErrNotInstalled)
		} else if err != nil {
			return nil, nil, err
		}
		// Preparing must not die with the first caller's request: others wait on it.
		if p, err = d.cfg.Workspace.Prepare(d.life, uid, nil); err != nil {
			return nil, nil, fmt.Errorf("preparing %s: %w", uid, err)
		}
	}
	if p.EnvKey != "" {
		if hold, err = d.cfg.Workspace.Hold(p.EnvKey); err != nil {
			d.log.Warn("cannot hold the plugin's environment; garbage collection may remove it", "plugin", uid, "err", err)
		}
	}
	lc := runtime.FromManifest(p.Plugin, p.Dir, p.Python)
	lc.DataDir = filepath.Join(d.cfg.DataDir, filepath.FromSlash(lc.PluginID))
	lc.Env = d.cfg.Env
	lc.IdleStop = d.cfg.IdleStop
	lc.Backwards = d.cfg.Backwards
	lc.Bounds = d.cfg.Bounds
	lc.Logger = d.log.With("plugin", uid)
	lc.Zygotes = d.cfg.Zygotes
	if d.cfg.StartTimeout > 0 {
		lc.StartTimeout = d.cfg.StartTimeout
	}
	lc.Isolation = d.cfg.Isolation
	lc.RestartBackoff, lc.CrashLoopBackoff, lc.CrashLoopBackoffMax = d.cfg.RestartBackoff, d.cfg.CrashLoopBackoff, d.cfg.CrashLoopBackoffMax
	return d.cfg.NewRuntime(runtime.PoolConfig{LocalConfig: lc, MaxInstances: d.cfg.MaxInstances}), hold, nil
}

// Invoke sends one request to the plugin uid and returns its result stream. The stream is
// measured: its end (or error) counts in the metrics.
func (d *Dispatcher) Invoke(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (*Stream, error) {
	start := time.Now()
	var (
		s   ResultStream
		err error
	)
	if a := d.attached(uid); a != nil {
		d.cfg.Metrics.begin(uid)
		var rs *runtime.Stream
		if rs, err = a.Invoke(ctx, access, action, data, ic); err == nil {
			s = rs
		}
	} else {
		rt, rerr := d.runtimeFor(ctx, uid, nil)
		if rerr != nil {
			d.cfg.Metrics.observe(uid, action, start, rerr)
			return nil, rerr
		}
		d.cfg.Metrics.begin(uid)
		s, err = rt.Invoke(ctx, access, action, data, ic)
	}
	if err != nil {
		d.cfg.Metrics.end(uid, action, start, err)
		return nil, err
	}
	return &Stream{s: s, m: d.cfg.Metrics, uid: uid, action: action, start: start}, nil
}

// Warm starts the plugin an install job has prepared, waiting until a process is ready: an
// install proves with it that the plugin starts before anyone can call it. The plugin need
// not be recorded as installed yet.
func (d *Dispatcher) Warm(ctx context.Context, p *install.Prepared) error {
	rt, err := d.runtimeFor(ctx, p.ID.String(), p)
	if err != nil {
		return err
	}
	return rt.Start(ctx)
}

// Release stops uid's processes and forgets it; the next request builds it again.
func (d *Dispatcher) Release(ctx context.Context, uid string) error {
	d.mu.Lock()
	e, ok := d.entries[uid]
	delete(d.entries, uid)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	<-e.ready
	d.cfg.Metrics.forget(uid)
	defer e.release()
	if e.rt != nil {
		return e.rt.Close(ctx)
	}
	return nil
}

// release lets go of the entry's environment.
func (e *entry) release() {
	if e.hold != nil {
		e.hold()
	}
}

// Reset clears uid's failed state at once: a crash loop's back-off, or a preparation that
// failed. The next request starts the plugin again. It reports whether uid was known.
func (d *Dispatcher) Reset(uid string) bool {
	d.mu.Lock()
	e, ok := d.entries[uid]
	if ok && isDone(e.ready) && e.err != nil {
		delete(d.entries, uid) // prepared again on the next request
	}
	d.mu.Unlock()
	if !ok {
		return false
	}
	if isDone(e.ready) && e.rt != nil {
		e.rt.Reset()
	}
	return true
}

// Reconcile prepares every installed plugin (extracting packages and building environments
// a fresh machine lacks) without starting any, so the first request after a restart does not
// pay for it. It returns when all are done; failures show in Readiness.
func (d *Dispatcher) Reconcile(ctx context.Context) error {
	plugins, err := d.cfg.Plugins.ListPlugins(ctx)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(d.cfg.PrepareConcurrency)
	for _, p := range plugins {
		if p.InstallType != "" && p.InstallType != "local" {
			continue
		}
		g.Go(func() error {
			if _, err := d.runtimeFor(ctx, p.UniqueIdentifier, nil); err != nil {
				d.log.Warn("installed plugin cannot be prepared", "plugin", p.UniqueIdentifier, "err", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	return ctx.Err()
}

// WarmRecent starts the n installed plugins used most recently, as told by the modification
// time of their plugin.log (written at every start, stop and log line), one at a time, and
// returns how many started. Plugins never run on this machine are not started.
func (d *Dispatcher) WarmRecent(ctx context.Context, n int) int {
	plugins, err := d.cfg.Plugins.ListPlugins(ctx)
	if err != nil {
		d.log.Warn("listing plugins to warm", "err", err)
		return 0
	}
	type recent struct {
		uid  string
		used time.Time
	}
	var rs []recent
	for _, p := range plugins {
		if p.InstallType != "" && p.InstallType != "local" {
			continue
		}
		id, err := install.ParseIdentifier(p.UniqueIdentifier)
		if err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(d.cfg.DataDir, filepath.FromSlash(id.PluginID()), "logs", "plugin.log"))
		if err != nil {
			continue
		}
		rs = append(rs, recent{p.UniqueIdentifier, fi.ModTime()})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].used.After(rs[j].used) })
	started := 0
	for _, r := range rs[:min(n, len(rs))] {
		rt, err := d.runtimeFor(ctx, r.uid, nil)
		if err == nil {
			err = rt.Start(ctx)
		}
		if err != nil {
			d.log.Warn("warming a recently used plugin", "plugin", r.uid, "err", err)
			continue
		}
		started++
	}
	return started
}

// State is one plugin's state for the readiness route.
type State struct {
	UniqueIdentifier string `json:"plugin_unique_identifier"`
	// State is idle (servable, no process: started by the next request), preparing,
	// starting, ready, restarting or failed.
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
	Processes int    `json:"processes"`
	InFlight  int    `json:"in_flight"`
	RSS       int64  `json:"rss_bytes"`
	Remote    bool   `json:"remote,omitempty"` // attached for remote debugging
}

// stateRank orders a pool's instance states: the plugin shows its most advanced instance's.
var stateRank = map[runtime.State]int{runtime.StateStopped: 0, runtime.StateFailed: 1, runtime.StateRestarting: 2, runtime.StateStarting: 3, runtime.StateReady: 4}

// Readiness reports every plugin this dispatcher knows, sorted by identifier.
func (d *Dispatcher) Readiness() []State {
	d.mu.Lock()
	entries := make([]*entry, 0, len(d.entries))
	for _, e := range d.entries {
		entries = append(entries, e)
	}
	remotes := make(map[string]Attached, len(d.remotes))
	for uid, a := range d.remotes {
		remotes[uid] = a
	}
	d.mu.Unlock()
	out := make([]State, 0, len(entries)+len(remotes))
	for uid, a := range remotes {
		s := a.Status()
		out = append(out, State{UniqueIdentifier: uid, State: "ready", Remote: true, InFlight: s.InFlight})
	}
	for _, e := range entries {
		st := State{UniqueIdentifier: e.uid, State: "preparing"}
		if isDone(e.ready) {
			if e.err != nil {
				st.State, st.Error = "failed", e.err.Error()
			} else {
				st.State = "idle"
				best := -1
				for _, s := range e.rt.Status() {
					if s.PID != 0 {
						st.Processes++
					}
					st.InFlight += s.InFlight
					st.RSS += s.RSS
					if r := stateRank[s.State]; r > best {
						best = r
						switch s.State {
						case runtime.StateStopped:
							st.State = "idle"
						default:
							st.State = string(s.State)
						}
						if s.LastError != nil && s.State == runtime.StateFailed {
							st.Error = s.LastError.Error()
						}
					}
				}
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UniqueIdentifier < out[j].UniqueIdentifier })
	return out
}

// Close stops every plugin.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.end()
	entries := d.entries
	d.entries = map[string]*entry{}
	remotes := d.remotes
	d.remotes = map[string]Attached{}
	d.mu.Unlock()
	var errs []error
	for _, a := range remotes {
		errs = append(errs, a.Close(ctx))
	}
	for _, e := range entries {
		<-e.ready
		if e.rt != nil {
			errs = append(errs, e.rt.Close(ctx))
		}
		e.release()
	}
	if d.cfg.Zygotes != nil {
		errs = append(errs, d.cfg.Zygotes.Close(ctx))
	}
	return errors.Join(errs...)
}

// Stream is a plugin's result stream, measured.
type Stream struct {
	s      ResultStream
	m      *Metrics
	uid    string
	action wire.Action
	start  time.Time
	once   sync.Once
}

// Next is runtime.Stream.Next.
func (s *Stream) Next() (wire.SessionMessage, error) {
	msg, err := s.s.Next()
	if err != nil {
		s.finish(err)
	}
	return msg, err
}

// Close gives up on the stream.
func (s *Stream) Close() {
	s.s.Close()
	s.finish(context.Canceled)
}

func (s *Stream) finish(err error) {
	s.once.Do(func() {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		s.m.end(s.uid, s.action, s.start, err)
	})
}
