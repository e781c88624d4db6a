package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Slots cap how many nodes run one plugin at once. A plugin capped at n has n leases,
// "slot:<name>:0" to "slot:<name>:<n-1>"; a node takes one before it starts the plugin and
// releases it when the plugin has stopped (idle) or the node leaves. They are ordinary
// owner-checked leases: a node that dies stops extending its slot, which expires after
// its ttl and is free for another node.

// TakeSlot takes a free slot of name among n (n >= 1) for this node. When all are held it
// returns ErrHeld and the ids of the nodes holding them, this one included when one of
// its own slots is among them (a concurrent take by the caller), in slot order.
func (c *Cluster) TakeSlot(ctx context.Context, name string, n int, ttl time.Duration) (*Lease, []string, error) {
	if n < 1 {
		return nil, nil, errors.New("cluster: a plugin cap must be at least 1")
	}
	for i := range n {
		l, err := c.Acquire(ctx, slotName(name, i), ttl)
		if err == nil {
			return l, nil, nil
		}
		if !errors.Is(err, ErrHeld) {
			return nil, nil, err
		}
	}
	holders, err := c.SlotHolders(ctx, name, n)
	if err != nil {
		return nil, nil, err
	}
	return nil, holders, ErrHeld
}

// SlotHolders lists the ids of the nodes holding slots of name among n, in slot order,
// without repeats. A holder may be a node that died less than a slot's ttl ago.
func (c *Cluster) SlotHolders(ctx context.Context, name string, n int) ([]string, error) {
	keys := make([]string, n)
	for i := range n {
		keys[i] = c.key("lease", slotName(name, i))
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		owner, _, ok := strings.Cut(s, " ")
		if ok && owner != "" && !slices.Contains(out, owner) {
			out = append(out, owner)
		}
	}
	return out, nil
}

// Node returns the live node id as of the last refresh.
func (c *Cluster) Node(id string) (Node, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nodes[id]
	return n, ok
}

func slotName(name string, i int) string { return "slot:" + name + ":" + strconv.Itoa(i) }
