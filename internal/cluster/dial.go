package cluster

import (
	"context"
	"net"
	"time"
)

// netDialer bounds connecting to another node: a dead node's address must fail fast.
type netDialer struct{ timeout time.Duration }

func (d *netDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
}
