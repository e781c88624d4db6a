package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/plugd/plugd/internal/wire"
)

// PoolConfig configures a Pool: the Local that every instance runs, and when instances are
// added and removed.
type PoolConfig struct {
	// LocalConfig is every instance's configuration. IdleStop applies to the first instance
	// only (it is the plugin's idle stop); extra instances stop after ScaleDownAfter.
	LocalConfig

	// MaxInstances bounds the plugin's processes. Default: the number of CPUs, at most 4.
	// One SDK process runs its requests as gevent greenlets on one thread, so it uses at most
	// one core; more instances than cores cannot help. 1 makes the Pool a single Local.
	MaxInstances int
	// ScaleUpInFlight starts one more instance (up to MaxInstances) when a request arrives and
	// every ready instance already has at least this many requests in flight. Default 8.
	ScaleUpInFlight int
	// ScaleDownAfter stops an extra instance that has had no request in flight for this
	// long. Default 1 minute.
	ScaleDownAfter time.Duration
}

func (c PoolConfig) withDefaults() PoolConfig {
	c.LocalConfig = c.LocalConfig.withDefaults()
	if c.MaxInstances <= 0 {
		c.MaxInstances = min(goruntime.NumCPU(), 4)
	}
	if c.ScaleUpInFlight <= 0 {
		c.ScaleUpInFlight = 8
	}
	if c.ScaleDownAfter <= 0 {
		c.ScaleDownAfter = time.Minute
	}
	return c
}

// Pool runs one plugin as up to MaxInstances supervised processes, each a Local, and sends
// each request to the ready instance with the fewest requests in flight.
//
// Why: the SDK serves all of a process's requests on one thread, so a busy plugin is bound
// by one core whatever its worker count (MAX_WORKER, 1000 greenlets by default, is never the
// limit). docs/benchmarks.md measures it: a streaming LLM plugin under 100 callers is
// CPU-bound in one process.
//
// Instances are added one at a time: when a request finds every ready instance at
// ScaleUpInFlight requests or more, one more is started in the background, and the request
// goes to the least-loaded ready instance meanwhile rather than waiting for a cold start.
// Ties go to the lowest-numbered instance, so under light load the extra instances get no
// work, and each stops after ScaleDownAfter without a request; the next scale-up starts it
// again. The first instance starts lazily on the first request and obeys IdleStop, as a
// Local does.
//
// Each instance is a Local in full: its own process, memory limit (so the plugin may use
// MaxInstances times resource.memory), restarts and crash-loop detection. A crash fails the
// requests in flight on that instance only; the others go on, and new requests avoid it
// until it is ready again. The instances share the plugin's DataDir (HOME, TMPDIR) and its
// plugin.log, where each line carries the pid. All methods are safe for concurrent use.
type Pool struct {
	cfg  PoolConfig
	plog *logFile

	mu      sync.Mutex
	members []*member // created on demand, never removed; index = instance number
	closed  bool
}

type member struct {
	l       *Local
	pending int // under Pool.mu: requests routed here whose Invoke has not returned yet
}

// NewPool returns a Pool with no process running; the first request (or Start) starts the
// first instance.
func NewPool(cfg PoolConfig) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg}
	p.plog = &logFile{dir: filepath.Join(cfg.DataDir, "logs"), max: cfg.LogMaxBytes}
	p.members = []*member{{l: newLocal(cfg.LocalConfig, p.plog)}}
	return p
}

// load is the state of l and its requests in flight, cheaply (no /proc reads, unlike
// Status). A ready instance whose process has just ended counts as restarting.
func (l *Local) load() (State, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state
	if st == StateReady && (l.inst == nil || l.inst.gone()) {
		st = StateRestarting
	}
	return st, l.inflight
}

