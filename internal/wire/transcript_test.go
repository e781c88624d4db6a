package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestTranscripts replays the captured sessions of testdata/*.txt: plugin lines go in, and the
// session must yield exactly their data, byte for byte; daemon lines must come out byte for
// byte (the request's data, whose key order the SDK ignores, is compared as JSON).
func TestTranscripts(t *testing.T) {
	tests := []struct {
		file   string
		userID string
		req    Payload // nil: the transcript has no captured request
	}{
		{file: "tool_text.txt", userID: "u-1", req: InvokeTool{Provider: "echo", Tool: "echo", ToolParameters: Object(`{"text":"hello"}`)}},
		{file: "tool_validate.txt", userID: "u-1", req: ValidateToolCredentials{Provider: "echo", Credentials: Object(`{"k":"v"}`)}},
		{file: "tool_all.txt"},
		{file: "tool_error.txt"},
		{file: "llm_stream.txt"},
		{file: "storage.txt"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".txt"), func(t *testing.T) {
			lines := readTranscript(t, tt.file)
			c, p := newFakePlugin(t, Options{})
			sid := sessionIDOf(t, lines[0].text)

			var s *Session
			if tt.req != nil {
				env, err := NewRequest(sid, tt.userID, tt.req)
				if err != nil {
					t.Fatal(err)
				}
				if s, err = c.Open(context.Background(), env); err != nil {
					t.Fatal(err)
				}
				want := lines[0]
				if want.dir != "D>P" {
					t.Fatalf("transcript must start with the request")
				}
				sameRequest(t, p.recv(t), want.text)
				lines = lines[1:]
			} else {
				s = openRaw(t, c, p, sid)
			}

			for _, l := range lines {
				if l.dir == "D>P" {
					var env struct{ Data BackwardsResponse }
					if err := json.Unmarshal([]byte(l.text), &env); err != nil {
						t.Fatal(err)
					}
					if err := s.Respond(context.Background(), env.Data); err != nil {
						t.Fatal(err)
					}
					if got := p.recv(t); string(got) != l.text+"\n" {
						t.Errorf("daemon wrote\n%s\nwant\n%s", got, l.text)
					}
					continue
				}
				var want struct {
					Data SessionMessage `json:"data"`
				}
				if err := json.Unmarshal([]byte(l.text), &want); err != nil {
					t.Fatal(err)
				}
				p.send(t, l.text)
				got, err := next(t, s)
				if want.Data.Type == MessageEnd {
					if !errors.Is(err, io.EOF) {
						t.Fatalf("after end: got %v, %v; want io.EOF", got, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Type != want.Data.Type || !bytes.Equal(got.Data, want.Data.Data) {
					t.Errorf("item = %s %s\nwant %s %s", got.Type, got.Data, want.Data.Type, want.Data.Data)
				}
			}
			if n := c.Unrouted(); n != 0 {
				t.Errorf("unrouted = %d", n)
			}
		})
	}
}

type transcriptLine struct{ dir, text string }

func readTranscript(t *testing.T, name string) []transcriptLine {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []transcriptLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		dir, text, ok := strings.Cut(l, " ")
		if !ok || (dir != "P>D" && dir != "D>P") {
			t.Fatalf("%s: bad line %q", name, l)
		}
		out = append(out, transcriptLine{dir, text})
	}
	return out
}

func sessionIDOf(t *testing.T, line string) string {
	t.Helper()
	var v struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil || v.SessionID == "" {
		t.Fatalf("no session id in %s", line)
	}
	return v.SessionID
}

// sameRequest compares a request line: everything before "data" byte for byte, data as JSON.
func sameRequest(t *testing.T, got []byte, want string) {
	t.Helper()
	if !bytes.HasSuffix(got, []byte("}\n")) || bytes.Count(got, []byte("\n")) != 1 {
		t.Fatalf("request is not one line: %q", got)
	}
	const key = `"data":`
	gi, wi := bytes.Index(got, []byte(key)), strings.Index(want, key)
	if gi < 0 || wi < 0 || string(got[:gi]) != want[:wi] {
		t.Fatalf("envelope\n%s\nwant\n%s", got, want)
	}
	var g, w any
	if err := json.Unmarshal(got[gi+len(key):len(got)-2], &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want[wi+len(key):len(want)-1]), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("data = %s\nwant %s", got[gi+len(key):], want[wi+len(key):])
	}
}

// TestStartupTranscript feeds the captured start of a local plugin: manifest, a log record
// with Python's ", " separators, the first heartbeat, with the SDK's empty lines.
func TestStartupTranscript(t *testing.T) {
	b, err := os.ReadFile("testdata/startup.pd")
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	c := NewConn(bytes.NewReader(b), io.Discard, Options{OnEvent: func(ev Event) { events = append(events, ev) }})
	<-c.Done()
	if !errors.Is(c.Err(), ErrPluginExited) || errors.Is(c.Err(), io.EOF) {
		t.Fatalf("Err = %v", c.Err())
	}
	kinds := make([]Kind, len(events))
	for i, ev := range events {
		kinds[i] = ev.Kind
	}
	if want := []Kind{KindManifest, KindLog, KindHeartbeat}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	var manifest struct{ Name, Author string }
	if err := json.Unmarshal(events[0].Line, &manifest); err != nil || manifest.Name != "echo" || manifest.Author != "test" {
		t.Errorf("manifest = %+v, %v", manifest, err)
	}
	rec, err := events[1].Log()
	if err != nil || rec != (LogRecord{Level: "INFO", Message: "Installed tool: echo", Timestamp: 1795446286.435416}) {
		t.Errorf("log = %+v, %v", rec, err)
	}
	if string(events[2].Data) != "{}" {
		t.Errorf("heartbeat data = %s", events[2].Data)
	}
}

// TestMalformedReplies: the SDK's top-level errors about unreadable input are events for the
// runtime to log; they end nothing.
func TestMalformedReplies(t *testing.T) {
	b, err := os.ReadFile("testdata/malformed_replies.pd")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	c := NewConn(bytes.NewReader(b), io.Discard, Options{OnEvent: func(ev Event) {
		if ev.Kind != KindError {
			t.Errorf("kind = %s", ev.Kind)
			return
		}
		pe, err := ev.PluginError()
		if err != nil {
			t.Error(err)
			return
		}
		msgs = append(msgs, pe.Message)
	}})
	<-c.Done()
	want := []string{"Invalid value for PluginInStream.Event: bogus", "'session_id'"}
	if len(msgs) != 3 || !strings.Contains(msgs[0], "json_invalid") || !reflect.DeepEqual(msgs[1:], want) {
		t.Errorf("messages = %q", msgs)
	}
}
