package difyapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "inner-api-key"

// call is one request the fake Dify received.
type call struct {
	Path, Key, ContentType string
	Body                   map[string]any
}

// fakeDify imitates Dify's inner API: a wrong key gets Flask's 404 page, and every other
// request goes to handle, after its call is recorded.
type fakeDify struct {
	srv    *httptest.Server
	handle func(w http.ResponseWriter, r *http.Request, body map[string]any)

	mu    sync.Mutex
	calls []call
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body map[string]any)) *fakeDify {
	t.Helper()
	f := &fakeDify{handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		f.mu.Lock()
		f.calls = append(f.calls, call{Path: r.URL.Path, Key: r.Header.Get(KeyHeader), ContentType: r.Header.Get("Content-Type"), Body: body})
		f.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get(KeyHeader) != testKey || !strings.HasPrefix(r.URL.Path, "/inner/api/") {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n")
			return
		}
		f.handle(w, r, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDify) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call{}, f.calls...)
}

func (f *fakeDify) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.srv.URL + "/", Key: testKey}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unary answers as Dify's unary routes do: HTTP 200 and {"data", "error"}.
func unary(w http.ResponseWriter, data any, errMsg string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data, "error": errMsg})
}

// frames answers as Dify's streaming routes do, one flushed write per chunk.
func frames(w http.ResponseWriter, chunks ...[]byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, c := range chunks {
		w.Write(c)
		w.(http.Flusher).Flush()
	}
}

func frame(data any, errMsg string) []byte {
	b, _ := json.Marshal(map[string]any{"data": data, "error": errMsg})
	return AppendFrame(nil, b)
}

func TestNew(t *testing.T) {
	tests := []struct {
		base, key string
		want      string // the base of routes, or the error's text
	}{
		{"http://dify:5001", "k", "http://dify:5001/inner/api/"},
		{"http://dify:5001/", "k", "http://dify:5001/inner/api/"},
		{"https://example.com/prefix/", "k", "https://example.com/prefix/inner/api/"},
		{"", "k", "no base URL"},
		{"ftp://dify", "k", "scheme must be http or https"},
		{"dify:5001", "k", "scheme must be http or https"},
		{"http://", "k", "no host"},
		{"http://dify/?x=1", "k", "query or fragment"},
		{"http://dify", "", "no inner API key (DIFY_INNER_API_KEY)"},
		{"http://dify\x00", "k", "invalid control character"},
	}
	for _, tt := range tests {
		c, err := New(Config{BaseURL: tt.base, Key: tt.key})
		if err != nil {
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%q): %v, want %q", tt.base, err, tt.want)
			}
			continue
		}
		if c.base != tt.want {
			t.Errorf("New(%q): base %q, want %q", tt.base, c.base, tt.want)
		}
		if c.read != DefaultReadTimeout || c.write != DefaultWriteTimeout || c.maxFrame != DefaultMaxFrame {
			t.Errorf("New(%q): defaults not applied: %v %v %d", tt.base, c.read, c.write, c.maxFrame)
		}
	}
	if _, err := New(Config{BaseURL: "http://dify", Key: "k", ReadTimeout: -1}); err == nil {
		t.Error("negative ReadTimeout accepted")
	}
}

