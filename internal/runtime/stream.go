package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// maxBackwardsPerRequest bounds the backwards invocations of one request answered at once.
// A plugin that asks for more waits, and so does the reading of its results: backpressure
// rather than an unbounded number of goroutines.
const maxBackwardsPerRequest = 16

// InvokeContext says whom a request is for and where it comes from. It fills the envelope's
// routing fields and the Caller that backwards invocations see.
type InvokeContext struct {
	TenantID string
	UserID   string
	// Optional; empty ones are sent as null.
	ConversationID, MessageID, AppID, EndpointID string
	// Session is the SDK's SessionContext (the envelope's "context"), forwarded as is.
	Session json.RawMessage
}

// Invoke sends one request and returns its results as a Stream. data holds the request's own
// fields as a JSON object; type, action and user_id are set from access, action and
// ic.UserID. The plugin is started first if it is not running. ctx bounds the whole request:
// its deadline is the request's deadline, and cancelling it abandons the request.
func (l *Local) Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic InvokeContext) (*Stream, error) {
	env, err := requestEnvelope(access, action, data, ic)
	if err != nil {
		return nil, err
	}
	return l.open(ctx, access, env, ic)
}

// InvokePayload is Invoke with a typed request.
func (l *Local) InvokePayload(ctx context.Context, p wire.Payload, ic InvokeContext) (*Stream, error) {
	env, access, err := payloadEnvelope(p, ic)
	if err != nil {
		return nil, err
	}
	return l.open(ctx, access, env, ic)
}

func (l *Local) open(ctx context.Context, access wire.AccessType, env wire.Envelope, ic InvokeContext) (*Stream, error) {
	inst, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	return openStream(ctx, localOwner{l, inst}, inst.conn, access, env, ic, l.cfg.Permissions)
}

// requestEnvelope is the request of Invoke: data with type, action and user_id set. It refuses
// an action of another access type and data that is not an object before anything is sent.
func requestEnvelope(access wire.AccessType, action wire.Action, data json.RawMessage, ic InvokeContext) (wire.Envelope, error) {
	if t, ok := action.AccessType(); ok && t != access {
		return wire.Envelope{}, fmt.Errorf("%w: action %s belongs to type %s, not %s", wire.ErrMalformed, action, t, access)
	}
	fields := map[string]json.RawMessage{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
			return wire.Envelope{}, fmt.Errorf("%w: request data must be a JSON object", wire.ErrMalformed)
		}
	}
	for k, v := range map[string]string{"type": string(access), "action": string(action), "user_id": ic.UserID} {
		fields[k], _ = json.Marshal(v)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return wire.Envelope{}, fmt.Errorf("%w: request data: %v", wire.ErrMalformed, err)
	}
	return wire.Envelope{SessionID: wire.NewSessionID(), Data: body}, nil
}

// payloadEnvelope is the request of InvokePayload and its access type.
func payloadEnvelope(p wire.Payload, ic InvokeContext) (wire.Envelope, wire.AccessType, error) {
	env, err := wire.NewRequest(wire.NewSessionID(), ic.UserID, p)
	if err != nil {
		return wire.Envelope{}, "", err
	}
	access, _ := p.Action().AccessType()
	return env, access, nil
}

// streamOwner is what a Stream needs from whatever serves its request: a Local's process
// (localOwner) or a remote plugin's connection (*Remote). The Stream itself only speaks the
// protocol; who runs the plugin, how its end is explained and what counts the request in
// flight are the owner's.
type streamOwner interface {
	pluginID() string
	backwards() Backwards // nil answers every backwards invocation with an error
	logger() *slog.Logger
	// release ends the request's count in flight. The Stream calls it once, when it ends.
	release()
	// explain turns a session's failure (never io.EOF) into the error the caller reads.
	explain(err error) error
	// requestErr is the error of a request the plugin reported failed.
	requestErr(serr *wire.SessionError) error
}

// openStream sends the request env on conn, on behalf of o, whose in-flight count the caller
// has already taken: it is released here when the request cannot be sent.
func openStream(ctx context.Context, o streamOwner, conn *wire.Conn, access wire.AccessType, env wire.Envelope, ic InvokeContext, perms *manifest.Permission) (*Stream, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	env.ConversationID, env.MessageID, env.AppID, env.EndpointID = opt(ic.ConversationID), opt(ic.MessageID), opt(ic.AppID), opt(ic.EndpointID)
	env.Context = ic.Session
	sess, err := conn.Open(ctx, env)
	if err != nil {
		o.release()
		// Not retried on a new process even when the request never got through: it may be
		// what killed this one.
		return nil, o.explain(fmt.Errorf("sending the request: %w", err))
	}
	sctx, cancel := context.WithCancel(ctx)
	return &Stream{
		owner: o, sess: sess, ctx: sctx, cancel: cancel,
		slots: make(chan struct{}, maxBackwardsPerRequest),
		caller: backwards.Caller{
			PluginID: o.pluginID(), TenantID: ic.TenantID, UserID: ic.UserID, SessionID: sess.ID(),
			Access: access, Permissions: perms,
		},
	}, nil
}

// localOwner is a Local's request on one of its processes.
type localOwner struct {
	l    *Local
	inst *instance
}

