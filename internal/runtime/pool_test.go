//go:build unix

package runtime

// End-to-end tests of Pool with the real SDK, on the crasher plugin: its slow tool holds a
// request in flight for as long as asked, after a first "started" item.

import (
	"encoding/json"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/wire"
)

func startPool(t testing.TB, cfg PoolConfig) *Pool {
	t.Helper()
	p := NewPool(cfg)
	t.Cleanup(func() {
		if err := p.Close(testCtx(t, 20*time.Second)); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// slowOn opens a slow request of seconds on the pool and waits for its "started" item, so
// that it is in flight on a plugin process when slowOn returns.
func slowOn(t *testing.T, p *Pool, seconds float64) *Stream {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"seconds": seconds})
	s, err := p.InvokePayload(testCtx(t, time.Minute), wire.InvokeTool{Provider: "crasher", Tool: "slow", ToolParameters: params},
		InvokeContext{UserID: "u-1", TenantID: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Next(); err != nil {
		t.Fatalf("slow: %v %v", m, err)
	}
	return s
}

// waitInstances polls until the pool has n ready instances.
func waitInstances(t *testing.T, p *Pool, n int, within time.Duration) []Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := p.Status()
		ready := 0
		for _, s := range st {
			if s.State == StateReady {
				ready++
			}
		}
		if ready == n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ready instances after %s, want %d: %+v", ready, within, n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pids(streams []*Stream) []int {
	var out []int
	for _, s := range streams {
		out = append(out, s.owner.(localOwner).inst.pid)
	}
	return out
}

func TestPoolScalesUpRoutesAndScalesDown(t *testing.T) {
	t.Parallel()
	cfg := PoolConfig{LocalConfig: testConfig(t, "crasher"), MaxInstances: 3, ScaleUpInFlight: 2, ScaleDownAfter: time.Second}
	p := startPool(t, cfg)
	ctx := testCtx(t, 2*time.Minute)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); len(st) != 1 || st[0].State != StateReady {
		t.Fatalf("after Start: %+v", st)
	}
	pid0 := p.Status()[0].PID

	// Two requests in flight reach the threshold; the third starts a second instance and,
	// rather than wait for it, goes to the first.
	first := []*Stream{slowOn(t, p, 60), slowOn(t, p, 60)}
	if len(p.Status()) != 1 {
		t.Fatalf("scaled up below the threshold: %+v", p.Status())
	}
	first = append(first, slowOn(t, p, 60))
	if got := pids(first); !slices.Equal(got, []int{pid0, pid0, pid0}) {
		t.Fatalf("requests went to %v, want all on %d", got, pid0)
	}
	t0 := time.Now()
	st := waitInstances(t, p, 2, time.Minute)
	t.Logf("second instance ready %s after the scale-up", time.Since(t0).Round(time.Millisecond))
	pid1 := st[1].PID

	// New requests go to the least-loaded instance: the new one, until it has as many. Then
	// every instance is at the threshold and a third one starts.
	second := []*Stream{slowOn(t, p, 60), slowOn(t, p, 60), slowOn(t, p, 60)}
	if got := pids(second); !slices.Equal(got, []int{pid1, pid1, pid1}) {
		t.Fatalf("requests went to %v, want all on the new instance %d", got, pid1)
	}
	st = waitInstances(t, p, 3, time.Minute)
	pid2 := st[2].PID
	third := []*Stream{slowOn(t, p, 60), slowOn(t, p, 60), slowOn(t, p, 60)}
	if got := pids(third); !slices.Equal(got, []int{pid2, pid2, pid2}) {
		t.Fatalf("requests went to %v, want all on the third instance %d", got, pid2)
	}
	// Every instance is busy and the maximum is reached: no fourth.
	fourth := slowOn(t, p, 60)
	time.Sleep(200 * time.Millisecond)
	if st := p.Status(); len(st) != 3 {
		t.Fatalf("%d instances, more than MaxInstances 3", len(st))
	}
	for i, st := range p.Status() {
		want := 3
		if st.PID == fourth.owner.(localOwner).inst.pid {
			want = 4
		}
		if st.InFlight != want {
			t.Errorf("instance %d: %d in flight, want %d", i, st.InFlight, want)
		}
	}

	// Idle: the extra instances stop after ScaleDownAfter, the first stays (IdleStop 0).
	for _, s := range slices.Concat(first, second, third, []*Stream{fourth}) {
		s.Close()
	}
	t0 = time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := p.Status()
		if st[0].State == StateReady && st[0].PID == pid0 && st[1].State == StateStopped && st[2].State == StateStopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("extra instances not stopped when idle: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("extra instances stopped %s after the last request (ScaleDownAfter %s)", time.Since(t0).Round(time.Millisecond), cfg.ScaleDownAfter)
	for _, pid := range []int{pid1, pid2} {
		waitGone(t, pid)
	}
	if _, err := callPoolTool(t, p, "echo", map[string]any{"text": "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := p.Status()[0].PID; got != pid0 {
		t.Errorf("a request after the scale-down went to a new process %d, want %d", got, pid0)
	}

	// Load again: a stopped extra instance is started again rather than a new one added.
	again := []*Stream{slowOn(t, p, 60), slowOn(t, p, 60), slowOn(t, p, 60)}
	waitInstances(t, p, 2, time.Minute)
	if n := len(p.Status()); n != 3 {
		t.Errorf("%d instances after scaling up again, want the 3 there were", n)
	}
	for _, s := range again {
		s.Close()
	}
}

func callPoolTool(t *testing.T, p *Pool, name string, params map[string]any) ([]wire.SessionMessage, error) {
	t.Helper()
	b, _ := json.Marshal(params)
	s, err := p.InvokePayload(testCtx(t, time.Minute), wire.InvokeTool{Provider: "crasher", Tool: name, ToolParameters: b},
		InvokeContext{UserID: "u-1", TenantID: "t-1"})
	if err != nil {
		return nil, err
	}
	return collect(s)
}

func TestPoolCrashFailsOnlyItsRequests(t *testing.T) {
	t.Parallel()
	cfg := PoolConfig{LocalConfig: testConfig(t, "crasher"), MaxInstances: 2, ScaleUpInFlight: 1, ScaleDownAfter: time.Minute}
	p := startPool(t, cfg)
	ctx := testCtx(t, 2*time.Minute)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	onFirst := []*Stream{slowOn(t, p, 12), slowOn(t, p, 12)} // the second starts instance 1
	st := waitInstances(t, p, 2, time.Minute)
	pid0, pid1 := st[0].PID, st[1].PID
	onSecond := []*Stream{slowOn(t, p, 60), slowOn(t, p, 60)}
	if got := pids(slices.Concat(onFirst, onSecond)); !slices.Equal(got, []int{pid0, pid0, pid1, pid1}) {
		t.Fatalf("requests went to %v, want %d %d %d %d", got, pid0, pid0, pid1, pid1)
	}

	syscall.Kill(pid1, syscall.SIGKILL)
	t0 := time.Now()
	for i, s := range onSecond {
		_, err := collect(s)
		if e := asExit(t, err); e.PID != pid1 || e.Status != "signal: killed" || !errors.Is(err, wire.ErrPluginExited) {
			t.Errorf("request %d on the killed instance: %v", i, err)
		}
	}
	t.Logf("requests on the killed instance failed %s after the kill", time.Since(t0).Round(time.Millisecond))

	// The other instance's requests are untouched, and new requests go to it meanwhile.
	if st := p.Status()[0]; st.State != StateReady || st.PID != pid0 || st.InFlight != 2 || st.Restarts != 0 {
		t.Fatalf("the other instance was disturbed: %+v", st)
	}
	items, err := callPoolTool(t, p, "echo", map[string]any{"text": "still here"})
	if err != nil || !slices.Equal(texts(t, items), []string{"still here"}) {
		t.Fatalf("echo during the restart: %v, %v", items, err)
	}
	for i, s := range onFirst {
		items, err := collect(s)
		if err != nil || !slices.Equal(texts(t, items), []string{"slept"}) {
			t.Errorf("request %d on the surviving instance: %v, %v", i, texts(t, items), err)
		}
	}
	// The killed instance was in use, so it restarts after its back-off, as a Local does.
	st = waitInstances(t, p, 2, time.Minute)
	if st[1].PID == pid1 || st[1].Restarts != 1 {
		t.Errorf("instance 1 after the crash: %+v", st[1])
	}
}
