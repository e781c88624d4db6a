package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/plugd/plugd/internal/backwards"
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
	if t, ok := action.AccessType(); ok && t != access {
		return nil, fmt.Errorf("%w: action %s belongs to type %s, not %s", wire.ErrMalformed, action, t, access)
	}
	fields := map[string]json.RawMessage{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
			return nil, fmt.Errorf("%w: request data must be a JSON object", wire.ErrMalformed)
		}
	}
	for k, v := range map[string]string{"type": string(access), "action": string(action), "user_id": ic.UserID} {
		fields[k], _ = json.Marshal(v)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: request data: %v", wire.ErrMalformed, err)
	}
	return l.open(ctx, access, wire.Envelope{SessionID: wire.NewSessionID(), Data: body}, ic)
}

// InvokePayload is Invoke with a typed request.
func (l *Local) InvokePayload(ctx context.Context, p wire.Payload, ic InvokeContext) (*Stream, error) {
	env, err := wire.NewRequest(wire.NewSessionID(), ic.UserID, p)
	if err != nil {
		return nil, err
	}
	access, _ := p.Action().AccessType()
	return l.open(ctx, access, env, ic)
}

func (l *Local) open(ctx context.Context, access wire.AccessType, env wire.Envelope, ic InvokeContext) (*Stream, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	env.ConversationID, env.MessageID, env.AppID, env.EndpointID = opt(ic.ConversationID), opt(ic.MessageID), opt(ic.AppID), opt(ic.EndpointID)
	env.Context = ic.Session
	inst, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := inst.conn.Open(ctx, env)
	if err != nil {
		l.release()
		// Not retried on a new process even when the request never got through: it may be
		// what killed this one.
		return nil, inst.explain(fmt.Errorf("sending the request: %w", err))
	}
	sctx, cancel := context.WithCancel(ctx)
	return &Stream{
		l: l, inst: inst, sess: sess, ctx: sctx, cancel: cancel,
		slots: make(chan struct{}, maxBackwardsPerRequest),
		caller: backwards.Caller{
			PluginID: l.cfg.PluginID, TenantID: ic.TenantID, UserID: ic.UserID, SessionID: sess.ID(),
			Access: access, Permissions: l.cfg.Permissions,
		},
	}, nil
}

// Stream is the result of one request. Next yields its items; backwards invocations are
// answered inside the Stream and never reach the caller. Call Close when giving up early.
type Stream struct {
	l      *Local
	inst   *instance
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
// wrapping the plugin's *wire.SessionError; when the process ended, an *ExitError; when the
// caller's context ended, an error wrapping its cause. Errors are sticky. Next is for one
// goroutine.
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
				return wire.SessionMessage{}, s.finish(fmt.Errorf("plugin %s: unreadable backwards invocation: %w", s.l.cfg.PluginID, err))
			}
			if err := s.serve(inv); err != nil {
				return wire.SessionMessage{}, s.finish(err)
			}
		case wire.MessageError:
			serr, err := m.AsError()
			if err != nil {
				serr = &wire.SessionError{Message: string(m.Data)}
			}
			return wire.SessionMessage{}, s.finish(s.requestErr(serr))
		default:
			return m, nil
		}
	}
}

// Close abandons the request. The plugin is not told (the protocol cannot cancel); its late
// lines are dropped.
func (s *Stream) Close() {
	s.sess.Close()
	s.finish(fmt.Errorf("plugin %s: %w", s.l.cfg.PluginID, wire.ErrSessionClosed))
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
	s.l.release()
	return err
}

// explain turns a session's failure into what the caller should read.
func (s *Stream) explain(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	return s.inst.explain(err)
}

// requestErr is the error for a request the plugin reported failed. Under RLIMIT_DATA a
// request that goes past the limit fails with Python's MemoryError while the process lives
// on; say so, for the message alone says nothing.
func (s *Stream) requestErr(serr *wire.SessionError) error {
	if serr.ErrorType == "MemoryError" && s.inst.lim.mode == "rlimit" {
		return fmt.Errorf("plugin %s: %w: the request ran out of memory at the plugin's limit of %s (resource.memory, enforced by RLIMIT_DATA): %w",
			s.l.cfg.PluginID, ErrMemoryLimit, formatBytes(s.inst.lim.bytes), serr)
	}
	return fmt.Errorf("plugin %s: %w", s.l.cfg.PluginID, serr)
}

// serve answers one backwards invocation in its own goroutine, so the request's results keep
// flowing while it runs (a tool streaming an LLM it invoked). Results go back as response
// events, a failure as an error event, and an end event always follows.
func (s *Stream) serve(inv wire.Invocation) error {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return fmt.Errorf("plugin %s: %w", s.l.cfg.PluginID, context.Cause(s.ctx))
	}
	go func() {
		defer func() { <-s.slots }()
		err := s.callBackwards(inv)
		if err != nil {
			s.l.log.Debug("backwards invocation failed", "type", inv.Type, "session", s.SessionID(), "err", err)
			s.sess.Respond(s.ctx, wire.BackwardsError(inv.RequestID, err.Error()))
		}
		s.sess.Respond(s.ctx, wire.BackwardsEnd(inv.RequestID))
	}()
	return nil
}

func (s *Stream) callBackwards(inv wire.Invocation) (err error) {
	h := s.l.cfg.Backwards
	if h == nil {
		return fmt.Errorf("%q is not available: this daemon answers no backwards invocations", inv.Type)
	}
	defer func() {
		// A bug in a handler must fail one invocation, not the daemon.
		if r := recover(); r != nil {
			s.l.log.Error("backwards handler panicked", "type", inv.Type, "panic", r)
			err = fmt.Errorf("internal error while answering %q", inv.Type)
		}
	}()
	msg := inv.Type.ResponseMessage()
	return h.Invoke(s.ctx, s.caller, inv, func(data json.RawMessage) error {
		return s.sess.Respond(s.ctx, wire.BackwardsResult(inv.RequestID, msg, data))
	})
}