func TestUnary(t *testing.T) {
	tests := []struct {
		name   string
		handle func(w http.ResponseWriter)
		key    string
		want   string // data, or a part of the error
		err    error
	}{
		{"ok", func(w http.ResponseWriter) { unary(w, map[string]any{"summary": "short"}, "") }, "", `{"summary":"short"}`, nil},
		{"Dify error", func(w http.ResponseWriter) { unary(w, nil, "Model gpt-x not exist.") }, "", "Dify invoke/summary failed: Model gpt-x not exist.", nil},
		{"no data, no error", func(w http.ResponseWriter) { unary(w, nil, "") }, "", "no data and no error", ErrProtocol},
		{"no error key", func(w http.ResponseWriter) { io.WriteString(w, `{"data":{"a":1}}`) }, "", `{"a":1}`, nil},
		{"garbage", func(w http.ResponseWriter) { io.WriteString(w, "<html>proxy says hi</html>") }, "", "<html>proxy says hi</html>", ErrProtocol},
		{"trailing garbage", func(w http.ResponseWriter) { io.WriteString(w, `{"data":{}} x`) }, "", "not a JSON {data, error} object", ErrProtocol},
		{"binary garbage", func(w http.ResponseWriter) { w.Write([]byte{0x0f, 0, 0xff, '\n'}) }, "", `\x0f\x00\xff`, ErrProtocol},
		{"wrong key", nil, "wrong", "Dify inner API auth failed (404): check DIFY_INNER_API_KEY", ErrAuth},
		{"500", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			io.WriteString(w, `{"message":"tenant not found","code":"invalid_param"}`)
		}, "", `invoke/summary answered HTTP 500: {"message":"tenant not found"`, ErrStatus},
		{"too large", func(w http.ResponseWriter) { unary(w, map[string]any{"x": strings.Repeat("a", 2000)}, "") }, "", "larger than 1024 bytes", ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { tt.handle(w) })
			c := f.client(t, func(cfg *Config) {
				cfg.MaxFrame = 1024
				if tt.key != "" {
					cfg.Key = tt.key
				}
			})
			data, err := c.Unary(context.Background(), "invoke/summary", map[string]any{"tenant_id": "t1", "user_id": "u1", "text": "x"})
			if err == nil {
				if string(data) != tt.want {
					t.Fatalf("data %s, want %s", data, tt.want)
				}
			} else if !strings.Contains(err.Error(), tt.want) || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error %q, want %v containing %q", err, tt.err, tt.want)
			}
			if tt.name == "Dify error" {
				var re *RemoteError
				if !errors.As(err, &re) || re.Message != "Model gpt-x not exist." || re.Path != "invoke/summary" {
					t.Fatalf("error %#v is not the RemoteError", err)
				}
			}
			calls := f.recorded()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			cl := calls[0]
			if cl.Path != "/inner/api/invoke/summary" || cl.ContentType != "application/json" || cl.Body["tenant_id"] != "t1" || cl.Body["text"] != "x" {
				t.Fatalf("Dify got %+v", cl)
			}
			if tt.key == "" && cl.Key != testKey {
				t.Fatalf("key header %q", cl.Key)
			}
		})
	}
}

func TestStream(t *testing.T) {
	twoGiB := make([]byte, framePrefixLen)
	twoGiB[0] = FrameMagic
	binary.LittleEndian.PutUint16(twoGiB[2:], frameHeaderLen)
	binary.LittleEndian.PutUint32(twoGiB[4:], 0xffffffff)
	all := bytes.Join([][]byte{frame(map[string]any{"n": 1}, ""), frame(map[string]any{"n": 2}, ""), frame(map[string]any{"n": 3}, "")}, nil)
	var bytewise [][]byte
	for i := range all {
		bytewise = append(bytewise, all[i:i+1])
	}
	tests := []struct {
		name   string
		chunks [][]byte
		items  []string
		want   string // a part of the error; "" for success
		errs   []error
	}{
		{"three frames", [][]byte{all}, []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}, "", nil},
		{"split across reads", bytewise, []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}, "", nil},
		{"no frames", nil, nil, "", nil},
		{"error frame", [][]byte{frame(map[string]any{"n": 1}, ""), frame(nil, "quota exceeded")},
			[]string{`{"n":1}`}, "Dify invoke/llm failed: quota exceeded", nil},
		{"null data", [][]byte{frame(nil, "")}, nil, "frame 1 has no data and no error", []error{ErrProtocol}},
		{"payload not JSON", [][]byte{AppendFrame(nil, []byte("hello"))}, nil, "frame 1 is not a JSON", []error{ErrProtocol}},
		{"truncated payload", [][]byte{frame(map[string]any{"n": 1}, "")[:20]}, nil, "stream ends 6 bytes into a", []error{ErrBadFrame, io.ErrUnexpectedEOF}},
		{"truncated header", [][]byte{all[:9]}, nil, "into a frame's 10-byte header", []error{ErrBadFrame, io.ErrUnexpectedEOF}},
		{"truncated prefix", [][]byte{all[:2]}, nil, "2 bytes into a frame's 4-byte prefix", []error{ErrBadFrame, io.ErrUnexpectedEOF}},
		{"claims 4 GiB", [][]byte{twoGiB}, nil, "frame claims 4294967295 bytes, the limit is 1048576", []error{ErrFrameTooLarge}},
		{"SSE from an old Dify", [][]byte{[]byte("data: {\"data\":{}}\n\n")}, nil, `byte 0x64 where the 0x0f magic`, []error{ErrBadFrame}},
		{"second frame garbage", [][]byte{frame(map[string]any{"n": 1}, ""), []byte("<html>")}, []string{`{"n":1}`}, "frame 2: bad length-prefixed frame", []error{ErrBadFrame}},
		{"bad header length", [][]byte{{FrameMagic, 0, 9, 0}}, nil, "header length 9, want 10", []error{ErrBadFrame}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { frames(w, tt.chunks...) })
			c := f.client(t, func(cfg *Config) { cfg.MaxFrame = 1 << 20 })
			var items []string
			err := c.Stream(context.Background(), "invoke/llm", map[string]any{"tenant_id": "t1"}, func(d json.RawMessage) error {
				items = append(items, string(d))
				return nil
			})
			if fmt.Sprint(items) != fmt.Sprint(tt.items) {
				t.Errorf("items %v, want %v", items, tt.items)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			for _, e := range tt.errs {
				if !errors.Is(err, e) {
					t.Errorf("error %v is not %v", err, e)
				}
			}
			if cl := f.recorded(); len(cl) != 1 || cl[0].Path != "/inner/api/invoke/llm" || cl[0].Key != testKey {
				t.Errorf("Dify got %+v", cl)
			}
		})
	}
}

