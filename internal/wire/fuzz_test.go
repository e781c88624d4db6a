package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedLines adds every line of the captured transcripts to a fuzz corpus.
func seedLines(f *testing.F, add func(line []byte)) {
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if _, rest, ok := bytes.Cut(l, []byte(" ")); ok && (bytes.HasPrefix(l, []byte("P>D ")) || bytes.HasPrefix(l, []byte("D>P "))) {
				l = rest
			}
			add(l)
		}
	}
	for _, s := range []string{"", "{}", "null", `{"event":null}`, `{"event":"session","session_id":"","data":{}}`,
		`{"event":"session","session_id":"s","data":{"type":"invoke","data":{"type":"x","backwards_request_id":"y","request":{}}}}`,
		`{"event":"session","session_id":"s","data":{"type":"stream","data":{"type":"blob_chunk","message":{"id":"a","sequence":0,"total_length":1,"blob":"AA==","end":true},"meta":null}}}`} {
		add([]byte(s))
	}
}

// FuzzParseEvent: any line is classified without panicking, and the result is consistent.
func FuzzParseEvent(f *testing.F) {
	seedLines(f, func(l []byte) { f.Add(l) })
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := ParseEvent(line)
		if err != nil {
			if ev.Kind != KindSession || ev.SessionID == "" || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with kind %q session %q", err, ev.Kind, ev.SessionID)
			}
			return
		}
		switch ev.Kind {
		case KindSession:
			if ev.SessionID == "" || ev.Message.Type == "" {
				t.Fatalf("session event without id or type: %+v", ev)
			}
			// The helpers must not panic on whatever the plugin sent.
			_, _ = ev.Message.AsError()
			_, _ = ev.Message.Invocation()
			if tm, err := ev.Message.ToolMessage(); err == nil {
				a := NewBlobAssembler(1 << 10)
				_, _, _ = a.Add(tm)
				_ = a.Finish()
			}
		case KindOutput, KindManifest:
			if !bytes.Equal(ev.Line, line) {
				t.Fatalf("line not kept")
			}
		case KindHeartbeat:
		case KindLog:
			_, _ = ev.Log()
		case KindError:
			_, _ = ev.PluginError()
		default:
			t.Fatalf("kind %q", ev.Kind)
		}
	})
}

// FuzzReadLines checks LineReader against a plain model: split on LF, drop one CR, skip blank
// lines, and fail on the first line over the bound.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\n\nb\r\n \n"), 0)
	f.Add([]byte(strings.Repeat("x", 70000)+"\ny"), 0)
	f.Add([]byte("abc\nabcdef\n"), 4)
	seedLines(f, func(l []byte) { f.Add(append(l, "\n\n"...), 0) })
	f.Fuzz(func(t *testing.T, input []byte, max int) {
		if max < 0 {
			max = -max
		}
		if max < 0 { // the negation of the smallest int
			max = 0
		}
		var want [][]byte
		wantErr := io.EOF
		segs := bytes.Split(input, []byte("\n"))
		for i, seg := range segs {
			if i == len(segs)-1 && len(seg) == 0 {
				break // the input ended with LF
			}
			if max > 0 && len(seg) > max {
				wantErr = ErrLineTooLong
				break
			}
			if len(bytes.TrimSpace(seg)) == 0 {
				continue
			}
			want = append(want, bytes.TrimSuffix(seg, []byte("\r")))
		}

		lr := NewLineReader(bytes.NewReader(input), max)
		var got [][]byte
		var err error
		for range len(input) + 2 { // bounded: each line consumes at least one byte
			var line []byte
			if line, err = lr.Next(); err != nil {
				break
			}
			got = append(got, line)
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// FuzzConn feeds arbitrary plugin output to a Conn with one open session: the session must end
// (with its end message or with ErrPluginExited), never hang, and nothing may panic.
func FuzzConn(f *testing.F) {
	seedLines(f, func(l []byte) {
		f.Add(append(bytes.ReplaceAll(l, []byte("8f0c6a1e-3c2b-4d7a-9a43-6f1f2b9a0c11"), []byte("s")), "\n\n"...))
	})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r, w := io.Pipe()
		c := NewConn(r, io.Discard, Options{SessionBuffer: 1 << 10, OnEvent: func(Event) {}})
		defer c.Close()
		s, err := c.Open(context.Background(), Envelope{SessionID: "s", Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _ = w.Write(stream)
			w.Close()
		}()
		done := make(chan error, 1)
		go func() {
			for {
				m, err := s.Next()
				if err != nil {
					done <- err
					return
				}
				if m.Type == MessageInvoke {
					if inv, err := m.Invocation(); err == nil {
						_ = s.Respond(context.Background(), BackwardsEnd(inv.RequestID))
					}
				}
			}
		}()
		select {
		case err := <-done:
			if err != io.EOF && !errors.Is(err, ErrPluginExited) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSessionOverrun) {
				t.Fatalf("session ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("session hung")
		}
	})
}
