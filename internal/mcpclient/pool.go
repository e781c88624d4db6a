package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/egress"
)

// Options configure a Pool. The zero value works for remote servers with the egress guard's
// defaults (no private addresses); stdio servers need DataDir.
type Options struct {
	// Egress is the outbound HTTP policy for remote servers (the SSRF guard's allow-list and
	// proxies). Each session gets a client built from it with the provider's timeouts.
	Egress     egress.Settings
	EgressOpts []egress.Option
	// Tokens, when set, gives a bearer token per request (the OAuth seam).
	Tokens TokenSource
	// DataDir holds each stdio server's HOME, TMPDIR and stderr log.
	DataDir string
	// IdleStop stops a session (and a stdio server's process) unused this long; default 10 min.
	IdleStop time.Duration
	// MemoryLimit caps a stdio server's memory in bytes (RLIMIT_DATA plus headroom); 0: none.
	MemoryLimit int64
	// LogBytes caps a stdio server's stderr log before it is rotated; default 1 MiB.
	LogBytes int64
	// CrashLimit sessions ending unexpectedly within CrashWindow stop restarts until the
	// window has passed; defaults 5 and 1 minute. Restarts before that back off (0.5 s
	// doubling, at most 30 s).
	CrashLimit  int
	CrashWindow time.Duration
	// Confine runs stdio servers in a sandbox; nil: unconfined.
	Confine Confiner
	// NoStdio refuses stdio servers (adding and starting them): an operator who does not want
	// holders of the daemon key to run commands on its host, even confined.
	NoStdio bool
	Logger  *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// TokenSource gives the credentials of one connection per request, so that a refreshed
// OAuth token is used at once without reconnecting. The OAuth issue implements it; without
// one, only the provider's static headers are sent.
type TokenSource interface {
	// Token returns the Authorization header value for (tenant, provider), "" for none.
	Token(ctx context.Context, tenant, providerID string) (string, error)
}

// Refresher is told to refresh a provider's tools: the catalog (Catalog.Refresh).
type Refresher interface {
	Refresh(ctx context.Context, tenant, id string) (catalog.Provider, error)
}

// ErrCrashLoop is returned while a server that kept ending is left alone.
var ErrCrashLoop = errors.New("mcp server keeps failing")

// key is one pool entry: a provider of a tenant in one configuration.
type key struct{ tenant, provider, hash string }

// Pool holds the live sessions to MCP servers, shared by every caller of the same tenant,
// provider and configuration; it is the catalog's Caller and Discoverer for kind mcp.
type Pool struct {
	opts Options

	mu        sync.Mutex
	entries   map[key]*entry
	refresher Refresher
	closed    bool
}

var (
	_ catalog.Caller     = (*Pool)(nil)
	_ catalog.Discoverer = (*Pool)(nil)
)

// NewPool returns an empty pool.
func NewPool(opts Options) *Pool {
	if opts.IdleStop <= 0 {
		opts.IdleStop = 10 * time.Minute
	}
	if opts.LogBytes <= 0 {
		opts.LogBytes = 1 << 20
	}
	if opts.CrashLimit <= 0 {
		opts.CrashLimit = 5
	}
	if opts.CrashWindow <= 0 {
		opts.CrashWindow = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pool{opts: opts, entries: map[key]*entry{}}
}

// Follow makes tools/list_changed notifications refresh the provider through r (the
// catalog, which is built after the pool since the pool is one of its callers).
func (p *Pool) Follow(r Refresher) {
	p.mu.Lock()
	p.refresher = r
	p.mu.Unlock()
}

// entry is one session to one server, started on first use, restarted after it ends (with
// back-off), stopped after IdleStop without use.
type entry struct {
	pool     *Pool
	key      key
	cfg      Config
	creds    map[string]string
	provider string // the provider's name, for messages

	mu         sync.Mutex
	sess       *mcp.ClientSession
	starting   *startRun // the start under way, if any
	refs       int
	idle       *time.Timer
	crashes    []time.Time
	log        *cappedLog
	refreshing bool
	retired    bool
	gone       bool // stopped for good: no restart
}

// acquire returns a live session of the provider's server, starting it when needed; release
// must be called when the caller is done with it.
func (p *Pool) acquire(ctx context.Context, tenant string, prov catalog.Provider, creds map[string]string) (*entry, *mcp.ClientSession, error) {
	cfg, err := ParseConfig(prov.Config)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Remote() && p.opts.NoStdio {
		return nil, nil, fmt.Errorf("stdio MCP servers are turned off on this daemon (PLUGD_MCP_STDIO=false): %w", catalog.ErrInvalid)
	}
	k := key{tenant: tenant, provider: prov.ID, hash: hash(cfg, creds)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, errors.New("mcp client pool is closed")
	}
	e := p.entries[k]
	if e == nil {
		e = &entry{pool: p, key: k, cfg: cfg, creds: creds, provider: prov.Name}
		if !cfg.Remote() {
			l, err := openCappedLog(p.dirs(k).log, p.opts.LogBytes)
			if err != nil {
				p.mu.Unlock()
				return nil, nil, fmt.Errorf("opening the stderr log of mcp server %q: %w", prov.Name, err)
			}
			e.log = l
		}
		p.entries[k] = e
		// Other configurations of the same provider are out of date: let them go once idle.
		for ok, old := range p.entries {
			if ok.tenant == k.tenant && ok.provider == k.provider && ok.hash != k.hash {
				delete(p.entries, ok)
				go old.retire()
			}
		}
	}
	e.mu.Lock()
	e.refs++
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	e.mu.Unlock()
	p.mu.Unlock()

	sess, err := e.session(ctx)
	if err != nil {
		e.release()
		return nil, nil, err
	}
	return e, sess, nil
}

// session returns the live session or starts one. One start runs at a time, detached from
// the callers: each waits for it under its own context, so a caller giving up neither cancels
// the start for the others nor counts as a failure of the server.
func (e *entry) session(ctx context.Context) (*mcp.ClientSession, error) {
	e.mu.Lock()
	if e.sess != nil {
		s := e.sess
		e.mu.Unlock()
		return s, nil
	}
	run := e.starting
	if run == nil {
		wait, err := e.backoffLocked()
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		run = &startRun{done: make(chan struct{})}
		e.starting = run
		go e.startAfter(wait, run)
	}
	e.mu.Unlock()
	select {
	case <-run.done:
		return run.sess, run.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startRun is one start of a session; done is closed when sess or err is set.
type startRun struct {
	done chan struct{}
	sess *mcp.ClientSession
	err  error
}

// startAfter waits out the back-off, then starts the session (bounded by the provider's
// timeout, see start).
func (e *entry) startAfter(wait time.Duration, run *startRun) {
	if wait > 0 {
		time.Sleep(wait)
	}
	sess, err := e.start()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil && e.gone {
		go sess.Close() // stopped while it started (idle, retired, the pool closed)
		sess, err = nil, fmt.Errorf("mcp server %q was stopped while it started", e.provider)
	}
	if err == nil {
		e.sess = sess
		go e.watch(sess)
	} else if !e.gone {
		e.crashes = append(e.crashes, e.pool.opts.Now())
	}
	e.starting = nil
	run.sess, run.err = sess, err
	close(run.done)
}

// backoffLocked says how long to wait before the next start, or refuses it in a crash loop.
func (e *entry) backoffLocked() (time.Duration, error) {
	now := e.pool.opts.Now()
	recent := e.crashes[:0]
	for _, t := range e.crashes {
		if now.Sub(t) < e.pool.opts.CrashWindow {
			recent = append(recent, t)
		}
	}
	e.crashes = recent
	n := len(recent)
	if n == 0 {
		return 0, nil
	}
	if n >= e.pool.opts.CrashLimit {
		again := recent[0].Add(e.pool.opts.CrashWindow).Sub(now).Round(time.Second)
		return 0, fmt.Errorf("mcp server %q ended or failed to start %d times within %s; not restarted for %s%s: %w",
			e.provider, n, e.pool.opts.CrashWindow, again, e.stderrTail(), ErrCrashLoop)
	}
	wait := min(500*time.Millisecond<<(n-1), 30*time.Second)
	return max(0, recent[n-1].Add(wait).Sub(now)), nil
}

func (e *entry) stderrTail() string {
	if e.log == nil {
		return ""
	}
	if t := e.log.Tail(); t != "" {
		return "; its stderr ends with: " + t
	}
	return ""
}

// start connects to the server: a stdio process, or a remote server over its transport,
// within the provider's timeout. The connection's context must outlive the start (an SSE
// transport reads its stream under it), so it is cancelled only when the start fails — which
// also ends a server that never answers initialize — or when the session ends.
func (e *entry) start() (*mcp.ClientSession, error) {
	limit := e.cfg.timeout()
	connCtx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(limit, cancel)
	sess, err := e.connect(connCtx)
	if !timer.Stop() { // the timeout fired: whatever connect made is cancelled
		if sess != nil {
			sess.Close()
		}
		cancel()
		return nil, fmt.Errorf("mcp server %q did not finish connecting and initializing within %s (timeout)%s", e.provider, limit, e.stderrTail())
	}
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		sess.Wait()
		cancel()
	}()
	return sess, nil
}

func (e *entry) connect(ctx context.Context) (*mcp.ClientSession, error) {
	opts := &mcp.ClientOptions{
		Capabilities:           &mcp.ClientCapabilities{},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { e.toolsChanged() },
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "plugd", Version: "1"}, opts)
	if e.cfg.Remote() {
		sess, transport, err := e.pool.connectRemote(ctx, client, e.key, e.cfg, e.creds)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.cfg.Transport = transport
		e.mu.Unlock()
		return sess, nil
	}
	t, err := e.pool.stdioTransport(e.key, e.cfg, e.creds, e.log)
	if err != nil {
		return nil, err
	}
	sess, err := client.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("starting mcp server %q (%s): %w%s", e.provider, e.cfg.Command, err, e.stderrTail())
	}
	e.pool.opts.Logger.Info("mcp server started", "tenant", e.key.tenant, "provider", e.key.provider, "command", e.cfg.Command)
	return sess, nil
}

// watch waits for the session to end. An end nobody asked for (the process exited, the
// connection broke) counts as a crash: the next use restarts it, after a back-off.
func (e *entry) watch(sess *mcp.ClientSession) {
	e.ended(sess, sess.Wait())
}

// dropped is called by a caller that saw the connection close: the session is taken out at
// once, so that the next use starts a new one rather than finding the dead one before the
// watcher has run.
func (e *entry) dropped(sess *mcp.ClientSession) { e.ended(sess, mcp.ErrConnectionClosed) }

func (e *entry) ended(sess *mcp.ClientSession, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess != sess {
		return // stopped on purpose, or seen already
	}
	e.sess = nil
	go sess.Close()
	e.crashes = append(e.crashes, e.pool.opts.Now())
	e.pool.opts.Logger.Warn("mcp server session ended", "tenant", e.key.tenant, "provider", e.key.provider,
		"err", err, "stderr", e.stderrTail())
	if !e.gone {
		go e.restart()
	}
}

// restart starts the session again after it ended unexpectedly, after the back-off, so that
// the server is back (and its list_changed notifications heard) before the next call; it
// gives up in a crash loop, and the next call tries again once the loop's window has passed.
// An entry stopped meanwhile is not restarted.
func (e *entry) restart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+e.cfg.timeout())
	defer cancel()
	if _, err := e.session(ctx); err != nil {
		e.mu.Lock()
		gone := e.gone
		e.mu.Unlock()
		if !gone {
			e.pool.opts.Logger.Warn("restarting mcp server", "tenant", e.key.tenant, "provider", e.key.provider, "err", err)
		}
	}
}

