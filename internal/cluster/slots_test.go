package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestSlotsCapNodes: with a cap of 2, two nodes take the plugin's slots and a third is told
// who holds them; a slot comes free when its holder releases it, and when its holder dies
// (stops extending it) after its ttl, not before.
func TestSlotsCapNodes(t *testing.T) {
	rdb, prefix := testRedis(t)
	a, _ := newNode(t, rdb, prefix, "a")
	b, _ := newNode(t, rdb, prefix, "b")
	c, _ := newNode(t, rdb, prefix, "c")
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	const plugin = "author/p:1.0.0@abc"

	la, _, err := a.TakeSlot(ctx, plugin, 2, ttl)
	if err != nil {
		t.Fatal(err)
	}
	lb, _, err := b.TakeSlot(ctx, plugin, 2, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if la.key == lb.key {
		t.Fatalf("a and b hold the same slot %s", la.key)
	}
	_, holders, err := c.TakeSlot(ctx, plugin, 2, ttl)
	if !errors.Is(err, ErrHeld) || !slices.Equal(holders, []string{"a", "b"}) {
		t.Fatalf("third node: holders %v, err %v; want [a b], ErrHeld", holders, err)
	}
	// Another plugin has slots of its own.
	lo, _, err := c.TakeSlot(ctx, "author/other:1.0.0@abc", 2, ttl)
	if err != nil {
		t.Fatalf("another plugin's slot: %v", err)
	}
	defer lo.Release()

	// Held slots outlive their ttl while their holders live.
	time.Sleep(3 * ttl)
	if _, _, err := c.TakeSlot(ctx, plugin, 2, ttl); !errors.Is(err, ErrHeld) {
		t.Fatalf("a slot came free while both holders live: %v", err)
	}

	// Released: free at once.
	lb.Release()
	lc, _, err := c.TakeSlot(ctx, plugin, 2, ttl)
	if err != nil {
		t.Fatalf("after b released its slot: %v", err)
	}
	if _, holders, err := b.TakeSlot(ctx, plugin, 2, ttl); !errors.Is(err, ErrHeld) || !slices.Equal(holders, []string{"a", "c"}) {
		t.Fatalf("b again: holders %v, err %v; want [a c], ErrHeld", holders, err)
	}

	// a dies: its slot is no longer extended and is free after its ttl.
	la.abandon()
	deadline := time.Now().Add(5 * ttl)
	var lb2 *Lease
	for lb2 == nil {
		if lb2, _, err = b.TakeSlot(ctx, plugin, 2, ttl); err != nil && !errors.Is(err, ErrHeld) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead holder's slot was not freed after its ttl")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lb2.Token() <= la.Token() && lb2.key == la.key {
		t.Errorf("the slot taken over has fencing token %d, not above the dead holder's %d", lb2.Token(), la.Token())
	}
	lb2.Release()
	lc.Release()

	if _, _, err := a.TakeSlot(ctx, plugin, 0, ttl); err == nil {
		t.Error("a cap of 0 was accepted")
	}
}
