package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// ErrDisconnected: a remote plugin's connection has ended. Its requests in flight fail with
// it, and so does every request after; the error says why (the plugin closed the connection,
// a read or write failed, no heartbeat within RemoteConfig.HeartbeatTimeout, or the daemon
// closed it).
var ErrDisconnected = errors.New("remote plugin disconnected")

// errNotReading: a write to a remote plugin was blocked for the heartbeat timeout.
var errNotReading = errors.New("the plugin stopped reading its connection")

// RemoteConfig configures a Remote. PluginID is required; every other zero value means the
// default given beside it.
type RemoteConfig struct {
	PluginID string // author/name: in errors and logs, and the key of plugin storage
	// Permissions is the manifest's resource.permission, checked on backwards invocations.
	Permissions *manifest.Permission
	// Backwards answers backwards invocations; nil answers each with an error.
	Backwards Backwards
	Logger    *slog.Logger // default slog.Default()
	// HeartbeatTimeout is the silence after which the connection is closed; default 60 s, as
	// the reference. The SDK beats every 10 s, and the daemon cannot change that for a
	// plugin it did not start: keep this well above 10 s outside tests.
	HeartbeatTimeout time.Duration
	// SessionBuffer bounds what one request may hold unread (wire.Options.SessionBuffer).
	SessionBuffer int
	// Bounds bound the memory the connection's messages take (line length, budgets).
	Bounds wire.Bounds
}

func (c RemoteConfig) withDefaults() RemoteConfig {
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Remote serves requests over the connection of a plugin that runs elsewhere: remote
// debugging, where the author runs the plugin with INSTALL_METHOD=remote and the SDK dials
// the daemon. Once registration is over the connection carries the stdio protocol, so
// requests, results and backwards invocations are exactly those of a Local; what differs is
// the lifecycle. A Remote has no process to start, restart or stop: it is ready from
// NewRemote until the connection ends, and then it is over for good (a plugin that
// reconnects registers again and gets a new Remote). All methods are safe for concurrent use.
type Remote struct {
	cfg   RemoteConfig
	log   *slog.Logger
	conn  *wire.Conn
	since time.Time
	gate  slogGate // bounds the plugin lines copied to the logger

	lastSeen atomic.Int64 // unix nanoseconds of the last bytes read
	writing  atomic.Int64 // unix nanoseconds since a write has been blocked; 0 when none is

	done chan struct{} // closed once err is set

	mu       sync.Mutex
	inflight int
	err      error // why the connection ended; nil while it lives
}

// NewRemote serves the plugin on an established connection whose registration has been read.
// r is the rest of the connection, which may be a *bufio.Reader still holding bytes read past
// the registration; conn is the connection, written to and closed by the Remote.
func NewRemote(cfg RemoteConfig, r io.Reader, conn io.WriteCloser) *Remote {
	cfg = cfg.withDefaults()
	rm := &Remote{
		cfg:   cfg,
		log:   cfg.Logger.With("plugin", cfg.PluginID),
		since: time.Now(),
		done:  make(chan struct{}),
	}
	rm.lastSeen.Store(rm.since.UnixNano())
	// Every byte read counts as a sign of life, not only heartbeats: a plugin sending one
	// long line holds its heartbeats back meanwhile. The reader has no Close: closing conn
	// ends both directions.
	rm.conn = wire.NewConn(&liveReader{r: r, seen: &rm.lastSeen, ack: ackNow(conn)}, &watchedWriter{w: conn, since: &rm.writing},
		wire.Options{OnEvent: rm.onEvent, SessionBuffer: cfg.SessionBuffer, Bounds: cfg.Bounds})
	go rm.watch()
	return rm
}

// liveReader notes the time of every read, as activityReader does for a process's stdout,
// and has what was read acknowledged at once (see ackNow).
type liveReader struct {
	r    io.Reader
	seen *atomic.Int64
	ack  func() // nil when the connection is no TCP socket
}

func (r *liveReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.seen.Store(time.Now().UnixNano())
		if r.ack != nil {
			r.ack()
		}
	}
	return n, err
}

