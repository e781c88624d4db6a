package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultSessionBuffer is the default of Options.SessionBuffer: room for a 20 MiB file in
// base64 chunks with plenty to spare, and still a bound.
const DefaultSessionBuffer = 64 << 20

// Options configure a Conn. The zero value is usable.
type Options struct {
	// OnEvent receives every line that is not routed to a session: heartbeats, logs, plugin
	// errors, the manifest line, other output, and session lines nobody is waiting for
	// (KindUnrouted, with the message left out). It is called on the reader goroutine, in
	// stream order, and blocks the reader while it runs.
	OnEvent func(Event)
	// SessionBuffer bounds, in bytes of message data, what one session may have queued and
	// not yet taken with Next; past it the session fails alone. 0 means DefaultSessionBuffer.
	SessionBuffer int
	Bounds
}

// Bounds bound the memory a Conn spends on what the plugin sends. The zero value bounds
// nothing but SessionBuffer.
type Bounds struct {
	// MaxLine bounds one plugin line in bytes; a longer line breaks the Conn with
	// ErrLineTooLong. 0 means no bound.
	MaxLine int
	// ConnBuffer bounds, in bytes of message data, what all sessions of the Conn have queued
	// and not yet taken; Shared does the same across Conns. When either is spent the Conn
	// stops reading until callers take messages: the plugin is slowed (its writes block),
	// nothing is dropped. A message larger than a budget waits until the budget is whole.
	ConnBuffer int64
	Shared     *Budget
	// LargeLine and OnLargeLine: OnLargeLine is called (on the reader goroutine) after a
	// line of LargeLine bytes or more was read, so that the daemon can return the memory
	// such a line took to the system once it is no longer used.
	LargeLine   int
	OnLargeLine func(n int)
}

// Budget is a number of bytes shared by Conns; see Bounds. Safe for concurrent use.
type Budget struct {
	size int64
	sem  *semaphore.Weighted
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}
}

// acquire takes n bytes (at most the whole budget), waiting while they are in use; it
// returns the bytes taken, to give back with release. A nil budget takes nothing.
func (b *Budget) acquire(ctx context.Context, n int64) (int64, error) {
	if b == nil || n <= 0 {
		return 0, nil
	}
	n = min(n, b.size)
	if b.sem.TryAcquire(n) {
		return n, nil
	}
	return n, b.sem.Acquire(ctx, n)
}

func (b *Budget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}

// Conn multiplexes sessions over one plugin stream: a process's stdout and stdin, or a TCP
// connection. It reads until the stream ends and then fails every open session at once.
type Conn struct {
	lines   *LineReader
	w       io.Writer
	closers []io.Closer
	opts    Options
	wturn   chan struct{} // holds one token while a line is being written

	mu       sync.Mutex
	sessions map[string]*Session
	err      error         // why the Conn ended; set once, under mu
	done     chan struct{} // closed when err is set

	unrouted atomic.Uint64

	life       context.Context // ends with the Conn: stops waits for budget
	end        context.CancelFunc
	connBudget *Budget      // Bounds.ConnBuffer as a Budget; nil when unbounded
	waiting    atomic.Int64 // unix nanoseconds since the reader waits for budget; 0 when not
}

// NewConn starts reading r in a goroutine and writes requests to w. Close closes r and w if
// they are io.Closers; otherwise the goroutine ends when r does.
func NewConn(r io.Reader, w io.Writer, opts Options) *Conn {
	if opts.SessionBuffer <= 0 {
		opts.SessionBuffer = DefaultSessionBuffer
	}
	c := &Conn{
		lines: NewLineReader(r, opts.MaxLine),
		connBudget: func() *Budget {
			if opts.ConnBuffer > 0 {
				return NewBudget(opts.ConnBuffer)
			}
			return nil
		}(),
		w:        w,
		opts:     opts,
		wturn:    make(chan struct{}, 1),
		sessions: map[string]*Session{},
		done:     make(chan struct{}),
	}
	c.life, c.end = context.WithCancel(context.Background())
	for _, x := range []any{r, w} {
		if cl, ok := x.(io.Closer); ok {
			c.closers = append(c.closers, cl)
		}
	}
	go c.readLoop()
	return c
}

