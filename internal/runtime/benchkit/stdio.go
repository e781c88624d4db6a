package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Stdio drives a plugin process with nothing in between: request lines written straight to
// its stdin, its stdout split into lines and routed to the waiting call by session id. No
// supervision, no backpressure, no logs, no limits: the floor that the runtime's overhead is
// measured against.
type Stdio struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	spawned time.Time

	wmu sync.Mutex // one line at a time on stdin

	mu       sync.Mutex
	sessions map[string]chan string // session id -> item types ("stream", "end", "error")
	err      error                  // set when stdout ended

	ready     chan struct{} // closed at the first heartbeat
	readyAt   time.Time
	done      chan struct{} // closed when stdout ends
	readyOnce sync.Once
}

// StartStdio starts `python -m entrypoint` in dir with exactly env as its environment.
func StartStdio(python, dir, entrypoint string, env []string) (*Stdio, error) {
	cmd := exec.Command(python, "-m", entrypoint)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stderr = os.Stderr
	setGroup(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &Stdio{
		cmd: cmd, stdin: in, sessions: map[string]chan string{},
		ready: make(chan struct{}), done: make(chan struct{}),
	}
	s.spawned = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go s.read(out)
	return s, nil
}

// PID is the plugin's process id.
func (s *Stdio) PID() int { return s.cmd.Process.Pid }

// WaitReady waits for the first heartbeat and returns the time from spawn to it.
func (s *Stdio) WaitReady(ctx context.Context) (time.Duration, error) {
	select {
	case <-s.ready:
		return s.readyAt.Sub(s.spawned), nil
	case <-s.done:
		return 0, fmt.Errorf("plugin exited before its first heartbeat: %w", s.err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

type line struct {
	Event     string `json:"event"`
	SessionID string `json:"session_id"`
	Data      struct {
		Type string `json:"type"`
	} `json:"data"`
}

func (s *Stdio) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	var err error
	for {
		var b []byte
		b, err = br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a long line: gather it whole
			full := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				full = append(full, b...)
			}
			b = full
		}
		if err != nil {
			break
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var l line
		if json.Unmarshal(b, &l) != nil {
			continue
		}
		switch l.Event {
		case "heartbeat":
			s.readyOnce.Do(func() { s.readyAt = time.Now(); close(s.ready) })
		case "session":
			s.mu.Lock()
			ch := s.sessions[l.SessionID]
			s.mu.Unlock()
			if ch != nil {
				ch <- l.Data.Type
			}
		}
	}
	s.mu.Lock()
	s.err = err
	for _, ch := range s.sessions {
		close(ch)
	}
	s.sessions = nil
	s.mu.Unlock()
	close(s.done)
}

// Call writes one request line for session id and waits for the session's end. It returns
// the number of stream items, or an error when the plugin reported one or exited.
func (s *Stdio) Call(ctx context.Context, id string, request []byte) (int, error) {
	ch := make(chan string, 64)
	s.mu.Lock()
	if s.sessions == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("plugin exited: %w", s.err)
	}
	s.sessions[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.sessions != nil {
			delete(s.sessions, id)
		}
		s.mu.Unlock()
	}()

	s.wmu.Lock()
	_, err := s.stdin.Write(append(request, '\n'))
	s.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	items := 0
	for {
		select {
		case t, ok := <-ch:
			switch {
			case !ok:
				return items, fmt.Errorf("plugin exited: %w", s.err)
			case t == "end":
				return items, nil
			case t == "error":
				return items, errors.New("plugin reported an error")
			default:
				items++
			}
		case <-ctx.Done():
			return items, ctx.Err()
		}
	}
}

// Close kills the plugin's process group and reaps it. Stdin is closed only after: at EOF
// on stdin the SDK spins instead of exiting.
func (s *Stdio) Close() error {
	killGroup(s.cmd)
	err := s.cmd.Wait()
	s.stdin.Close()
	return err
}
