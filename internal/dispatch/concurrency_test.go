package dispatch

// Tests of the dispatcher's own concurrency with a fake runtime and a fake workspace: no
// Python, so they run everywhere and are meant for the race detector (scripts/test.sh runs
// this package under -race).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

// fakeWorkspace prepares any identifier instantly (after gate, when set), failing while fail
// is set.
type fakeWorkspace struct {
	calls atomic.Int32
	fail  atomic.Bool
	gate  chan struct{}
}

func (f *fakeWorkspace) Hold(string) (func(), error) { return func() {}, nil }

func (f *fakeWorkspace) Prepare(ctx context.Context, id string, progress func(pyenv.Progress)) (*install.Prepared, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if f.fail.Load() {
		return nil, errors.New("index unreachable")
	}
	pid, err := install.ParseIdentifier(id)
	if err != nil {
		return nil, err
	}
	return &install.Prepared{ID: pid, Plugin: &manifest.Plugin{Name: pid.Name, Author: pid.Author}, Dir: "/nonexistent", Python: "/nonexistent/python"}, nil
}

// fakeRuntime answers every request with one message, and counts what happens to it.
type fakeRuntime struct {
	invokes atomic.Int32
	starts  atomic.Int32
	closed  atomic.Bool
}

func (r *fakeRuntime) Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (ResultStream, error) {
	if r.closed.Load() {
		return nil, runtime.ErrClosed
	}
	r.invokes.Add(1)
	return &fakeStream{msgs: []wire.SessionMessage{{Type: wire.MessageStream, Data: data}}}, nil
}

func (r *fakeRuntime) Start(ctx context.Context) error {
	r.starts.Add(1)
	return nil
}

func (r *fakeRuntime) Status() []runtime.Status {
	return []runtime.Status{{State: runtime.StateReady, PID: 1, InFlight: 0}}
}

func (r *fakeRuntime) Reset() {}

func (r *fakeRuntime) Close(ctx context.Context) error {
	r.closed.Store(true)
	return nil
}

type fakeStream struct {
	mu   sync.Mutex
	msgs []wire.SessionMessage
}

func (s *fakeStream) Next() (wire.SessionMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return wire.SessionMessage{}, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func (s *fakeStream) Close() {}

// fakeRuntimes records every runtime the dispatcher made.
type fakeRuntimes struct {
	mu   sync.Mutex
	made []*fakeRuntime
}

func (f *fakeRuntimes) new(runtime.PoolConfig) Runtime {
	r := &fakeRuntime{}
	f.mu.Lock()
	f.made = append(f.made, r)
	f.mu.Unlock()
	return r
}

func (f *fakeRuntimes) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.made)
}

func fakeUID(i int) string {
	return fmt.Sprintf("plugd-test/p%d:0.0.1@%032x", i, i)
}

func newFake(t *testing.T, ws *fakeWorkspace, installed ...string) (*Dispatcher, *fakeRuntimes) {
	t.Helper()
	set := map[string]bool{}
	for _, id := range installed {
		set[id] = true
	}
	rts := &fakeRuntimes{}
	d := New(Config{
		Plugins: fakePlugins{installed: set}, Workspace: ws, DataDir: t.TempDir(),
		NewRuntime: rts.new, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, rts
}

func invokeOnce(ctx context.Context, d *Dispatcher, id string) error {
	s, err := d.Invoke(ctx, id, wire.AccessTool, wire.ActionInvokeTool, json.RawMessage(`{"x":1}`), runtime.InvokeContext{TenantID: "t"})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		return err
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("second Next: %v, want EOF", err)
	}
	return nil
}

// Many callers of one plugin that is not prepared yet: one preparation, one runtime, every
// call answered.
func TestConcurrentFirstCallsPrepareOnce(t *testing.T) {
	ws := &fakeWorkspace{gate: make(chan struct{})}
	id := fakeUID(1)
	d, rts := newFake(t, ws, id)
	const callers = 64
	errs := make(chan error, callers)
	for range callers {
		go func() { errs <- invokeOnce(context.Background(), d, id) }()
	}
	// Let them pile up on the preparation, then release it.
	for ws.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(ws.gate)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ws.calls.Load(); n != 1 {
		t.Errorf("prepared %d times, want 1", n)
	}
	if n := rts.count(); n != 1 {
		t.Errorf("%d runtimes made, want 1", n)
	}
	if n := rts.made[0].invokes.Load(); n != callers {
		t.Errorf("%d invocations reached the runtime, want %d", n, callers)
	}
}

// A failed preparation is reported to its callers and tried again by the next ones, while
// others read the dispatcher's state: the race detector checks that the failure is read
// only after it was published.
func TestFailedPreparationRetriedUnderLoad(t *testing.T) {
	ws := &fakeWorkspace{}
	ws.fail.Store(true)
	ids := []string{fakeUID(1), fakeUID(2), fakeUID(3)}
	d, _ := newFake(t, ws, ids...)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				d.Readiness()
			}
		}
	})
	var failed atomic.Int32
	for i := range 32 {
		wg.Go(func() {
			for j := range 20 {
				if i == 0 && j == 10 {
					ws.fail.Store(false)
				}
				err := invokeOnce(ctx, d, ids[(i+j)%len(ids)])
				switch {
				case err == nil:
				case strings.Contains(err.Error(), "index unreachable"):
					failed.Add(1)
				default:
					t.Errorf("invoke: %v", err)
				}
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() == 0 {
		t.Error("no call saw the failing preparation")
	}
	// Once the cause is gone, every plugin answers.
	for _, id := range ids {
		if err := invokeOnce(ctx, d, id); err != nil {
			t.Fatalf("%s after the index came back: %v", id, err)
		}
	}
	for _, st := range d.Readiness() {
		if st.State != "ready" {
			t.Errorf("%s: %s (%s)", st.UniqueIdentifier, st.State, st.Error)
		}
	}
}

// Release, Warm, Reconcile and Close racing with calls: no call hangs, none is served by a
// runtime that was closed, and Close closes every runtime made.
func TestReleaseWarmCloseRacingCalls(t *testing.T) {
	ws := &fakeWorkspace{}
	ids := []string{fakeUID(1), fakeUID(2)}
	d, rts := newFake(t, ws, ids...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				id := ids[(i+j)%len(ids)]
				switch j % 10 {
				case 3:
					_ = d.Release(ctx, id)
				case 5:
					p, _ := ws.Prepare(ctx, id, nil)
					if err := d.Warm(ctx, p); err != nil && !errors.Is(err, runtime.ErrClosed) {
						t.Errorf("warm: %v", err)
					}
				case 7:
					_ = d.Reconcile(ctx)
				default:
					// A call may meet a runtime released under it: that fails cleanly.
					if err := invokeOnce(ctx, d, id); err != nil && !errors.Is(err, runtime.ErrClosed) {
						t.Errorf("invoke: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rts.mu.Lock()
	defer rts.mu.Unlock()
	for i, r := range rts.made {
		if !r.closed.Load() {
			t.Errorf("runtime %d left open after Close", i)
		}
	}
	if err := invokeOnce(ctx, d, ids[0]); !errors.Is(err, runtime.ErrClosed) {
		t.Errorf("invoke after Close: %v, want ErrClosed", err)
	}
}
