package debugging

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/plugd/plugd/internal/manifest"
)

// Defaults of Config's zero fields.
const (
	DefaultAddr                = "127.0.0.1:5003"
	DefaultMaxConns            = 256
	DefaultMaxPending          = 64
	DefaultMaxUnauthenticated  = 128
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultRegistrationTimeout = 60 * time.Second
	DefaultMaxLine             = 16 << 20
	DefaultMaxAssets           = 50 << 20
)

const (
	// readBufSize must be at least wire's LineReader buffer (64 KiB) so that NewLineReader
	// reads through our bufio.Reader instead of wrapping it: what it reads ahead then stays
	// in the reader handed over as Attachment.Reader.
	readBufSize = 64 << 10
	// replyTimeout bounds writing a refusal to a plugin that does not read.
	replyTimeout = 5 * time.Second
	// lingerTimeout and lingerBytes bound how long a refused connection is drained after
	// its reply. Closing a socket with unread input makes the kernel send a reset, which can
	// destroy the reply before the SDK reads it; and the SDK sends its whole registration
	// without waiting, so unread input is the rule when the handshake is refused.
	lingerTimeout = time.Second
	lingerBytes   = 1 << 20
	// shutdownLinger replaces lingerTimeout once the server is stopping, so that Serve
	// returns promptly.
	shutdownLinger = 50 * time.Millisecond
)

// ErrUnknownKey is what a KeyResolver returns, wrapped, for a key it does not know or that
// expired. Any other error means the key could not be checked (the store is down).
var ErrUnknownKey = errors.New("debugging: unknown or expired debug key")

// KeyResolver maps a debug key to the tenant it was issued to.
type KeyResolver interface {
	ResolveDebugKey(ctx context.Context, key string) (tenantID string, err error)
}

// DecodeFunc turns a registration into a validated declaration. providers maps "tool",
// "model", "endpoint", "agent_strategy", "datasource" and "trigger" to the first element of
// the matching *_declaration message; assets lists the _assets/ file names received, sorted.
// Its error text is sent to the plugin's author as is (on one line).
type DecodeFunc func(manifestJSON json.RawMessage, providers map[string]json.RawMessage, assets []string) (*manifest.Plugin, error)

// AttachFunc takes over a registered connection. A returned error's text is sent to the plugin
// and the connection is closed. It is called on the connection's goroutine and may block until
// the plugin is served or not; it owns Conn once it returns nil. The attached plugin keeps its
// place among Config.MaxConns until Conn is closed.
type AttachFunc func(ctx context.Context, a Attachment) error

// Attachment is a plugin that completed its registration.
type Attachment struct {
	TenantID string
	Key      string // the debug key, in full: never log it
	Plugin   *manifest.Plugin
	Assets   map[string][]byte // _assets/ file name -> bytes
	// Conn is the connection to write to and close. Closing it frees the plugin's place
	// among Config.MaxConns.
	Conn net.Conn
	// Reader is the rest of the stream: read from it, not from Conn, since it holds what was
	// read ahead of the end of the registration.
	Reader     io.Reader
	RemoteAddr string
}

// Config configures a Server. Keys, Decode and Attach are required; zero values of the rest
// take the defaults above.
type Config struct {
	Addr       string // host:port for ListenAndServe
	Keys       KeyResolver
	Decode     DecodeFunc
	Attach     AttachFunc
	MaxConns   int // plugins attached at once
	MaxPending int // connections registering after their handshake at once; more wait for a turn
	// MaxUnauthenticated bounds the connections that have not sent a valid handshake yet.
	// Past it the oldest of them is closed: a real plugin sends its handshake as soon as it
	// connects, so the oldest is the likeliest to be an idle or hostile one, and a flood of
	// half-open connections can neither exhaust memory nor keep a real plugin waiting.
	MaxUnauthenticated  int
	HandshakeTimeout    time.Duration // from accept to a valid handshake
	RegistrationTimeout time.Duration // from accept to end
	MaxLine             int           // bytes of one registration line (after the handshake)
	MaxAssets           int64         // bytes of all assets of one plugin
	Logger              *slog.Logger
}

// Server accepts remote plugins. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	pending chan struct{} // one token per authenticated connection still registering

	mu       sync.Mutex
	attached int // plugins attached whose Conn is not closed yet
	addr     net.Addr
	unauth   *list.List // of net.Conn not authenticated yet, oldest first
}

// New returns a server for cfg, with defaults filled in.
func New(cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.RegistrationTimeout <= 0 {
		cfg.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.MaxAssets <= 0 {
		cfg.MaxAssets = DefaultMaxAssets
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, pending: make(chan struct{}, cfg.MaxPending), unauth: list.New()}
}

// Addr is the address the server listens on, or nil before Serve or ListenAndServe started.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe listens on Config.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("debugging: listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts plugins on ln until ctx ends, then closes ln, tells connections still
// registering that the server is shutting down, and returns nil once every connection
// goroutine has finished (Attach calls included: they get ctx and must return when it ends).
// Any other end of ln is returned as an error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.Keys == nil || s.cfg.Decode == nil || s.cfg.Attach == nil {
		ln.Close()
		return errors.New("debugging: Config.Keys, Decode and Attach are required")
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		// Accepting never waits for a turn: every connection gets its handshake deadline at
		// once, and MaxUnauthenticated bounds how many wait for their handshake.
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			// Accept errors such as EMFILE are only marked by the deprecated Temporary.
			if errors.As(err, &ne) && ne.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("remote debugging: accept failed, retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("debugging: accepting: %w", err)
		}
		backoff = 0
		el := s.admit(conn)
		wg.Go(func() { s.handle(ctx, conn, el) })
	}
}