// release ends one use; the last one arms the idle stop.
func (e *entry) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.retired {
		e.stopLocked()
		return
	}
	e.idle = time.AfterFunc(e.pool.opts.IdleStop, e.idleStop)
}

// idleStop stops the session and forgets the entry (its log file closed), so providers
// removed from the catalog leave nothing behind. acquire takes a reference under the pool's
// lock, so an entry with none cannot be picked up meanwhile.
func (e *entry) idleStop() {
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs != 0 || e.idle == nil {
		return // in use again, or stopped otherwise
	}
	e.stopLocked()
	if e.pool.entries[e.key] == e {
		delete(e.pool.entries, e.key)
	}
	if e.log != nil {
		e.log.Close()
	}
}

// forget takes the entry of k out of the pool and stops it after its last use.
func (p *Pool) forget(k key) {
	p.mu.Lock()
	e := p.entries[k]
	delete(p.entries, k)
	p.mu.Unlock()
	if e != nil {
		e.retire()
	}
}

// retire stops an entry that is out of date, now or after its last use.
func (e *entry) retire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.retired = true
	if e.refs == 0 {
		e.stopLocked()
	}
}

// stopLocked closes the session on purpose (the watcher sees it is no longer current). It is
// the entry's end: it has left the pool's map, and a start under way closes what it started.
func (e *entry) stopLocked() {
	e.gone = true
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	if s := e.sess; s != nil {
		e.sess = nil
		go s.Close()
		e.pool.opts.Logger.Info("mcp server session stopped", "tenant", e.key.tenant, "provider", e.key.provider)
	}
	if e.retired && e.log != nil {
		e.log.Close() // writes after this only reach the in-memory tail
	}
}