// Done is closed when the stream has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the Conn works, and afterwards an error matching ErrPluginExited that
// wraps the cause.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the Conn: every open session fails with ErrPluginExited wrapping ErrClosed.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	var first error
	for _, cl := range c.closers {
		if err := cl.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Backpressured reports whether the Conn has stopped reading because its callers have not
// taken what it read (see Bounds): the plugin is silent because it is held back, not dead.
func (c *Conn) Backpressured() bool { return c.waiting.Load() != 0 }

// charge takes n bytes from the Conn's budget and the shared one, waiting (and not reading)
// while either is spent; the Conn's end stops the wait.
func (c *Conn) charge(n int64) (charge, error) {
	if c.connBudget == nil && c.opts.Shared == nil {
		return charge{}, nil
	}
	ctx := c.life
	c.waiting.Store(time.Now().UnixNano())
	defer c.waiting.Store(0)
	var ch charge
	var err error
	if ch.conn, err = c.connBudget.acquire(ctx, n); err != nil {
		return charge{}, c.Err()
	}
	if ch.shared, err = c.opts.Shared.acquire(ctx, n); err != nil {
		c.connBudget.release(ch.conn)
		return charge{}, c.Err()
	}
	return ch, nil
}

func (c *Conn) refund(ch charge) {
	c.connBudget.release(ch.conn)
	c.opts.Shared.release(ch.shared)
}

// charge is what one queued message took from the budgets.
type charge struct{ conn, shared int64 }

// Unrouted counts the session lines dropped because no open session had their id: the
// session ended, was cancelled, or never existed.
func (c *Conn) Unrouted() uint64 { return c.unrouted.Load() }

// Open registers a session and writes its request line. If env.SessionID is empty a new one
// is chosen; env.Event is set to EventRequest. The session lives until its end message, a
// failure, Close, or the cancellation of ctx, which unregisters it at once (the plugin is
// not told: the protocol cannot cancel, so its late lines are counted as unrouted).
func (c *Conn) Open(ctx context.Context, env Envelope) (*Session, error) {
	if !isObject(env.Data) {
		return nil, fmt.Errorf("%w: request data must be an object", ErrMalformed)
	}
	if env.SessionID == "" {
		env.SessionID = NewSessionID()
	}
	env.Event = EventRequest
	line, err := AppendLine(nil, env)
	if err != nil {
		return nil, err
	}
	s := &Session{conn: c, ctx: ctx, env: env, wake: make(chan struct{}, 1)}
	s.env.Data = nil // only the routing fields are needed for answers

	c.mu.Lock()
	switch {
	case c.err != nil:
		c.mu.Unlock()
		return nil, c.err
	case c.sessions[env.SessionID] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDuplicateSession, env.SessionID)
	}
	c.sessions[env.SessionID] = s
	c.mu.Unlock()

	stop := context.AfterFunc(ctx, s.cancelled)
	s.mu.Lock()
	s.stop = stop
	ended := s.term != nil
	s.mu.Unlock()
	if ended {
		stop()
	}
	if err := c.write(ctx, line); err != nil {
		s.finish(err, true)
		return nil, err
	}
	return s, nil
}

// write sends one whole line. The context is only honoured while waiting for the turn.
func (c *Conn) write(ctx context.Context, line []byte) error {
	if ctx.Err() != nil {
		return context.Cause(ctx) // select would pick at random between a free turn and ctx
	}
	select {
	case c.wturn <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-c.done:
		return c.Err()
	}
	defer func() { <-c.wturn }()
	if err := c.Err(); err != nil {
		return err
	}
	if _, err := c.w.Write(line); err != nil {
		// A partly written line leaves the stream unusable for every session.
		c.fail(fmt.Errorf("write: %w", err))
		return c.Err()
	}
	return nil
}

func (c *Conn) readLoop() {
	for {
		line, err := c.lines.Next()
		if err != nil {
			c.fail(err)
			return
		}
		n := len(line)
		c.route(line)
		line = nil
		if c.opts.OnLargeLine != nil && c.opts.LargeLine > 0 && n >= c.opts.LargeLine {
			c.opts.OnLargeLine(n)
		}
	}
}

// route hands one line to its session, or to OnEvent.
func (c *Conn) route(line []byte) {
	ev, perr := ParseEvent(line)
	if ev.Kind != KindSession {
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(ev)
		}
		return
	}
	c.mu.Lock()
	s := c.sessions[ev.SessionID]
	c.mu.Unlock()
	switch {
	case s == nil:
		c.unrouted.Add(1)
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(Event{Kind: KindUnrouted, SessionID: ev.SessionID})
		}
	case perr != nil:
		s.finish(perr, false)
	case ev.Message.Type == MessageEnd:
		s.finish(io.EOF, false)
	default:
		ch, err := c.charge(int64(len(ev.Message.Data)))
		if err != nil {
			return // the Conn ended while waiting: the session has failed with it
		}
		if !s.push(ev.Message, ch, c.opts.SessionBuffer) {
			c.refund(ch)
			c.unrouted.Add(1) // finished between the lookup and the push
		}
	}
}

