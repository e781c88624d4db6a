package debugging

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// TestTranscript drives the registration and first invoke of §10.2 by hand, with heartbeats
// interleaved as an SDK that reconnected sends them, and everything written at once so that
// the daemon reads the heartbeat after end ahead: it must reach the runtime through Reader.
func TestTranscript(t *testing.T) {
	type decoded struct {
		manifest  json.RawMessage
		providers map[string]json.RawMessage
		assets    []string
	}
	decodes := make(chan decoded, 1)
	type served struct {
		a     Attachment
		lines []string
		err   error
	}
	results := make(chan served, 1)
	ts := startServer(t, Config{
		Decode: func(m json.RawMessage, p map[string]json.RawMessage, assets []string) (*manifest.Plugin, error) {
			decodes <- decoded{m, p, assets}
			return fakeDecode(m, p, assets)
		},
		Attach: func(ctx context.Context, a Attachment) error {
			// A minimal runtime: take the heartbeat, send one request, read its session.
			defer a.Conn.Close()
			lr := wire.NewLineReader(a.Reader, 0)
			var got []string
			for range 3 {
				if len(got) == 1 {
					if _, err := io.WriteString(a.Conn, lineRequest); err != nil {
						results <- served{a, got, err}
						return nil
					}
				}
				line, err := lr.Next()
				if err != nil {
					results <- served{a, got, err}
					return nil
				}
				got = append(got, string(line))
			}
			results <- served{a, got, nil}
			return nil
		},
	})

	c := dial(t, ts.addr)
	defer c.Close()
	if _, err := io.WriteString(c, lineHeartbeat+lineHandshake+lineHeartbeat+lineManifest+lineTools+lineIcon+"\n\n"+lineEnd+lineHeartbeat); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(lineRequest))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("waiting for the request: %v", err)
	}
	if string(buf) != lineRequest {
		t.Fatalf("request line = %q", buf)
	}
	io.WriteString(c, lineStream+lineSessEnd)
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after the session: %q, %v; want EOF", rest, err)
	}

	d := <-decodes
	var wantManifest struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal([]byte(lineManifest), &wantManifest)
	if !bytes.Equal(d.manifest, wantManifest.Data) {
		t.Errorf("manifest given to Decode = %s", d.manifest)
	}
	if len(d.providers) != 1 || string(d.providers["tool"]) != toolProvider {
		t.Errorf("providers given to Decode = %v", d.providers)
	}
	if !slices.Equal(d.assets, []string{"icon.svg"}) {
		t.Errorf("assets given to Decode = %v", d.assets)
	}

	r := <-results
	if r.err != nil {
		t.Fatalf("runtime: %v (read %q)", r.err, r.lines)
	}
	want := []string{lineHeartbeat, lineStream, lineSessEnd}
	for i := range want {
		want[i] = strings.TrimSpace(want[i])
	}
	if !slices.Equal(r.lines, want) {
		t.Errorf("runtime read %q\nwant %q", r.lines, want)
	}
	a := r.a
	if a.TenantID != goodTenant || a.Key != goodKey || a.Plugin.Name != "echo" || a.Plugin.Author != "test" {
		t.Errorf("attachment = tenant %q key %q plugin %+v", a.TenantID, a.Key, a.Plugin)
	}
	if len(a.Assets) != 1 || string(a.Assets["icon.svg"]) != iconSVG {
		t.Errorf("assets = %q", a.Assets)
	}
	if a.RemoteAddr != c.LocalAddr().String() {
		t.Errorf("RemoteAddr = %q, want %q", a.RemoteAddr, c.LocalAddr())
	}
}