// watch closes the connection when the plugin has been silent, or has not read what it was
// sent, for the heartbeat timeout, and records why the connection ended once it has.
func (r *Remote) watch() {
	timeout := r.cfg.HeartbeatTimeout
	tick := time.NewTicker(min(max(timeout/4, 10*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	var reason error // why the daemon ended it, if it did
	for {
		select {
		case <-r.conn.Done():
			r.end(reason)
			return
		case <-tick.C:
			if reason != nil {
				continue
			}
			if r.conn.Backpressured() {
				r.lastSeen.Store(time.Now().UnixNano()) // held back by slow callers (wire.Bounds)
			}
			if time.Since(time.Unix(0, r.lastSeen.Load())) > timeout {
				reason = fmt.Errorf("%w (%s)", ErrHeartbeatTimeout, timeout)
			} else if w := r.writing.Load(); w != 0 && time.Since(time.Unix(0, w)) > timeout {
				reason = fmt.Errorf("%w: a write was blocked for %s", errNotReading, timeout)
			}
			if reason != nil {
				r.conn.Close() // fails the sessions; explain waits for end to give them reason
			}
		}
	}
}

// end records why the connection ended: reason when the daemon ended it for one, else the
// Conn's own error (the plugin's EOF, a read or write error, Close).
func (r *Remote) end(reason error) {
	cause := reason
	if cause == nil {
		cause = r.conn.Err() // wire.ErrPluginExited wrapping the cause
		if errs, ok := cause.(interface{ Unwrap() []error }); ok {
			if u := errs.Unwrap(); len(u) == 2 && u[0] == wire.ErrPluginExited {
				cause = u[1] // "wire: plugin stream ended" says nothing here
			}
		}
	}
	err := &disconnectError{plugin: r.cfg.PluginID, cause: cause}
	r.mu.Lock()
	r.err = err
	inflight := r.inflight
	r.mu.Unlock()
	level := slog.LevelInfo
	if reason != nil {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "remote plugin disconnected", "why", cause, "in_flight", inflight,
		"connected_for", time.Since(r.since).Round(time.Millisecond))
	close(r.done)
}

// disconnectError is Remote.Err: it matches ErrDisconnected, wire.ErrPluginExited (as a
// Local's *ExitError does, so callers handle both ends of a plugin alike) and the cause.
type disconnectError struct {
	plugin string
	cause  error
}

func (e *disconnectError) Error() string {
	return fmt.Sprintf("plugin %s: %v: %v", e.plugin, ErrDisconnected, e.cause)
}

func (e *disconnectError) Unwrap() []error {
	return []error{ErrDisconnected, wire.ErrPluginExited, e.cause}
}

// Done is closed when the connection has ended: the plugin closed it, a read or write failed,
// the heartbeat timeout passed, or Close. Err then says why.
func (r *Remote) Done() <-chan struct{} { return r.done }

// Err is nil while the connection lives, and afterwards why it ended: an error matching
// ErrDisconnected and wire.ErrPluginExited, and ErrHeartbeatTimeout when that was why.
func (r *Remote) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close closes the connection. Requests in flight fail at once with ErrDisconnected (closed
// by the daemon). It waits until they have been failed, or until ctx ends.
func (r *Remote) Close(ctx context.Context) error {
	r.conn.Close()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("plugin %s: close: %w", r.cfg.PluginID, context.Cause(ctx))
	}
}

// Status returns a snapshot: ready while connected, stopped after, with LastError saying why.
// PID, RSS and LogFile are left empty: the process is not the daemon's.
func (r *Remote) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Plugin: r.cfg.PluginID, State: StateReady, InFlight: r.inflight, LastError: r.err}
	if r.err != nil {
		s.State = StateStopped
	} else {
		s.Uptime = time.Since(r.since)
	}
	return s
}

// Invoke sends one request to the plugin and returns its results; see Local.Invoke. After the
// connection has ended it fails at once with Err.
func (r *Remote) Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic InvokeContext) (*Stream, error) {
	env, err := requestEnvelope(access, action, data, ic)
	if err != nil {
		return nil, err
	}
	return r.open(ctx, access, env, ic)
}

// InvokePayload is Invoke with a typed request.
func (r *Remote) InvokePayload(ctx context.Context, p wire.Payload, ic InvokeContext) (*Stream, error) {
	env, access, err := payloadEnvelope(p, ic)
	if err != nil {
		return nil, err
	}
	return r.open(ctx, access, env, ic)
}

func (r *Remote) open(ctx context.Context, access wire.AccessType, env wire.Envelope, ic InvokeContext) (*Stream, error) {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return nil, r.err
	}
	r.inflight++
	r.mu.Unlock()
	return openStream(ctx, r, r.conn, access, env, ic, r.cfg.Permissions)
}

// The Remote is the streamOwner of its requests.

func (r *Remote) pluginID() string     { return r.cfg.PluginID }
func (r *Remote) backwards() Backwards { return r.cfg.Backwards }
func (r *Remote) logger() *slog.Logger { return r.log }

func (r *Remote) release() {
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
}

// explain gives a session that failed because the connection ended the connection's error,
// which says why; the Conn fails its sessions a moment before watch records it.
func (r *Remote) explain(err error) error {
	if errors.Is(err, wire.ErrPluginExited) {
		<-r.done
		return r.Err()
	}
	return fmt.Errorf("plugin %s: %w", r.cfg.PluginID, err)
}

func (r *Remote) requestErr(serr *wire.SessionError) error {
	return fmt.Errorf("plugin %s: %w", r.cfg.PluginID, serr)
}

// onEvent runs on the Conn's reader for every line that is not a session item. The SDK keeps
// its own log records on the author's terminal in remote mode, but log and error events that
// do arrive go to the logger, bounded as a Local's are. There is no plugin.log: the plugin's
// output is its author's.
func (r *Remote) onEvent(ev wire.Event) {
	switch ev.Kind {
	case wire.KindLog:
		rec, err := ev.Log()
		if err != nil {
			copyToSlog(&r.gate, r.log, slog.LevelInfo, "plugin log", "line", clip(string(ev.Data), maxSlogLine))
			return
		}
		copyToSlog(&r.gate, r.log, slogLevel(rec.Level), clip(rec.Message, maxSlogLine), "source", "plugin log")
	case wire.KindError:
		msg := string(ev.Data)
		if pe, err := ev.PluginError(); err == nil {
			msg = pe.Message
		}
		copyToSlog(&r.gate, r.log, slog.LevelWarn, "plugin reported an error", "err", clip(msg, maxSlogLine))
	case wire.KindOutput, wire.KindManifest:
		copyToSlog(&r.gate, r.log, slog.LevelInfo, "plugin line that is no protocol message", "line", clip(string(ev.Line), maxSlogLine))
	case wire.KindUnrouted:
		r.log.Debug("plugin line for a finished session dropped", "session", ev.SessionID)
	}
}
