package runtime

// Remote against a fake plugin that speaks the protocol by hand over net.Pipe.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

const heartbeatLine = `{"event":"heartbeat","session_id":null,"data":{}}`

// fakePlugin is the plugin's end of a remote connection.
type fakePlugin struct {
	t    testing.TB
	conn net.Conn
	in   *bufio.Reader
	wmu  sync.Mutex
	reqs chan wire.Envelope // filled by read
}

// send writes one line as the SDK does: the message, then "\n\n". Errors are returned, not
// fatal: some tests write into a connection the daemon has closed.
func (f *fakePlugin) send(line string) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_, err := f.conn.Write([]byte(line + "\n\n"))
	return err
}

func (f *fakePlugin) session(id string, typ wire.MessageType, data string) {
	f.t.Helper()
	if err := f.send(fmt.Sprintf(`{"event":"session","session_id":%q,"data":{"type":%q,"data":%s}}`, id, typ, data)); err != nil {
		f.t.Errorf("plugin write: %v", err)
	}
}

func (f *fakePlugin) text(id, text string) {
	f.t.Helper()
	f.session(id, wire.MessageStream, fmt.Sprintf(`{"type":"text","message":{"text":%q},"meta":null}`, text))
}

// read reads the daemon's lines into reqs until the connection ends; without it the daemon's
// writes block, as on a plugin that stopped reading.
func (f *fakePlugin) read() {
	go func() {
		defer close(f.reqs)
		for {
			line, err := f.in.ReadBytes('\n')
			if err != nil {
				return
			}
			var env wire.Envelope
			if err := json.Unmarshal(line, &env); err != nil {
				f.t.Errorf("daemon line %q: %v", line, err)
				return
			}
			f.reqs <- env
		}
	}()
}

// next is the daemon's next line.
func (f *fakePlugin) next() wire.Envelope {
	f.t.Helper()
	select {
	case env, ok := <-f.reqs:
		if !ok {
			f.t.Fatal("the connection ended")
		}
		return env
	case <-time.After(10 * time.Second):
		f.t.Fatal("no line from the daemon within 10 s")
	}
	return wire.Envelope{}
}

// logBuffer is a logger's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls until cond holds; the bound catches a hang, it measures nothing.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// remotePair connects a Remote to a fakePlugin the way the debugging server hands one over:
// the registration is read through a bufio.Reader, which has already buffered what the
// plugin sent right after "end" (here a log event) when it is passed to NewRemote.
func remotePair(t *testing.T, cfg RemoteConfig, read bool) (*Remote, *fakePlugin, *logBuffer) {
	t.Helper()
	d, p := net.Pipe()
	f := &fakePlugin{t: t, conn: p, in: bufio.NewReader(p), reqs: make(chan wire.Envelope, 64)}
	logs := &logBuffer{}
	if cfg.Logger == nil {
		// Not t.Output(): the Remote's goroutines may still log a moment after the test.
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the Remote's log:\n%s", logs)
			}
		})
	}
	if cfg.PluginID == "" {
		cfg.PluginID = "me/remote"
	}
	go f.send(`{"type":"end","data":{}}` + "\n\n" + heartbeatLine + "\n\n" +
		`{"event": "log", "data": {"level": "INFO", "message": "buffered before NewRemote", "timestamp": 1.5}}`)
	br := bufio.NewReader(d)
	if line, err := br.ReadBytes('\n'); err != nil || !strings.Contains(string(line), `"end"`) {
		t.Fatalf("registration end: %q %v", line, err)
	}
	r := NewRemote(cfg, br, d)
	t.Cleanup(func() {
		p.Close()
		r.Close(context.Background())
	})
	if read {
		f.read()
	}
	return r, f, logs
}

func echoRequest(text string) wire.InvokeTool {
	return wire.InvokeTool{Provider: "remote", Tool: "echo", ToolParameters: wire.Object(fmt.Sprintf(`{"text":%q}`, text))}
}

var testIC = InvokeContext{UserID: "u-1", TenantID: "t-1"}

