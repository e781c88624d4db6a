package wire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests so a bug fails a test instead of hanging it.
const testTimeout = 20 * time.Second

// fakePlugin is the plugin end of a Conn built on two pipes.
type fakePlugin struct {
	out *io.PipeWriter // the plugin's stdout
	in  chan []byte    // lines the daemon wrote to the plugin's stdin

	mu     sync.Mutex
	events []Event // what Options.OnEvent received
}

// newFakePlugin returns a Conn talking to a fake plugin. opts.OnEvent is wrapped so the
// events are also recorded.
func newFakePlugin(t testing.TB, opts Options) (*Conn, *fakePlugin) {
	t.Helper()
	outR, outW := io.Pipe()
	inR, inW := io.Pipe()
	p := &fakePlugin{out: outW, in: make(chan []byte, 1024)}
	user := opts.OnEvent
	opts.OnEvent = func(ev Event) {
		p.mu.Lock()
		p.events = append(p.events, ev)
		p.mu.Unlock()
		if user != nil {
			user(ev)
		}
	}
	go func() {
		br := bufio.NewReader(inR)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				close(p.in)
				return
			}
			p.in <- line
		}
	}()
	c := NewConn(outR, inW, opts)
	t.Cleanup(func() {
		c.Close()
		outW.Close()
	})
	return c, p
}

// write sends raw bytes on the plugin's stdout.
func (p *fakePlugin) write(t testing.TB, b []byte) {
	t.Helper()
	if _, err := p.out.Write(b); err != nil {
		t.Fatalf("plugin write: %v", err)
	}
}

// send writes protocol lines the way the SDK does: each followed by an empty line.
func (p *fakePlugin) send(t testing.TB, lines ...string) {
	t.Helper()
	for _, l := range lines {
		p.write(t, []byte(l+"\n\n"))
	}
}

// recv returns the next line the daemon wrote, with its newline.
func (p *fakePlugin) recv(t testing.TB) []byte {
	t.Helper()
	select {
	case l, ok := <-p.in:
		if !ok {
			t.Fatal("daemon closed the plugin's stdin")
		}
		return l
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a daemon line")
	}
	return nil
}

func (p *fakePlugin) recorded() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// next calls s.Next with a deadline.
func next(t testing.TB, s *Session) (SessionMessage, error) {
	t.Helper()
	type result struct {
		m   SessionMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := s.Next()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(testTimeout):
		t.Fatalf("session %s: timed out waiting for an item", s.ID())
	}
	return SessionMessage{}, nil
}

// drain reads a session to its end and returns the items; the final error must be io.EOF.
func drain(t testing.TB, s *Session) []SessionMessage {
	t.Helper()
	var items []SessionMessage
	for {
		m, err := next(t, s)
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			t.Fatalf("session %s: %v (after %d items)", s.ID(), err, len(items))
		}
		items = append(items, m)
	}
}

// openRaw opens a session whose request data is {} and consumes the request line.
func openRaw(t testing.TB, c *Conn, p *fakePlugin, id string) *Session {
	t.Helper()
	s, err := c.Open(context.Background(), Envelope{SessionID: id, Data: []byte(`{}`)})
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	p.recv(t)
	return s
}
