package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis connects to the Redis of scripts/redis.sh (PLUGD_TEST_REDIS_ADDR) and returns a
// key prefix of the test's own, whose keys are deleted at the end.
func testRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	addr := os.Getenv("PLUGD_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REDIS_ADDR is not set: run scripts/test-deps.sh")
		}
		t.Skip("PLUGD_TEST_REDIS_ADDR is not set (scripts/redis.sh)")
	}
	host, port, _ := strings.Cut(addr, ":")
	var p int
	for _, ch := range port {
		p = p*10 + int(ch-'0')
	}
	rdb, err := Connect(context.Background(), Config{Host: host, Port: p})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "plugd-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

func newNode(t *testing.T, rdb redis.UniversalClient, prefix, id string) (*Cluster, context.CancelFunc) {
	t.Helper()
	c, err := New(rdb, Options{Prefix: prefix, NodeID: id, Addr: "http://" + id, Heartbeat: 100 * time.Millisecond, NodeTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, stop
}

func TestLeaseIsExclusiveAndFenced(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	b, _ := newNode(t, rdb, prefix, "b")
	ctx := context.Background()

	la, err := a.Acquire(ctx, "task:1", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "task:1", 300*time.Millisecond); !errors.Is(err, ErrHeld) {
		t.Fatalf("second acquire: %v, want ErrHeld", err)
	}
	// Kept alive past several ttls by its extensions.
	time.Sleep(time.Second)
	if !la.Held(ctx) {
		t.Fatal("lease expired although extended")
	}
	if _, err := b.Acquire(ctx, "task:1", 300*time.Millisecond); !errors.Is(err, ErrHeld) {
		t.Fatalf("acquire of a kept lease: %v, want ErrHeld", err)
	}
	la.Release()
	lb, err := b.Acquire(ctx, "task:1", 300*time.Millisecond)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	defer lb.Release()
	if lb.Token() <= la.Token() {
		t.Fatalf("fencing token did not grow: %d then %d", la.Token(), lb.Token())
	}
	// The old holder's release must not delete the new holder's lease.
	la.Release()
	if !lb.Held(ctx) {
		t.Fatal("a stale holder's release deleted the new lease")
	}
}

func TestLeaseLostWhenTakenOver(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	ctx := context.Background()
	l, err := a.Acquire(ctx, "x", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate expiry and a take-over by another owner between two extensions.
	rdb.Set(ctx, prefix+"lease:x", "other 999", time.Minute)
	select {
	case <-l.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("lease not reported lost after being taken over")
	}
	// The extension must not have touched the other owner's value or expiry.
	if v := rdb.Get(ctx, prefix+"lease:x").Val(); v != "other 999" {
		t.Fatalf("lease value %q, want the other owner's", v)
	}
	if ttl := rdb.PTTL(ctx, prefix+"lease:x").Val(); ttl < 50*time.Second {
		t.Fatalf("the other owner's expiry was changed to %s", ttl)
	}
	l.Release()
	if v := rdb.Get(ctx, prefix+"lease:x").Val(); v != "other 999" {
		t.Fatal("a lost lease's release deleted the new owner's key")
	}
}

func TestMembershipLeadershipAndFailover(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, stopA := newNode(t, rdb, prefix, "a")
	b, stopB := newNode(t, rdb, prefix, "b")
	ctx := context.Background()
	// Alive answers from each node's view, refreshed at its heartbeat: it may lag the list
	// in Redis by one beat, so it is waited for too.
	waitFor(t, 3*time.Second, "both nodes listed, seeing each other, and one leader", func() bool {
		nodes, _ := a.Nodes(ctx)
		return len(nodes) == 2 && a.Alive("b") && b.Alive("a") && a.IsLeader() != b.IsLeader()
	})
	other, stopLeader := b, stopA
	if b.IsLeader() {
		other, stopLeader = a, stopB
	}
	// Crash: no Leave, the heartbeat and the lease just stop being extended.
	stopLeader()
	start := time.Now()
	waitFor(t, 3*time.Second, "the other node leads after the leader's death", func() bool { return other.IsLeader() })
	t.Logf("leadership failed over in %s (node ttl 500 ms)", time.Since(start).Round(10*time.Millisecond))
	waitFor(t, 3*time.Second, "the dead node dropped from the list", func() bool {
		nodes, _ := other.Nodes(ctx)
		return len(nodes) == 1 && nodes[0].ID == other.ID()
	})
}

func TestLeaveIsImmediate(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	b, _ := newNode(t, rdb, prefix, "b")
	ctx := context.Background()
	if err := b.SetRoute(ctx, RouteDebug("p@1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a sees b's route", func() bool { _, ok := a.Elsewhere(RouteDebug("p@1")); return ok })
	b.Leave(ctx)
	nodes, _ := a.Nodes(ctx)
	if len(nodes) != 1 {
		t.Fatalf("after Leave: %d nodes listed, want 1", len(nodes))
	}
	waitFor(t, 2*time.Second, "b's route gone at a", func() bool { _, ok := a.Elsewhere(RouteDebug("p@1")); return !ok })
}

func TestBusAndRoutes(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	var mu sync.Mutex
	var got []Message
	bNode, err := New(rdb, Options{Prefix: prefix, NodeID: "b", Addr: "http://b", Heartbeat: 100 * time.Millisecond, NodeTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bNode.Handle(TopicRelease, func(m Message) { mu.Lock(); got = append(got, m); mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bNode.Run(ctx)
	if err := bNode.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := a.Publish(ctx, TopicRelease, "author/x:1@abc"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the message reaches b", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	t.Logf("bus delivery took %s", time.Since(sent))
	if got[0].Payload != "author/x:1@abc" || got[0].From != "a" {
		t.Fatalf("message %+v", got[0])
	}

	// A route held by a is seen by b at once; a route of a dead node is swept.
	if err := a.SetRoute(ctx, RouteDebug("u1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "b sees a's route", func() bool { n, ok := bNode.Elsewhere(RouteDebug("u1")); return ok && n.ID == "a" })
	if _, ok := a.Elsewhere(RouteDebug("u1")); ok {
		t.Fatal("a's own route reported as elsewhere")
	}
	rdb.HSet(ctx, prefix+"routes", RouteMCP("s1"), "ghost")
	dropped, err := bNode.SweepRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != RouteMCP("s1") {
		t.Fatalf("swept %v, want the ghost's route only", dropped)
	}
	// DropRoute by a node that does not hold the route leaves it.
	if err := bNode.DropRoute(ctx, RouteDebug("u1")); err != nil {
		t.Fatal(err)
	}
	if n, ok := bNode.Lookup(ctx, RouteDebug("u1")); !ok || n.ID != "a" {
		t.Fatal("a route was dropped by a node that does not hold it")
	}
}

func TestForwardStreamsAndMarks(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	var seen string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get(HeaderForwardedBy) + " " + r.Header.Get("X-Api-Key") + " " + r.URL.Path
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: one\n\n"))
		w.(http.Flusher).Flush()
		w.Write([]byte("data: two\n\n"))
	}))
	defer owner.Close()
	f := a.NewForwarder()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/plugin/t/dispatch/tool/invoke", strings.NewReader("{}"))
	req.Header.Set("X-Api-Key", "k")
	f.Forward(rec, req, Node{ID: "b", Addr: owner.URL}, func(w http.ResponseWriter, r *http.Request, err error) { t.Fatal(err) })
	if rec.Body.String() != "data: one\n\ndata: two\n\n" || seen != "a k /plugin/t/dispatch/tool/invoke" {
		t.Fatalf("answer %q, owner saw %q", rec.Body.String(), seen)
	}
	// A node that is gone: the failure callback answers.
	owner.Close()
	rec = httptest.NewRecorder()
	var ferr error
	f.Forward(rec, httptest.NewRequest("POST", "/x", nil), Node{ID: "b", Addr: owner.URL}, func(w http.ResponseWriter, r *http.Request, err error) { ferr = err; w.WriteHeader(502) })
	if !errors.Is(ferr, ErrUnreachable) || rec.Code != 502 {
		t.Fatalf("forward to a dead node: %v (status %d)", ferr, rec.Code)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