// TestRefusals: every refusal is one plain-text line naming what is wrong, and the connection
// closes right after it.
func TestRefusals(t *testing.T) {
	const badKey = "99999999-aaaa-bbbb-cccc-dddddddddddd"
	hs := func(key string) string { return `{"type":"handshake","data":{"key":"` + key + `"}}` + "\n" }
	asset := func(name string, data []byte) string {
		b, _ := json.Marshal(wire.AssetChunk{Filename: name, Data: data})
		return `{"type":"asset_chunk","data":` + string(b) + "}\n"
	}
	manifestNamed := func(name string) string {
		return strings.Replace(lineManifest, `"name":"echo"`, `"name":"`+name+`"`, 1)
	}
	var manyFiles strings.Builder
	for i := range 20 {
		manyFiles.WriteString(asset(fmt.Sprintf("f%02d", i), nil))
	}

	cases := []struct {
		name    string
		payload string
		want    []string // the reply starts with want[0] and contains the rest
		exact   string   // or equals this
	}{
		{name: "unknown key", payload: hs(badKey) + lineManifest + lineTools + lineEnd,
			want: []string{"handshake failed, invalid key: key 9999…dddd is unknown or expired (no tenant for key 9999…dddd); get a fresh one", "plugd debug-key", "REMOTE_INSTALL_KEY"}},
		{name: "key store down", payload: hs(storeDown) + lineManifest,
			want: []string{"handshake failed, the daemon could not check key stor…0001", "connection refused", "try again later"}},
		{name: "empty key", payload: hs("  ") + lineManifest,
			want: []string{"handshake failed, invalid handshake message: message 1: the key is empty; set REMOTE_INSTALL_KEY", "plugd debug-key"}},
		{name: "null key", payload: `{"type":"handshake","data":{"key":null}}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 1: the key is empty"}},
		{name: "handshake data not object", payload: `{"type":"handshake","data":"` + goodKey + `"}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 1: handshake data must be an object"}},
		{name: "not JSON", payload: "hello\n",
			want: []string{"handshake failed, invalid handshake message: message 1: not a JSON object"}},
		{name: "broken JSON", payload: `{"type":"handshake","data":{"key":` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 1: invalid JSON at byte"}},
		{name: "type missing", payload: `{"data":{}}` + "\n",
			want: []string{`handshake failed, invalid handshake message: message 1: "type" is missing`}},
		{name: "type not string", payload: `{"type":7,"data":{}}` + "\n",
			want: []string{`handshake failed, invalid handshake message: message 1: "type" must be a non-empty string`}},
		{name: "data missing", payload: `{"type":"handshake"}` + "\n",
			want: []string{`handshake failed, invalid handshake message: message 1: "handshake": "data" is missing`}},
		{name: "manifest before handshake", payload: lineManifest + lineHandshake,
			want: []string{`handshake failed, invalid handshake message: message 1 is "manifest_declaration", but the handshake must come first`}},
		{name: "heartbeat then manifest", payload: lineHeartbeat + lineManifest,
			want: []string{`handshake failed, invalid handshake message: message 2 is "manifest_declaration"`}},
		{name: "handshake too long", payload: `{"type":"handshake","data":{"key":"` + strings.Repeat("k", 70000) + `"}}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 1 is longer than 64 KiB (65536 bytes) before the handshake"}},
		{name: "duplicate handshake", payload: lineHandshake + lineHandshake,
			want: []string{"registration failed: duplicate handshake (message 2)"}},
		{name: "duplicate manifest", payload: lineHandshake + lineManifest + lineManifest,
			want: []string{"registration failed: duplicate manifest_declaration (message 3)"}},
		{name: "duplicate tools", payload: lineHandshake + lineManifest + lineTools + lineTools,
			want: []string{"registration failed: duplicate tool_declaration (message 4)"}},
		{name: "manifest not object", payload: lineHandshake + `{"type":"manifest_declaration","data":[]}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 2: manifest_declaration data must be a JSON object"}},
		{name: "provider not array", payload: lineHandshake + `{"type":"model_declaration","data":{"provider":"x"}}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 2: model_declaration data must be a JSON array"}},
		{name: "provider empty", payload: lineHandshake + `{"type":"endpoint_declaration","data":[]}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 2: endpoint_declaration data is an empty array"}},
		{name: "provider element not object", payload: lineHandshake + `{"type":"trigger_declaration","data":[1]}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 2: trigger_declaration data element 0 must be a JSON object"}},
		{name: "unknown type", payload: lineHandshake + `{"type":"widget_declaration","data":[{}]}` + "\n",
			want: []string{`handshake failed, invalid handshake message: message 2 has unknown type "widget_declaration"`}},
		{name: "line too long", payload: lineHandshake + lineManifest + `{"type":"tool_declaration","data":[{"x":"` + strings.Repeat("x", 5000) + `"}]}` + "\n",
			want: []string{"registration failed: message 3 (after manifest_declaration) is longer than the daemon's limit of 4 KiB (4096 bytes)"}},
		{name: "end without providers", payload: lineHandshake + lineManifest + lineIcon + lineEnd,
			want: []string{"no registration transferred, cannot initialize: end (message 4) arrived without any tool, model",
				"received handshake, manifest_declaration, 1 asset chunk(s)"}},
		{name: "end without manifest", payload: lineHandshake + lineTools + lineEnd,
			want: []string{"registration failed: end (message 3) arrived before any manifest_declaration"}},
		{name: "assets too big", payload: lineHandshake + lineManifest + lineTools + asset("a.bin", make([]byte, 600)) + asset("a.bin", make([]byte, 600)),
			want: []string{`registration failed: assets exceed the limit of 1 KiB (1024 bytes) at message 5 (file "a.bin")`}},
		{name: "too many empty files", payload: lineHandshake + manyFiles.String(),
			want: []string{"registration failed: assets exceed the limit of 1 KiB"}},
		{name: "asset path", payload: lineHandshake + asset("../../etc/passwd", []byte("x")),
			want: []string{`registration failed: message 2: asset_chunk: filename "../../etc/passwd" must be a base name`}},
		{name: "asset dotdot", payload: lineHandshake + asset("..", []byte("x")),
			want: []string{`registration failed: message 2: asset_chunk: filename ".." is not a file name`}},
		{name: "asset backslash", payload: lineHandshake + asset(`a\b`, []byte("x")),
			want: []string{`registration failed: message 2: asset_chunk: filename "a\\b" must be a base name`}},
		{name: "asset no name", payload: lineHandshake + asset("", []byte("x")),
			want: []string{"registration failed: message 2: asset_chunk: filename is empty"}},
		{name: "asset control char", payload: lineHandshake + asset("a\x00b", []byte("x")),
			want: []string{"registration failed: message 2: asset_chunk: filename", "control character"}},
		{name: "asset not base64", payload: lineHandshake + `{"type":"asset_chunk","data":{"filename":"a","data":"%%%"}}` + "\n",
			want: []string{"handshake failed, invalid handshake message: message 2: asset_chunk:", "base64"}},
		{name: "decode error", payload: lineHandshake + manifestNamed("bad") + lineTools + lineEnd,
			exact: `manifest.yaml: 2 problems:   name: "bad" is reserved   version: missing`},
		{name: "attach error", payload: lineHandshake + manifestNamed("attachfail") + lineTools + lineEnd,
			exact: "plugin test/attachfail is already installed for tenant-1;  uninstall it first"},
	}
	ts := startServer(t, Config{
		MaxLine:   4096,
		MaxAssets: 1024,
		Attach: func(_ context.Context, a Attachment) error {
			if a.Plugin.Name == "attachfail" {
				return fmt.Errorf("plugin test/attachfail is already installed for %s;\n uninstall it first", a.TenantID)
			}
			a.Conn.Close()
			return nil
		},
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply := checkOneLine(t, exchange(t, ts.addr, tc.payload))
			if tc.exact != "" {
				if reply != tc.exact {
					t.Fatalf("reply %q\nwant  %q", reply, tc.exact)
				}
				return
			}
			if !strings.HasPrefix(reply, tc.want[0]) {
				t.Fatalf("reply %q\nwant prefix %q", reply, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(reply, w) {
					t.Errorf("reply %q lacks %q", reply, w)
				}
			}
			for _, key := range []string{badKey, goodKey, storeDown} {
				if strings.Contains(reply, key) {
					t.Errorf("reply echoes a full key: %q", reply)
				}
			}
		})
	}
}

// TestTimeouts: a connection that does not finish a step in time is told which step.
func TestTimeouts(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 100 * time.Millisecond, RegistrationTimeout: 300 * time.Millisecond})
	cases := []struct{ name, payload, want string }{
		{"silent", "", "handshake failed, timed out: no valid handshake within 100ms of connecting"},
		{"only heartbeats", lineHeartbeat + lineHeartbeat, "handshake failed, timed out: no valid handshake within 100ms"},
		{"half a handshake", `{"type":"handshake","da`, "handshake failed, timed out: no valid handshake within 100ms"},
		{"stalls after handshake", lineHandshake,
			"registration failed: timed out: end did not arrive within 300ms of connecting; waited for the message after handshake (message 1), received handshake"},
		{"stalls after assets", lineHandshake + lineManifest + lineTools + lineIcon,
			"registration failed: timed out: end did not arrive within 300ms of connecting; waited for the message after asset_chunk (message 4), received handshake, manifest_declaration, tool_declaration, 1 asset chunk(s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			defer c.Close()
			io.WriteString(c, tc.payload) // and then nothing more, without closing
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if reply := checkOneLine(t, string(got)); !strings.HasPrefix(reply, tc.want) {
				t.Fatalf("reply %q\nwant prefix %q", reply, tc.want)
			}
		})
	}
}

// TestMaxConns: past MaxConns attached plugins the server is busy, until one's Conn closes.
func TestMaxConns(t *testing.T) {
	attached := make(chan Attachment, 4)
	ts := startServer(t, Config{MaxConns: 1, Attach: func(_ context.Context, a Attachment) error {
		attached <- a
		return nil // the connection stays open, owned by the test
	}})
	c1 := dial(t, ts.addr)
	defer c1.Close()
	io.WriteString(c1, fullRegistration)
	a1 := <-attached

	reply := checkOneLine(t, exchange(t, ts.addr, fullRegistration))
	if reply != "server is busy now, please try again later" {
		t.Fatalf("second plugin got %q", reply)
	}

	a1.Conn.Close()
	a1.Conn.Close() // twice: frees one place, not two
	if buf := make([]byte, 1); true {
		if n, err := c1.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("first plugin after Close: %d, %v", n, err)
		}
	}
	c3 := dial(t, ts.addr)
	defer c3.Close()
	io.WriteString(c3, fullRegistration)
	a3 := <-attached
	if a3.Plugin.Name != "echo" {
		t.Fatalf("third plugin = %+v", a3.Plugin)
	}
	ts.mu.Lock()
	n := ts.attached
	ts.mu.Unlock()
	if n != 1 {
		t.Fatalf("attached = %d, want 1", n)
	}
	a3.Conn.Close()
}

// TestMaxPending: past MaxPending connections registering after their handshake, the next
// authenticated one waits for a turn and is then served normally; keys are still checked at
// once meanwhile.
func TestMaxPending(t *testing.T) {
	attached := make(chan Attachment, 4)
	ts := startServer(t, Config{MaxPending: 2, Attach: func(_ context.Context, a Attachment) error {
		attached <- a
		return nil
	}})
	var stalled []net.Conn
	for range 2 {
		c := dial(t, ts.addr)
		defer c.Close()
		io.WriteString(c, lineHandshake) // and then nothing: registering, holding a turn
		stalled = append(stalled, c)
	}
	for len(ts.pending) < 2 {
		runtime.Gosched()
	}
	// A wrong key is answered at once: checking it needs no turn.
	if reply := checkOneLine(t, exchange(t, ts.addr, `{"type":"handshake","data":{"key":"nope-nope-nope-nope"}}`+"\n")); !strings.HasPrefix(reply, "handshake failed, invalid key: key nope…nope") {
		t.Fatalf("wrong key got %q", reply)
	}
	c := dial(t, ts.addr)
	defer c.Close()
	io.WriteString(c, fullRegistration)
	select {
	case a := <-attached:
		t.Fatalf("attached %v while 2 were registering", a.Plugin)
	case <-time.After(300 * time.Millisecond): // waiting can only make this pass more slowly
	}
	stalled[0].Close()
	a := <-attached
	if a.Plugin.Name != "echo" {
		t.Fatalf("attached %+v", a.Plugin)
	}
	a.Conn.Close()
}

// TestHalfOpenFlood: 200 connections that never send a byte do not keep a real plugin
// waiting: it is registered at once (the bound is 1 s), and the server holds at most
// MaxUnauthenticated of them.
func TestHalfOpenFlood(t *testing.T) {
	attached := make(chan Attachment, 1)
	ts := startServer(t, Config{MaxUnauthenticated: 64, Attach: func(_ context.Context, a Attachment) error {
		attached <- a
		return nil
	}})
	var idle []net.Conn
	for range 200 {
		c := dial(t, ts.addr)
		defer c.Close()
		idle = append(idle, c)
	}
	start := time.Now()
	c := dial(t, ts.addr)
	defer c.Close()
	io.WriteString(c, fullRegistration)
	a := <-attached
	took := time.Since(start)
	a.Conn.Close()
	t.Logf("registered after %v behind 200 half-open connections", took)
	if took > time.Second {
		t.Errorf("a real plugin waited %v behind 200 half-open connections; the bound is 1 s", took)
	}
	ts.mu.Lock()
	n := ts.unauth.Len()
	ts.mu.Unlock()
	if n > 64 {
		t.Errorf("%d unauthenticated connections held, MaxUnauthenticated 64", n)
	}
	// The oldest were closed to make room; the newest still wait for their handshake.
	if _, err := idle[0].Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Errorf("oldest idle connection: %v, want it closed by the server", err)
	}
	idle[199].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := idle[199].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("newest idle connection: %v, want it still open", err)
	}
}

// TestShutdown: ending Serve's context tells registering plugins and returns.
func TestShutdown(t *testing.T) {
	ts := startServer(t, Config{})
	var conns []net.Conn
	for _, payload := range []string{"", lineHandshake, lineHandshake + lineManifest} {
		c := dial(t, ts.addr)
		defer c.Close()
		io.WriteString(c, payload)
		conns = append(conns, c)
	}
	for { // all accepted: one waiting for its handshake, two registering
		ts.mu.Lock()
		n := ts.unauth.Len()
		ts.mu.Unlock()
		if n == 1 && len(ts.pending) == 2 {
			break
		}
		runtime.Gosched()
	}
	ts.stop(t)
	for i, c := range conns {
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if reply := checkOneLine(t, string(got)); reply != replyShutdown {
			t.Errorf("connection %d got %q", i, reply)
		}
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("still accepting after Serve returned")
	}
}

// TestLongLineBoundedMemory streams a 100 MiB line without a newline: the server must refuse it
// after MaxLine (default 16 MiB) bytes, having allocated nowhere near 100 MiB; before the
// handshake, after 64 KiB.
func TestLongLineBoundedMemory(t *testing.T) {
	const lineSize = 100 << 20
	cases := []struct {
		name, prefix, want string
		maxAlloc           uint64
	}{
		{"after handshake", lineHandshake + lineManifest + `{"type":"tool_declaration","data":[{"x":"`,
			"registration failed: message 3 (after manifest_declaration) is longer than the daemon's limit of 16 MiB (16777216 bytes)",
			2*DefaultMaxLine + 8<<20},
		{"before handshake", `{"type":"handshake","data":{"key":"`,
			"handshake failed, invalid handshake message: message 1 is longer than 64 KiB (65536 bytes) before the handshake",
			4 << 20},
	}
	ts := startServer(t, Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)

			c := dial(t, ts.addr)
			defer c.Close()
			replied := make(chan struct{})
			var wg sync.WaitGroup
			var sent int64
			wg.Go(func() { // stream the line from one reused buffer until refused
				chunk := bytes.Repeat([]byte("a"), 64<<10)
				n, _ := io.WriteString(c, tc.prefix)
				sent = int64(n)
				for sent < lineSize {
					select {
					case <-replied:
						return
					default:
					}
					n, err := c.Write(chunk)
					sent += int64(n)
					if err != nil {
						return
					}
				}
			})
			reply, err := readLine(c)
			close(replied)
			wg.Wait()
			if err != nil {
				t.Fatalf("reading the reply: %v (sent %d bytes)", err, sent)
			}
			runtime.ReadMemStats(&after)
			if !strings.HasPrefix(reply, tc.want) || !strings.HasSuffix(reply, "\n") {
				t.Fatalf("reply %q\nwant  %q", reply, tc.want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("sent %d MiB before the refusal; allocated %.1f MiB", sent>>20, float64(alloc)/(1<<20))
			if alloc > tc.maxAlloc {
				t.Fatalf("allocated %d bytes for a refused line, bound %d", alloc, tc.maxAlloc)
			}
		})
	}
}

// readLine reads up to and including the first '\n', byte by byte, so that nothing allocates
// in proportion to what the server sends.
func readLine(r io.Reader) (string, error) {
	var b [1]byte
	var line []byte
	for len(line) < 4096 {
		if _, err := r.Read(b[:]); err != nil {
			return string(line), err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			return string(line), nil
		}
	}
	return string(line), errors.New("reply line too long")
}

// TestFlood: 500 connections with bad keys are all refused properly, cost little memory each,
// and leave no goroutine behind once the server stops.
func TestFlood(t *testing.T) {
	const conns = 500
	runtime.GC()
	base := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	ts := startServer(t, Config{MaxPending: 16})
	var wg sync.WaitGroup
	failures := make(chan string, conns)
	work := make(chan int)
	for range 50 {
		wg.Go(func() {
			for i := range work {
				key := fmt.Sprintf("%08d-0000-0000-0000-000000000000", i)
				c, err := net.Dial("tcp", ts.addr)
				if err != nil {
					failures <- err.Error()
					continue
				}
				c.SetDeadline(time.Now().Add(hangGuard))
				io.WriteString(c, `{"type":"handshake","data":{"key":"`+key+`"}}`+"\n"+lineManifest+lineTools)
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || !strings.HasPrefix(string(got), "handshake failed, invalid key: key "+key[:4]+"…0000") || strings.Contains(string(got), key) {
					failures <- fmt.Sprintf("%q, %v", got, err)
				}
			}
		})
	}
	for i := range conns {
		work <- i
	}
	close(work)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("connection: %s", f)
	}
	ts.stop(t)
	runtime.ReadMemStats(&after)
	perConn := (after.TotalAlloc - before.TotalAlloc) / conns
	t.Logf("allocated %d KiB per refused connection (client and server)", perConn>>10)
	if perConn > 256<<10 {
		t.Errorf("allocated %d bytes per refused connection", perConn)
	}

	// Goroutines end asynchronously after their last close; wait for them, then compare.
	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left behind:\n%s", n-base, buf[:runtime.Stack(buf, true)])
	}
}

// TestRandomBytes: garbage is refused as an invalid handshake, whatever it is.
func TestRandomBytes(t *testing.T) {
	ts := startServer(t, Config{})
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 42))
		junk := make([]byte, 256<<10)
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		if seed%2 == 1 { // printable junk with line breaks, closer to real mistakes
			enc := base64.StdEncoding.EncodeToString(junk[:64<<10])
			junk = []byte(strings.ReplaceAll(enc, "A", "\n"))
		}
		reply := checkOneLine(t, exchange(t, ts.addr, string(junk)))
		if !strings.HasPrefix(reply, "handshake failed, invalid handshake message: message 1") {
			t.Errorf("seed %d: reply %q", seed, reply)
		}
	}
}

func TestShortKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{goodKey, "1111…5555"},
		{"1234567890ab", "1234…90ab"},
		{"short", "…(5 characters)"},
		{"", ""},
		{"ab\ncd\x00efghijk", "ab?c…hijk"},
		{"ключключключ", "ключ…ключ"},
	}
	for _, tc := range cases {
		if got := shortKey(tc.in); got != tc.want {
			t.Errorf("shortKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestServeNeedsConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := New(Config{}).Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve without Keys, Decode and Attach succeeded")
	}
}