// toolsChanged refreshes the provider in the catalog, once at a time: a burst of
// notifications causes at most one more refresh.
func (e *entry) toolsChanged() {
	e.pool.mu.Lock()
	r := e.pool.refresher
	e.pool.mu.Unlock()
	if r == nil || strings.HasPrefix(e.key.provider, probePrefix) {
		return
	}
	e.mu.Lock()
	if e.refreshing {
		e.mu.Unlock()
		return
	}
	e.refreshing = true
	e.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*e.cfg.timeout())
		defer cancel()
		e.mu.Lock()
		e.refreshing = false // a notification from here on asks again
		e.mu.Unlock()
		if _, err := r.Refresh(ctx, e.key.tenant, e.key.provider); err != nil {
			e.pool.opts.Logger.Warn("refreshing mcp tools after tools/list_changed", "tenant", e.key.tenant,
				"provider", e.key.provider, "err", err)
		}
	}()
}

// Close stops every session.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	entries := p.entries
	p.entries = map[key]*entry{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		e.mu.Lock()
		s := e.sess
		e.sess, e.gone = nil, true
		if e.idle != nil {
			e.idle.Stop()
		}
		e.mu.Unlock()
		if s != nil {
			wg.Go(func() { s.Close() })
		}
		if e.log != nil {
			defer e.log.Close()
		}
	}
	wg.Wait()
}