// admit counts conn among the unauthenticated connections, closing the oldest one when
// there are more than MaxUnauthenticated.
func (s *Server) admit(conn net.Conn) *list.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.unauth.PushBack(conn)
	for s.unauth.Len() > s.cfg.MaxUnauthenticated {
		oldest := s.unauth.Remove(s.unauth.Front()).(net.Conn)
		s.log.Debug("remote debugging: too many connections without a handshake; closing the oldest", "remote", oldest.RemoteAddr().String(), "max", s.cfg.MaxUnauthenticated)
		oldest.Close() // its handler sees the read fail and ends; nothing is worth replying
	}
	return el
}

// authenticated moves a connection out of the unauthenticated ones.
func (s *Server) authenticated(el *list.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el.Value != nil {
		s.unauth.Remove(el)
		el.Value = nil
	}
}

// handle runs one connection: registration, then Attach.
func (s *Server) handle(ctx context.Context, conn net.Conn, el *list.Element) {
	accepted := time.Now()
	remote := conn.RemoteAddr().String()
	defer s.authenticated(el) // whatever happened, it no longer counts as waiting
	held := false
	release := func() {
		if held {
			held = false
			<-s.pending
		}
	}
	defer release()
	// After a valid handshake: out of the unauthenticated ones, and wait for a turn among
	// the connections registering (until the registration's deadline).
	turn := func() error {
		s.authenticated(el)
		wait := time.NewTimer(time.Until(accepted.Add(s.cfg.RegistrationTimeout)))
		defer wait.Stop()
		select {
		case s.pending <- struct{}{}:
			held = true
			return nil
		case <-ctx.Done():
			return refusef(ctx.Err(), "%s", replyShutdown)
		case <-wait.C:
			return refusef(nil, "%s", replyBusy)
		}
	}

	// On shutdown, fail the pending read; the handler then says why and closes.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	reg, err := s.register(ctx, conn, connDeadline{ctx, conn}, accepted, turn)
	stopped := stop()
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			s.log.Info("remote plugin refused", "remote", remote, "key", shortKey(reg.key), "reason", ref.reply, "err", ref.cause)
			s.refuse(ctx, conn, ref.reply)
			return
		}
		s.log.Debug("remote plugin left during registration", "remote", remote, "key", shortKey(reg.key), "err", err)
		conn.Close()
		return
	}
	if !stopped { // shutdown began as registration ended
		s.refuse(ctx, conn, replyShutdown)
		return
	}
	if !s.reserve() {
		s.log.Info("remote plugin refused: too many attached", "remote", remote, "max", s.cfg.MaxConns)
		s.refuse(ctx, conn, replyBusy)
		return
	}
	conn.SetDeadline(time.Time{})
	release() // Attach may block for the plugin's whole life: let others register meanwhile.

	ac := &attachedConn{Conn: conn, free: s.unreserve}
	a := Attachment{
		TenantID:   reg.tenant,
		Key:        reg.key,
		Plugin:     reg.plugin,
		Assets:     reg.assets,
		Conn:       ac,
		Reader:     reg.rest,
		RemoteAddr: remote,
	}
	s.log.Info("remote plugin registered", "remote", remote, "tenant", reg.tenant, "key", shortKey(reg.key),
		"plugin", reg.plugin.Author+"/"+reg.plugin.Name+":"+reg.plugin.Version, "assets", len(reg.assets))
	if err := s.cfg.Attach(ctx, a); err != nil {
		s.log.Info("remote plugin refused by attach", "remote", remote, "err", err)
		s.refuse(ctx, ac, err.Error())
	}
}

// refuse sends the one-line reply and closes conn, draining its input for a moment first so
// that the reply is not destroyed by a reset (see lingerTimeout).
func (s *Server) refuse(ctx context.Context, conn net.Conn, reply string) {
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := io.WriteString(conn, oneLine(reply)+"\n"); err != nil {
		return
	}
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	linger := lingerTimeout
	if ctx.Err() != nil {
		linger = shutdownLinger
	}
	conn.SetReadDeadline(time.Now().Add(linger))
	io.CopyN(io.Discard, conn, lingerBytes)
}

func (s *Server) reserve() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached >= s.cfg.MaxConns {
		return false
	}
	s.attached++
	return true
}

func (s *Server) unreserve() {
	s.mu.Lock()
	s.attached--
	s.mu.Unlock()
}

// attachedConn frees the plugin's place among MaxConns when its owner closes it.
type attachedConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *attachedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *attachedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// connDeadline moves a connection's read deadline, never past a shutdown that already began.
type connDeadline struct {
	ctx  context.Context
	conn net.Conn
}

func (d connDeadline) SetReadDeadline(t time.Time) error {
	err := d.conn.SetReadDeadline(t)
	if d.ctx.Err() != nil { // the shutdown's deadline may have been overwritten just now
		return d.conn.SetReadDeadline(time.Unix(1, 0))
	}
	return err
}

// oneLine makes text safe to send as a single reply line.
func oneLine(text string) string {
	text = strings.TrimSpace(text)
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(text)
}

// shortKey shows enough of a key to tell keys apart and nothing that would let one be used.
func shortKey(key string) string {
	r := []rune(key)
	for i, c := range r {
		if c < 0x20 || c == 0x7f {
			r[i] = '?'
		}
	}
	switch {
	case len(r) == 0:
		return ""
	case len(r) < 12:
		return fmt.Sprintf("…(%d characters)", len(r))
	}
	return string(r[:4]) + "…" + string(r[len(r)-4:])
}