func TestRemoteInvoke(t *testing.T) {
	r, f, logs := remotePair(t, RemoteConfig{}, true)
	ctx := testCtx(t, 30*time.Second)
	ic := testIC
	ic.ConversationID = "c-1"
	s, err := r.InvokePayload(ctx, echoRequest("hi"), ic)
	if err != nil {
		t.Fatal(err)
	}
	req := f.next()
	var data struct{ Type, Action, UserID, Tool string }
	json.Unmarshal(req.Data, &data)
	if req.Event != wire.EventRequest || req.SessionID != s.SessionID() || req.ConversationID == nil || *req.ConversationID != "c-1" ||
		data != (struct{ Type, Action, UserID, Tool string }{"tool", "invoke_tool", "", "echo"}) {
		t.Errorf("request line: %+v %s", req, req.Data)
	}
	if !strings.Contains(string(req.Data), `"user_id":"u-1"`) {
		t.Errorf("request data lacks the user: %s", req.Data)
	}
	if st := r.Status(); st.State != StateReady || st.InFlight != 1 || st.Plugin != "me/remote" || st.LastError != nil {
		t.Errorf("status with a request in flight: %+v", st)
	}

	f.text(req.SessionID, "one")
	f.send(`{"event":"error","session_id":null,"data":{"error":"something odd"}}`)
	f.send(heartbeatLine)
	f.text(req.SessionID, "two")
	f.session(req.SessionID, wire.MessageEnd, `{}`)
	items, err := collect(s)
	if err != nil || !slices.Equal(texts(t, items), []string{"one", "two"}) {
		t.Fatalf("stream: %v, %v", items, err)
	}
	if st := r.Status(); st.InFlight != 0 || st.State != StateReady {
		t.Errorf("status after the request: %+v", st)
	}

	// A request the plugin fails.
	s, err = r.Invoke(ctx, wire.AccessTool, wire.ActionInvokeTool, json.RawMessage(`{"provider":"remote","tool":"echo","tool_parameters":{}}`), testIC)
	if err != nil {
		t.Fatal(err)
	}
	req = f.next()
	f.session(req.SessionID, wire.MessageError, `{"error_type":"ValueError","message":"boom","args":{}}`)
	f.session(req.SessionID, wire.MessageEnd, `{}`)
	_, err = collect(s)
	var serr *wire.SessionError
	if !errors.As(err, &serr) || serr.Message != "boom" || !strings.Contains(err.Error(), "plugin me/remote: ValueError: boom") {
		t.Errorf("plugin error: %v", err)
	}

	// Log and error events reach the logger, the one buffered before NewRemote included.
	waitFor(t, "log lines", func() bool {
		l := logs.String()
		return strings.Contains(l, "buffered before NewRemote") && strings.Contains(l, "something odd")
	})
	select {
	case <-r.Done():
		t.Fatalf("connection ended: %v", r.Err())
	default:
	}
}

func TestRemoteRefusesBadRequests(t *testing.T) {
	r, _, _ := remotePair(t, RemoteConfig{}, true)
	ctx := testCtx(t, 10*time.Second)
	if _, err := r.Invoke(ctx, wire.AccessModel, wire.ActionInvokeTool, nil, testIC); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("action of another type: %v", err)
	}
	if _, err := r.Invoke(ctx, wire.AccessTool, wire.ActionInvokeTool, json.RawMessage(`[1]`), testIC); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("data not an object: %v", err)
	}
	if st := r.Status(); st.InFlight != 0 {
		t.Errorf("refused requests count in flight: %+v", st)
	}
}

func TestRemoteMultiplexesSessions(t *testing.T) {
	r, f, _ := remotePair(t, RemoteConfig{}, true)
	ctx := testCtx(t, 30*time.Second)
	const n = 5
	streams := map[string]*Stream{}
	var order []string
	for i := range n {
		s, err := r.InvokePayload(ctx, echoRequest(fmt.Sprint(i)), testIC)
		if err != nil {
			t.Fatal(err)
		}
		id := f.next().SessionID
		if id != s.SessionID() {
			t.Fatalf("request %d: session %s, want %s", i, id, s.SessionID())
		}
		streams[id] = s
		order = append(order, id)
	}
	if st := r.Status(); st.InFlight != n {
		t.Errorf("in flight: %d, want %d", st.InFlight, n)
	}
	// Items of every session interleaved, the last session first.
	for item := range 3 {
		for _, id := range slices.Backward(order) {
			f.text(id, fmt.Sprintf("%s/%d", id, item))
		}
	}
	var wg sync.WaitGroup
	for id, s := range streams {
		wg.Go(func() {
			items, err := collect(s)
			if want := []string{id + "/0", id + "/1", id + "/2"}; err != nil || !slices.Equal(texts(t, items), want) {
				t.Errorf("session %s: %v %v, want %v", id, texts(t, items), err, want)
			}
		})
	}
	for _, id := range order {
		f.session(id, wire.MessageEnd, `{}`)
	}
	wg.Wait()
	if st := r.Status(); st.InFlight != 0 {
		t.Errorf("in flight after: %d", st.InFlight)
	}
}