// errOutputEnded replaces io.EOF as the cause of a broken Conn, so that io.EOF keeps meaning
// one thing to a session's consumer: the session ended normally.
var errOutputEnded = errors.New("end of plugin output")

// fail ends the Conn once and fails every open session with the same error.
func (c *Conn) fail(cause error) {
	if cause == io.EOF {
		cause = errOutputEnded
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %w", ErrPluginExited, cause)
	open := c.sessions
	c.sessions = map[string]*Session{}
	close(c.done)
	c.end()
	c.mu.Unlock()
	for _, s := range open {
		s.finish(c.err, false)
	}
}

// Session is one request in flight. Next yields its items; Respond answers the plugin's
// backwards invocations.
type Session struct {
	conn *Conn
	ctx  context.Context
	env  Envelope      // routing fields, copied onto backwards responses
	wake chan struct{} // signalled after every change

	mu     sync.Mutex
	stop   func() bool // stops the cancellation hook
	queue  []queuedMessage
	queued int   // bytes of Data in queue
	term   error // io.EOF after end; the failure otherwise
}

// queuedMessage is a message waiting for Next, and what it took from the Conn's budgets.
type queuedMessage struct {
	m  SessionMessage
	ch charge
}

// ID is the session id, as sent to the plugin.
func (s *Session) ID() string { return s.env.SessionID }

// Next returns the next item: a stream item, an error item (see SessionMessage.AsError; the
// request failed and io.EOF follows) or a backwards invocation (answer it with Respond).
// After the end message it returns io.EOF. If the session failed it returns the items that
// arrived before the failure, then an error: ErrPluginExited, ErrSessionOverrun,
// ErrMalformed, or the context's error after cancellation. Next is for one goroutine.
func (s *Session) Next() (SessionMessage, error) {
	for {
		if s.ctx.Err() != nil {
			s.cancelled() // the hook may still be on its way
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			q := s.queue[0]
			s.queue[0] = queuedMessage{}
			s.queue = s.queue[1:]
			s.queued -= len(q.m.Data)
			s.mu.Unlock()
			s.conn.refund(q.ch)
			return q.m, nil
		}
		err := s.term
		s.mu.Unlock()
		if err != nil {
			return SessionMessage{}, err
		}
		<-s.wake
	}
}

// Respond sends one answer to a backwards invocation of this session. The plugin waits for
// answers with the invocation's id until BackwardsEventEnd.
func (s *Session) Respond(ctx context.Context, r BackwardsResponse) error {
	if err := r.validate(); err != nil {
		return err
	}
	env := s.env
	env.Event = EventBackwardsResponse
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("wire: encoding backwards response: %w", err)
	}
	env.Data = data
	line, err := AppendLine(nil, env)
	if err != nil {
		return err
	}
	return s.conn.write(ctx, line)
}

func (s *Session) cancelled() {
	s.finish(fmt.Errorf("wire: session %s: %w", s.ID(), context.Cause(s.ctx)), true)
}

// Close abandons the session: it is unregistered, queued items are dropped, and Next
// returns ErrSessionClosed. Closing a finished session only drops what it still holds.
func (s *Session) Close() { s.finish(ErrSessionClosed, true) }

// push queues one item with what it took from the budgets. It returns false if the session
// had already finished (the caller then gives the charge back).
func (s *Session) push(m SessionMessage, ch charge, limit int) bool {
	s.mu.Lock()
	if s.term != nil {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) > 0 && s.queued+len(m.Data) > limit {
		s.mu.Unlock()
		s.conn.refund(ch)
		s.finish(fmt.Errorf("%w: session %s: more than %d bytes waiting", ErrSessionOverrun, s.ID(), limit), false)
		return true
	}
	s.queue = append(s.queue, queuedMessage{m: m, ch: ch})
	s.queued += len(m.Data)
	s.mu.Unlock()
	s.signal()
	return true
}

// finish ends the session with err unless it has ended already, and unregisters it.
// discard drops queued items: the caller is no longer interested in them.
func (s *Session) finish(err error, discard bool) {
	s.mu.Lock()
	if s.term == nil {
		s.term = err
	}
	var dropped []queuedMessage
	if discard {
		s.term = err
		dropped = s.queue
		s.queue, s.queued = nil, 0
	}
	stop := s.stop
	s.mu.Unlock()
	for _, q := range dropped {
		s.conn.refund(q.ch)
	}
	if stop != nil {
		stop()
	}
	c := s.conn
	c.mu.Lock()
	if c.sessions[s.ID()] == s {
		delete(c.sessions, s.ID())
	}
	c.mu.Unlock()
	s.signal()
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