// pick chooses the instance for one request and counts it as pending there; done must be
// called once the request has been handed to the instance. It may start another instance.
func (p *Pool) pick() (m *member, done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best, waiting, stopped *member
	bestLoad, running, starting := 0, 0, false
	for _, m := range p.members {
		st, inflight := m.l.load()
		switch st {
		case StateReady:
			running++
			if load := inflight + m.pending; best == nil || load < bestLoad {
				best, bestLoad = m, load
			}
		case StateStarting, StateRestarting:
			running++
			starting = starting || st == StateStarting
			if waiting == nil {
				waiting = m
			}
		case StateStopped:
			if stopped == nil {
				stopped = m
			}
		}
	}
	if best != nil && bestLoad >= p.cfg.ScaleUpInFlight && running < p.cfg.MaxInstances && !starting && !p.closed {
		p.scaleUpLocked()
	}
	switch {
	case best != nil:
	case waiting != nil: // none ready: wait for the one that is starting
		best = waiting
	case stopped != nil: // nothing runs: start one lazily, the lowest-numbered
		best = stopped
	default: // every instance has failed: the first says why
		best = p.members[0]
	}
	best.pending++
	return best, func() {
		p.mu.Lock()
		best.pending--
		p.mu.Unlock()
	}
}

// scaleUpLocked starts another instance in the background: one that stopped when idle (the
// lowest-numbered, the first included: it stops after IdleStop), or a new one.
func (p *Pool) scaleUpLocked() {
	var m *member
	n := -1
	for i, c := range p.members {
		if st, _ := c.l.load(); st == StateStopped {
			m, n = c, i
			break
		}
	}
	if m == nil {
		if len(p.members) >= p.cfg.MaxInstances {
			return // the others have failed; their back-off or Reset brings them back
		}
		n = len(p.members)
		cfg := p.cfg.LocalConfig
		cfg.IdleStop = p.cfg.ScaleDownAfter
		cfg.Logger = cfg.Logger.With("instance", n)
		m = &member{l: newLocal(cfg, p.plog)}
		p.members = append(p.members, m)
	}
	m.l.log.Info("plugin busy; starting another instance", "instance", n, "max", p.cfg.MaxInstances)
	// startLocked only marks the instance starting (so the next picks do not start another)
	// and spawns in the background: neither the Pool's lock nor the instance's, which every
	// request takes, is held while the process is forked.
	m.l.mu.Lock()
	if !m.l.closed && m.l.state == StateStopped {
		m.l.startLocked()
	}
	m.l.mu.Unlock()
}

// Start starts the first instance if no instance is running and waits until one is ready.
func (p *Pool) Start(ctx context.Context) error {
	m, done := p.pick()
	done()
	return m.l.Start(ctx)
}

// Invoke sends one request to the least-loaded ready instance; see Local.Invoke.
func (p *Pool) Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic InvokeContext) (*Stream, error) {
	m, done := p.pick()
	defer done()
	return m.l.Invoke(ctx, access, action, data, ic)
}

// InvokePayload is Invoke with a typed request.
func (p *Pool) InvokePayload(ctx context.Context, pl wire.Payload, ic InvokeContext) (*Stream, error) {
	m, done := p.pick()
	defer done()
	return m.l.InvokePayload(ctx, pl, ic)
}

// Status returns a snapshot of each instance, by instance number; instances that were never
// started are not listed.
func (p *Pool) Status() []Status {
	p.mu.Lock()
	members := append([]*member(nil), p.members...)
	p.mu.Unlock()
	out := make([]Status, len(members))
	for i, m := range members {
		out[i] = m.l.Status()
	}
	return out
}

// LogFile is the plugin's log, shared by its instances.
func (p *Pool) LogFile() string { return p.plog.Path() }

// Stop stops every instance (see Local.Stop); the Pool stays usable.
func (p *Pool) Stop(ctx context.Context) error {
	return p.each(func(l *Local) error { return l.Stop(ctx) })
}

// Close stops every instance for good; requests fail with ErrClosed from then on.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.each(func(l *Local) error { return l.Close(ctx) })
	p.plog.close()
	return err
}

// Reset clears failed instances (see Local.Reset).
func (p *Pool) Reset() {
	p.each(func(l *Local) error { l.Reset(); return nil })
}

// each runs fn on every instance at once and joins the errors.
func (p *Pool) each(fn func(*Local) error) error {
	p.mu.Lock()
	members := append([]*member(nil), p.members...)
	p.mu.Unlock()
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			if err := fn(m.l); err != nil {
				errs[i] = fmt.Errorf("instance %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