// TestRemoteEndFailsEverything: however the connection ends, every request in flight fails
// at once with ErrDisconnected and the reason, later requests fail at once, Done is closed.
func TestRemoteEndFailsEverything(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		end     func(r *Remote, f *fakePlugin)
		want    error  // matched by the error besides ErrDisconnected
		text    string // in its message
	}{
		{"plugin closes", 0, func(_ *Remote, f *fakePlugin) { f.conn.Close() }, wire.ErrPluginExited, "end of plugin output"},
		{"daemon closes", 0, func(r *Remote, _ *fakePlugin) {
			if err := r.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		}, wire.ErrClosed, "wire: connection closed by the daemon"},
		{"plugin silent", time.Second, func(*Remote, *fakePlugin) {}, ErrHeartbeatTimeout, "no heartbeat within the heartbeat timeout (1s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, f, _ := remotePair(t, RemoteConfig{HeartbeatTimeout: tt.timeout}, true)
			ctx := testCtx(t, 30*time.Second)
			var streams []*Stream
			for i := range 3 {
				s, err := r.InvokePayload(ctx, echoRequest(fmt.Sprint(i)), testIC)
				if err != nil {
					t.Fatal(err)
				}
				f.text(f.next().SessionID, "started")
				if _, err := s.Next(); err != nil {
					t.Fatal(err)
				}
				streams = append(streams, s)
			}
			tt.end(r, f)
			var wg sync.WaitGroup
			for i, s := range streams {
				wg.Go(func() {
					_, err := collect(s)
					if !errors.Is(err, ErrDisconnected) || !errors.Is(err, tt.want) || !errors.Is(err, wire.ErrPluginExited) ||
						!strings.Contains(err.Error(), "plugin me/remote: remote plugin disconnected: "+tt.text) {
						t.Errorf("request %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			select {
			case <-r.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed")
			}
			if err := r.Err(); !errors.Is(err, ErrDisconnected) || !errors.Is(err, tt.want) {
				t.Errorf("Err: %v", err)
			}
			if st := r.Status(); st.State != StateStopped || st.InFlight != 0 || st.LastError != r.Err() || st.Uptime != 0 {
				t.Errorf("status after the end: %+v", st)
			}
			if _, err := r.InvokePayload(ctx, echoRequest("late"), testIC); err != r.Err() {
				t.Errorf("Invoke after the end: %v, want %v", err, r.Err())
			}
			if err := r.Close(ctx); err != nil {
				t.Errorf("Close after the end: %v", err)
			}
		})
	}
}

// TestRemoteAnyLineIsLiveness: a plugin that keeps talking stays connected past the
// heartbeat timeout, whether it sends heartbeats, logs or results; once silent it is cut off.
func TestRemoteAnyLineIsLiveness(t *testing.T) {
	const timeout = time.Second
	r, f, _ := remotePair(t, RemoteConfig{HeartbeatTimeout: timeout}, true)
	ctx := testCtx(t, 30*time.Second)
	s, err := r.InvokePayload(ctx, echoRequest("x"), testIC)
	if err != nil {
		t.Fatal(err)
	}
	id := f.next().SessionID
	lines := []string{heartbeatLine, `{"event":"log","data":{"level":"DEBUG","message":"busy","timestamp":1}}`, "stray output"}
	for i := range 60 { // 3 s, three timeouts, a line every 50 ms
		if i%3 == 2 {
			f.text(id, "item")
		} else {
			f.send(lines[i%len(lines)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-r.Done():
		t.Fatalf("a talking plugin was cut off: %v", r.Err())
	default:
	}
	// Now silence.
	_, err = collect(s)
	if !errors.Is(err, ErrHeartbeatTimeout) || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("after silence: %v", err)
	}
}

// TestRemotePluginNotReading: a plugin that beats but stops reading blocks the daemon's
// writes; the connection is closed after the heartbeat timeout rather than held for ever.
func TestRemotePluginNotReading(t *testing.T) {
	const timeout = time.Second
	r, f, _ := remotePair(t, RemoteConfig{HeartbeatTimeout: timeout}, false)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if f.send(heartbeatLine) != nil {
					return
				}
			}
		}
	}()
	_, err := r.InvokePayload(testCtx(t, 30*time.Second), echoRequest("x"), testIC)
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, errNotReading) {
		t.Fatalf("Invoke to a plugin that does not read: %v", err)
	}
	t.Log(err)
}