func TestStreamHTTPErrors(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "Internal Server Error\n")
	})
	each := func(json.RawMessage) error { t.Error("an item from a failed answer"); return nil }
	err := f.client(t, nil).Stream(context.Background(), "invoke/tool", map[string]any{}, each)
	if !errors.Is(err, ErrStatus) || errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "invoke/tool answered HTTP 500: Internal Server Error") {
		t.Fatalf("500: %v", err)
	}
	err = f.client(t, func(c *Config) { c.Key = "nope" }).Stream(context.Background(), "invoke/tool", map[string]any{}, each)
	var se *StatusError
	if !errors.Is(err, ErrAuth) || !errors.As(err, &se) || se.Status != 404 || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("404: %v", err)
	}
}

// hang is a Dify that sends what first holds, then waits for the request to end and says so
// by closing gone.
func hang(first [][]byte, started, gone chan struct{}) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if first != nil {
			frames(w, first...)
		}
		close(started)
		<-r.Context().Done()
		close(gone)
	}
}

func waitGone(t *testing.T, gone chan struct{}) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(10 * time.Second): // a safety net, not a measure: the cancel is immediate
		t.Fatal("Dify never saw the request end")
	}
}

func TestReadTimeout(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			started, gone := make(chan struct{}), make(chan struct{})
			var first [][]byte
			if stream {
				first = [][]byte{frame(map[string]any{"n": 1}, "")}
			}
			f := newFake(t, hang(first, started, gone))
			c := f.client(t, func(cfg *Config) { cfg.ReadTimeout = 200 * time.Millisecond })
			var err error
			var items int
			if stream {
				err = c.Stream(context.Background(), "invoke/llm", map[string]any{}, func(json.RawMessage) error { items++; return nil })
			} else {
				_, err = c.Unary(context.Background(), "invoke/rerank", map[string]any{})
			}
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT") {
				t.Fatalf("error %v, want the read timeout", err)
			}
			if stream && items != 1 {
				t.Errorf("%d items before the timeout, want 1", items)
			}
			waitGone(t, gone)
		})
	}
}

func TestCallerCancel(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			started, gone := make(chan struct{}), make(chan struct{})
			f := newFake(t, hang(nil, started, gone))
			c := f.client(t, nil)
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-started; cancel() }()
			var err error
			if stream {
				err = c.Stream(ctx, "invoke/app", map[string]any{}, func(json.RawMessage) error { return nil })
			} else {
				_, err = c.Unary(ctx, "invoke/moderation", map[string]any{})
			}
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			waitGone(t, gone)
		})
	}
}