// Live is the number of running sessions (for tests and status).
func (p *Pool) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.entries {
		e.mu.Lock()
		if e.sess != nil {
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// httpClient is the guarded client for one remote session: the egress policy with the
// provider's timeouts, plus its headers and a token per request.
func (p *Pool) httpClient(k key, cfg Config, creds map[string]string) *http.Client {
	s := p.opts.Egress
	s.ConnectTimeout = cfg.timeout()
	s.ReadTimeout = cfg.callTimeout()
	base := egress.New(s, p.opts.EgressOpts...).HTTPClient()
	headers := http.Header{}
	for _, h := range cfg.Headers {
		headers.Set(h, creds[headerPrefix+h])
	}
	limit := s.MaxResponseBytes
	if limit == 0 {
		limit = egress.DefaultMaxResponseBytes
	}
	c := *base
	var tokens TokenSource
	if cfg.OAuth {
		tokens = p.opts.Tokens
	}
	c.Transport = &headerTransport{base: base.Transport, headers: headers, tokens: tokens, tenant: k.tenant, provider: k.provider, limit: limit}
	return &c
}

// headerTransport adds the provider's headers and, per request, its token, and caps a JSON
// answer's body at the egress limit. An event stream is left uncapped as a whole (it may run
// for hours); the SDK bounds each of its events (MaxEventSize).
type headerTransport struct {
	base             http.RoundTripper
	headers          http.Header
	tokens           TokenSource
	tenant, provider string
	limit            int64 // < 0: no cap
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header[k] = v
	}
	if t.tokens != nil {
		tok, err := t.tokens.Token(req.Context(), t.tenant, t.provider)
		if err != nil {
			return nil, err // says what to do (reconnect) on its own
		}
		if tok != "" {
			req.Header.Set("Authorization", tok)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || t.limit < 0 {
		return resp, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/event-stream") {
		resp.Body = egress.LimitBody(resp.Body, t.limit, req.URL.Redacted())
	}
	return resp, nil
}

// connectRemote connects over cfg.Transport, or when it is not known, over the transport the
// URL names (Dify's rule), else streamable HTTP first and SSE when that fails.
func (p *Pool) connectRemote(ctx context.Context, client *mcp.Client, k key, cfg Config, creds map[string]string) (*mcp.ClientSession, string, error) {
	hc := p.httpClient(k, cfg, creds)
	connect := func(transport string) (*mcp.ClientSession, error) {
		var t mcp.Transport
		if transport == TransportSSE {
			t = &mcp.SSEClientTransport{Endpoint: cfg.URL, HTTPClient: hc}
		} else {
			t = &mcp.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: hc, MaxRetries: 2}
		}
		return client.Connect(ctx, t, nil)
	}
	transport := cfg.Transport
	if transport == "" {
		transport = detectTransport(cfg.URL)
	}
	if transport != "" {
		sess, err := connect(transport)
		if err != nil {
			return nil, "", fmt.Errorf("connecting to mcp server %s over %s: %w", cfg.URL, transportName(transport), err)
		}
		return sess, transport, nil
	}
	sess, err := connect(TransportStreamable)
	if err == nil {
		return sess, TransportStreamable, nil
	}
	if ctx.Err() != nil {
		return nil, "", fmt.Errorf("connecting to mcp server %s over streamable HTTP: %w", cfg.URL, err)
	}
	sess, err2 := connect(TransportSSE)
	if err2 != nil {
		return nil, "", fmt.Errorf("connecting to mcp server %s: over streamable HTTP: %v; over SSE: %w", cfg.URL, err, err2)
	}
	return sess, TransportSSE, nil
}

func transportName(t string) string {
	if t == TransportSSE {
		return "SSE"
	}
	return "streamable HTTP"
}