// TestRemoteBackwards: backwards invocations are answered as for a Local: storage from the
// store under the plugin's id and the caller's tenant, the permission checked, the answers
// carrying the session's id.
func TestRemoteBackwards(t *testing.T) {
	storeDir := t.TempDir()
	r, f, _ := remotePair(t, RemoteConfig{
		Backwards:   backwards.NewLocal(backwards.NewFileStore(storeDir, 0)),
		Permissions: &manifest.Permission{Storage: &manifest.StoragePermission{Enabled: true, Size: 1 << 20}},
	}, true)
	ctx := testCtx(t, 30*time.Second)
	s, err := r.InvokePayload(ctx, echoRequest("x"), testIC)
	if err != nil {
		t.Fatal(err)
	}
	id := f.next().SessionID
	result := make(chan error, 1)
	var items []wire.SessionMessage
	go func() {
		var err error
		items, err = collect(s)
		result <- err
	}()

	// answers reads the answers to one invocation up to its end.
	answers := func(reqID string) []wire.BackwardsResponse {
		t.Helper()
		var out []wire.BackwardsResponse
		for {
			env := f.next()
			var resp wire.BackwardsResponse
			if err := json.Unmarshal(env.Data, &resp); err != nil || env.Event != wire.EventBackwardsResponse || env.SessionID != id || resp.RequestID != reqID {
				t.Fatalf("answer to %s: %+v %s %v", reqID, env, env.Data, err)
			}
			if resp.Event == wire.BackwardsEventEnd {
				return out
			}
			out = append(out, resp)
		}
	}
	invoke := func(reqID, typ, request string) []wire.BackwardsResponse {
		f.session(id, wire.MessageInvoke, fmt.Sprintf(`{"type":%q,"backwards_request_id":%q,"request":%s}`, typ, reqID, request))
		return answers(reqID)
	}
	tests := []struct {
		reqID, typ, request string
		want                []wire.BackwardsResponse
	}{
		{"b1", "storage", `{"opt":"set","key":"k","value":"7631"}`,
			[]wire.BackwardsResponse{{RequestID: "b1", Event: wire.BackwardsEventResponse, Message: "struct", Data: json.RawMessage(`{"data":"ok"}`)}}},
		{"b2", "storage", `{"opt":"get","key":"k"}`,
			[]wire.BackwardsResponse{{RequestID: "b2", Event: wire.BackwardsEventResponse, Message: "struct", Data: json.RawMessage(`{"data":"7631"}`)}}},
		{"b3", "app", `{"app_id":"a"}`,
			[]wire.BackwardsResponse{{RequestID: "b3", Event: wire.BackwardsEventError, Message: "permission denied, you need to enable app access in plugin manifest", Data: json.RawMessage("null")}}},
		{"b4", "storage", `{"opt":"bogus","key":"k"}`,
			[]wire.BackwardsResponse{{RequestID: "b4", Event: wire.BackwardsEventError, Message: `bad backwards request: storage: unknown opt "bogus" (want get, set, del or exist)`, Data: json.RawMessage("null")}}},
	}
	for _, tt := range tests {
		got := invoke(tt.reqID, tt.typ, tt.request)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s %s: %+v\nwant %+v", tt.typ, tt.request, got, tt.want)
		}
	}
	f.text(id, "done")
	f.session(id, wire.MessageEnd, `{}`)
	if err := <-result; err != nil || !slices.Equal(texts(t, items), []string{"done"}) {
		t.Fatalf("stream: %v %v", items, err)
	}
	file := backwards.NewFileStore(storeDir, 0).Path(backwards.Namespace{TenantID: "t-1", PluginID: "me/remote"})
	if b, err := os.ReadFile(file); err != nil || string(b) != `{"k":"djE="}` {
		t.Errorf("storage file %s: %s, %v", file, b, err)
	}
}

// blockingBackwards stands in for Dify: each call blocks until its context ends, and reports
// that it ended.
type blockingBackwards struct {
	started, cancelled chan struct{}
}

func (b blockingBackwards) Invoke(ctx context.Context, _ backwards.Caller, _ wire.Invocation, _ func(json.RawMessage) error) error {
	close(b.started)
	<-ctx.Done()
	close(b.cancelled)
	return ctx.Err()
}

// TestPluginDeathCancelsBackwardsCall: a plugin that dies while Dify works for it must not leave
// the call to Dify running.
func TestPluginDeathCancelsBackwardsCall(t *testing.T) {
	b := blockingBackwards{started: make(chan struct{}), cancelled: make(chan struct{})}
	r, f, _ := remotePair(t, RemoteConfig{
		Backwards:   b,
		Permissions: &manifest.Permission{Tool: &manifest.Switch{Enabled: true}},
	}, true)
	ctx := testCtx(t, 30*time.Second)
	s, err := r.InvokePayload(ctx, echoRequest("x"), testIC)
	if err != nil {
		t.Fatal(err)
	}
	id := f.next().SessionID
	done := make(chan error, 1)
	go func() {
		_, err := collect(s)
		done <- err
	}()
	f.session(id, wire.MessageInvoke, `{"type":"tool","backwards_request_id":"b1","request":{"tool_type":"builtin","provider":"p","tool":"t","tool_parameters":{}}}`)
	select {
	case <-b.started:
	case <-ctx.Done():
		t.Fatal("the backwards call never started")
	}
	f.conn.Close() // the plugin dies
	select {
	case <-b.cancelled:
	case <-ctx.Done():
		t.Fatal("the call to Dify kept running after its plugin died")
	}
	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Errorf("the request ended with %v", err)
	}
}
