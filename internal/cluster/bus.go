package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topics the daemon publishes on the bus.
const (
	// TopicRelease: a plugin version (payload: its unique identifier) is no longer installed
	// anywhere; every node stops its processes and removes its folder.
	TopicRelease = "release"
	// TopicRoute: a route changed (payload: its key); nodes reload the route table.
	TopicRoute = "route"
	// TopicNodeLeft: a node (payload: its id) left the cluster.
	TopicNodeLeft = "node-left"
	// TopicTaskCancel: an install task (payload: its id) was deleted; the node running it
	// cancels its jobs.
	TopicTaskCancel = "task-cancel"
	// TopicCatalog: a tenant's tool catalog changed (payload: the tenant); nodes with MCP
	// sessions of the tenant read its change log now instead of at their next poll.
	TopicCatalog = "catalog"
)

// Message is one bus message.
type Message struct {
	Topic   string `json:"t"`
	Payload string `json:"p"`
	From    string `json:"from"`
}

// Handle registers fn for messages of topic, the node's own included. Register before Run;
// handlers run one at a time in the bus goroutine, so they must be quick.
func (c *Cluster) Handle(topic string, fn func(Message)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[topic] = append(c.handlers[topic], fn)
}

// Publish sends a message to every node (at most once: Redis pub/sub keeps nothing for a
// node that is not listening, which is why nothing durable travels on it).
func (c *Cluster) Publish(ctx context.Context, topic, payload string) error {
	b, err := json.Marshal(Message{Topic: topic, Payload: payload, From: c.self.ID})
	if err != nil {
		return err
	}
	return c.rdb.Publish(ctx, c.key("bus"), b).Err()
}

// listen receives bus messages until ctx ends. go-redis subscribes again after a lost
// connection; messages sent meanwhile are lost, so the tables are refreshed at once then.
func (c *Cluster) listen(ctx context.Context) {
	sub := c.rdb.Subscribe(ctx, c.key("bus"))
	defer sub.Close()
	// A blocked Receive does not watch its context; closing the subscription ends it.
	defer context.AfterFunc(ctx, func() { sub.Close() })()
	first := true
	for ctx.Err() == nil {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if first {
				first = false
				close(c.subscribed)
			} else {
				c.refresh(ctx)
			}
		case *redis.Message:
			bm, ok := decodeMessage([]byte(m.Payload))
			if !ok {
				continue
			}
			if bm.Topic == TopicRoute || bm.Topic == TopicNodeLeft {
				c.refresh(ctx)
			}
			c.mu.RLock()
			hs := c.handlers[bm.Topic]
			c.mu.RUnlock()
			for _, h := range hs {
				h(bm)
			}
		}
	}
}

// decodeMessage reads a bus message; anything else on the channel (another program's, a
// truncated one) is ignored rather than trusted.
func decodeMessage(b []byte) (Message, bool) {
	var m Message
	if json.Unmarshal(b, &m) != nil || m.Topic == "" || m.From == "" {
		return Message{}, false
	}
	return m, true
}
