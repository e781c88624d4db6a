package daemon

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/cluster"
	"github.com/plugd/plugd/internal/dispatch"
)

// TestSlotsAdmit: under a cap of 1, concurrent first calls on one node take one slot and
// run there; the other node forwards to it, except a call already forwarded; the slot is
// kept while the plugin runs or was called lately, given back once it is idle, and then
// the other node takes it.
func TestSlotsAdmit(t *testing.T) {
	addr := os.Getenv("PLUGD_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REDIS_ADDR is not set: run scripts/test-deps.sh")
		}
		t.Skip("PLUGD_TEST_REDIS_ADDR is not set (scripts/redis.sh)")
	}
	host, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, err := cluster.Connect(ctx, cluster.Config{Host: host, Port: p})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	prefix := "plugd-test-slots-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	node := func(id string) *slots {
		cl, err := cluster.New(rdb, cluster.Options{Prefix: prefix, NodeID: id, Addr: "http://" + id, Heartbeat: 100 * time.Millisecond, NodeTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { cl.Run(ctx) })
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return newSlots(cl, PluginCaps{Plugins: map[string]int{"author/p": 1}}, slog.Default())
	}
	a, b := node("a"), node("b")
	time.Sleep(300 * time.Millisecond) // both see each other
	const uid = "author/p:1.0.0@0123456789abcdef0123456789abcdef"

	var cwg sync.WaitGroup
	for range 20 {
		cwg.Go(func() {
			if _, here, err := a.admit(ctx, uid, true); !here || err != nil {
				t.Errorf("a first call on a: here %v, err %v", here, err)
			}
		})
	}
	cwg.Wait()
	if holders, _ := a.cl.SlotHolders(ctx, uid, 1); !slices.Equal(holders, []string{"a"}) {
		t.Fatalf("holders after concurrent first calls on a: %v", holders)
	}
	if to, here, err := b.admit(ctx, uid, true); here || err != nil || to.ID != "a" {
		t.Fatalf("a call on b: forwarded to %q, here %v, err %v; want a", to.ID, here, err)
	}
	if _, here, _ := b.admit(ctx, uid, false); !here {
		t.Fatal("a call forwarded to b was not served there")
	}
	if _, here, _ := b.admit(ctx, "author/uncapped:1.0.0@0123456789abcdef0123456789abcdef", true); !here {
		t.Fatal("a plugin without a cap was forwarded")
	}

	// Running, or called lately: kept.
	a.releaseIdle([]dispatch.State{{UniqueIdentifier: uid, State: "ready", Processes: 1}})
	a.releaseIdle(nil)
	if holders, _ := a.cl.SlotHolders(ctx, uid, 1); !slices.Equal(holders, []string{"a"}) {
		t.Fatalf("the slot of a running or lately called plugin was given back: %v", holders)
	}
	// Idle and not called for admitGrace: given back, and b takes it once its memory of the
	// holders has aged.
	a.mu.Lock()
	a.held[uid].admitted = time.Now().Add(-2 * admitGrace)
	a.mu.Unlock()
	a.releaseIdle([]dispatch.State{{UniqueIdentifier: uid, State: "idle"}})
	if holders, _ := a.cl.SlotHolders(ctx, uid, 1); len(holders) != 0 {
		t.Fatalf("the slot of an idle plugin is still held by %v", holders)
	}
	time.Sleep(holdersFresh + 100*time.Millisecond)
	if _, here, err := b.admit(ctx, uid, true); !here || err != nil {
		t.Fatalf("a call on b after a gave its slot back: here %v, err %v", here, err)
	}
	if to, here, _ := a.admit(ctx, uid, true); here || to.ID != "b" {
		t.Fatalf("a call on a now: forwarded to %q, here %v; want b", to.ID, here)
	}
	b.releaseAll()
	if holders, _ := b.cl.SlotHolders(ctx, uid, 1); len(holders) != 0 {
		t.Fatalf("after releaseAll: held by %v", holders)
	}
}