// An error from each ends the stream and the request with it.
func TestStreamConsumerStops(t *testing.T) {
	started, gone := make(chan struct{}), make(chan struct{})
	f := newFake(t, hang([][]byte{frame(map[string]any{"n": 1}, "")}, started, gone))
	stop := errors.New("plugin went away")
	err := f.client(t, nil).Stream(context.Background(), "invoke/tts", map[string]any{}, func(json.RawMessage) error { return stop })
	if err != stop {
		t.Fatalf("error %v, want the consumer's", err)
	}
	waitGone(t, gone)
}

// A Dify that accepts the connection and never reads: the write bound ends the call. The
// request is larger than the transport's buffer, as a speech2text file is, so sending it
// blocks.
func TestWriteTimeout(t *testing.T) {
	var mu sync.Mutex
	var peers []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range peers {
			p.Close()
		}
	})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		a, b := net.Pipe() // writes to a block until someone reads b: nobody does
		mu.Lock()
		peers = append(peers, b)
		mu.Unlock()
		return a, nil
	}}}
	c, err := New(Config{BaseURL: "http://dify.invalid", Key: testKey, HTTP: hc, WriteTimeout: 100 * time.Millisecond, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Unary(context.Background(), "invoke/speech2text", map[string]any{"file": strings.Repeat("ab", 64<<10)})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "DIFY_BACKWARDS_INVOCATION_WRITE_TIMEOUT") {
		t.Fatalf("error %v, want the write timeout", err)
	}
}

// The write bound does not cover Dify's work: a unary answer's headers come only when the
// work is done.
func TestSlowAnswerWithinReadTimeout(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		time.Sleep(600 * time.Millisecond)
		unary(w, map[string]any{"result": true}, "")
	})
	c := f.client(t, func(cfg *Config) { cfg.WriteTimeout = 100 * time.Millisecond })
	data, err := c.Unary(context.Background(), "invoke/moderation", map[string]any{})
	if err != nil || string(data) != `{"result":true}` {
		t.Fatalf("got %s, %v", data, err)
	}
}

func TestConcurrent(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		n := body["n"]
		if strings.HasSuffix(r.URL.Path, "/invoke/llm") {
			frames(w, frame(map[string]any{"n": n, "part": 1}, ""), frame(map[string]any{"n": n, "part": 2}, ""))
			return
		}
		unary(w, map[string]any{"n": n}, "")
	})
	c := f.client(t, nil)
	const N = 50
	errs := make(chan error, N)
	for i := range N {
		go func() {
			if i%2 == 0 {
				d, err := c.Unary(context.Background(), "invoke/text-embedding", map[string]any{"n": i})
				if err == nil && string(d) != fmt.Sprintf(`{"n":%d}`, i) {
					err = fmt.Errorf("call %d got %s", i, d)
				}
				errs <- err
				return
			}
			var got []string
			err := c.Stream(context.Background(), "invoke/llm", map[string]any{"n": i}, func(d json.RawMessage) error {
				got = append(got, string(d))
				return nil
			})
			if want := fmt.Sprintf(`[{"n":%d,"part":1} {"n":%d,"part":2}]`, i, i); err == nil && fmt.Sprint(got) != want {
				err = fmt.Errorf("call %d got %v", i, got)
			}
			errs <- err
		}()
	}
	for range N {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(f.recorded()); n != N {
		t.Errorf("Dify got %d calls, want %d", n, N)
	}
}

func TestReadFrameLimits(t *testing.T) {
	big := AppendFrame(nil, bytes.Repeat([]byte("x"), 100<<10)) // past the direct-allocation size
	tests := []struct {
		name string
		in   []byte
		max  int
		want int // payload length, or -1 for an error
		err  error
	}{
		{"at the limit", AppendFrame(nil, []byte("12345")), 5, 5, nil},
		{"over the limit", AppendFrame(nil, []byte("123456")), 5, -1, ErrFrameTooLarge},
		{"empty payload", AppendFrame(nil, nil), 5, 0, nil},
		{"large payload", big, 1 << 20, 100 << 10, nil},
		{"large payload cut", big[:50<<10], 1 << 20, -1, io.ErrUnexpectedEOF},
		{"default limit", big, 0, 100 << 10, nil},
	}
	for _, tt := range tests {
		p, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.max)
		if tt.want < 0 {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || len(p) != tt.want {
			t.Errorf("%s: %d bytes, %v; want %d", tt.name, len(p), err, tt.want)
		}
	}
}