func (o localOwner) pluginID() string        { return o.l.cfg.PluginID }
func (o localOwner) backwards() Backwards    { return o.l.cfg.Backwards }
func (o localOwner) logger() *slog.Logger    { return o.l.log }
func (o localOwner) release()                { o.l.release() }
func (o localOwner) explain(err error) error { return o.inst.explain(err) }

// requestErr: under RLIMIT_DATA a request that goes past the limit fails with Python's
// MemoryError while the process lives on; say so, for the message alone says nothing.
func (o localOwner) requestErr(serr *wire.SessionError) error {
	if serr.ErrorType == "MemoryError" && o.inst.lim.mode == "rlimit" {
		return fmt.Errorf("plugin %s: %w: the request ran out of memory at the plugin's limit of %s (resource.memory, enforced by RLIMIT_DATA): %w",
			o.l.cfg.PluginID, ErrMemoryLimit, formatBytes(o.inst.lim.bytes), serr)
	}
	return fmt.Errorf("plugin %s: %w", o.l.cfg.PluginID, serr)
}

// Stream is the result of one request. Next yields its items; backwards invocations are
// answered inside the Stream and never reach the caller. Call Close when giving up early.
type Stream struct {
	owner  streamOwner
	sess   *wire.Session
	caller backwards.Caller
	ctx    context.Context // ends with the stream, cancelling backwards calls in progress
	cancel context.CancelFunc
	slots  chan struct{}

	mu   sync.Mutex
	err  error // set once the stream has ended
	done bool
}

// SessionID is the request's session id, as the plugin sees it.
func (s *Stream) SessionID() string { return s.sess.ID() }

// Next returns the next result item (a stream item: a tool message, an LLM chunk, ...).
// At the end it returns io.EOF. When the plugin failed the request it returns an error
// wrapping the plugin's *wire.SessionError; when the process ended, an *ExitError (when a
// Remote's connection ended, an error matching ErrDisconnected); when the caller's context
// ended, an error wrapping its cause. Errors are sticky. Next is for one goroutine.
func (s *Stream) Next() (wire.SessionMessage, error) {
	if err := s.ended(); err != nil {
		return wire.SessionMessage{}, err
	}
	for {
		m, err := s.sess.Next()
		if err != nil {
			return wire.SessionMessage{}, s.finish(s.explain(err))
		}
		switch m.Type {
		case wire.MessageInvoke:
			inv, err := m.Invocation()
			if err != nil {
				// Without an id there is no one to answer; the reference fails the request too.
				s.sess.Close()
				return wire.SessionMessage{}, s.finish(fmt.Errorf("plugin %s: unreadable backwards invocation: %w", s.owner.pluginID(), err))
			}
			if err := s.serve(inv); err != nil {
				return wire.SessionMessage{}, s.finish(err)
			}
		case wire.MessageError:
			serr, err := m.AsError()
			if err != nil {
				serr = &wire.SessionError{Message: string(m.Data)}
			}
			return wire.SessionMessage{}, s.finish(s.owner.requestErr(serr))
		default:
			return m, nil
		}
	}
}

// Close abandons the request. The plugin is not told (the protocol cannot cancel); its late
// lines are dropped.
func (s *Stream) Close() {
	s.sess.Close()
	s.finish(fmt.Errorf("plugin %s: %w", s.owner.pluginID(), wire.ErrSessionClosed))
}

func (s *Stream) ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// finish ends the stream once: later calls keep the first error.
func (s *Stream) finish(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.err
	}
	s.done, s.err = true, err
	s.cancel()
	s.owner.release()
	return err
}

// explain turns a session's failure into what the caller should read.
func (s *Stream) explain(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	return s.owner.explain(err)
}

// serve answers one backwards invocation in its own goroutine, so the request's results keep
// flowing while it runs (a tool streaming an LLM it invoked). Results go back as response
// events, a failure as an error event, and an end event always follows.
func (s *Stream) serve(inv wire.Invocation) error {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return fmt.Errorf("plugin %s: %w", s.owner.pluginID(), context.Cause(s.ctx))
	}
	go func() {
		defer func() { <-s.slots }()
		err := s.callBackwards(inv)
		if err != nil {
			s.owner.logger().Debug("backwards invocation failed", "type", inv.Type, "session", s.SessionID(), "err", err)
			s.sess.Respond(s.ctx, wire.BackwardsError(inv.RequestID, err.Error()))
		}
		s.sess.Respond(s.ctx, wire.BackwardsEnd(inv.RequestID))
	}()
	return nil
}

func (s *Stream) callBackwards(inv wire.Invocation) (err error) {
	h := s.owner.backwards()
	if h == nil {
		return fmt.Errorf("%q is not available: this daemon answers no backwards invocations", inv.Type)
	}
	defer func() {
		// A bug in a handler must fail one invocation, not the daemon.
		if r := recover(); r != nil {
			s.owner.logger().Error("backwards handler panicked", "type", inv.Type, "panic", r)
			err = fmt.Errorf("internal error while answering %q", inv.Type)
		}
	}()
	msg := inv.Type.ResponseMessage()
	return h.Invoke(s.ctx, s.caller, inv, func(data json.RawMessage) error {
		return s.sess.Respond(s.ctx, wire.BackwardsResult(inv.RequestID, msg, data))
	})
}
