// Package cluster lets several `plugd serve` nodes share one daemon's work through Redis:
// membership (each node's heartbeat and status), owner-checked leases with fencing tokens
// (install tasks, leadership), a pub/sub bus for invalidations, and the table of where
// live things (remote-debugging connections, MCP sessions) are, so a request for one that
// arrives elsewhere is forwarded to its node.
//
// Redis holds nothing durable: the database is the truth. Losing Redis's data costs a few
// seconds (nodes write their keys again at the next heartbeat, leases are claimed again),
// never an installation.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is how to reach Redis, with the reference daemon's settings: REDIS_HOST,
// REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD, REDIS_DB, REDIS_USE_SSL, and for Sentinel
// REDIS_USE_SENTINEL, REDIS_SENTINELS (host:port,...), REDIS_SENTINEL_SERVICE_NAME,
// REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD, REDIS_SENTINEL_SOCKET_TIMEOUT.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	DB       int
	TLS      bool

	Sentinel         bool
	Sentinels        []string
	SentinelService  string
	SentinelUsername string
	SentinelPassword string
	// SentinelTimeout bounds dialing and each read and write; 0: go-redis's defaults.
	SentinelTimeout time.Duration
}

// Connect opens a client and checks that Redis answers, so a wrong address stops the start
// with an error naming the settings instead of failing every request later.
func Connect(ctx context.Context, c Config) (redis.UniversalClient, error) {
	var rdb redis.UniversalClient
	var tlsCfg *tls.Config
	if c.TLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	where := ""
	if c.Sentinel {
		if len(c.Sentinels) == 0 || c.SentinelService == "" {
			return nil, errors.New("REDIS_USE_SENTINEL needs REDIS_SENTINELS (host:port,...) and REDIS_SENTINEL_SERVICE_NAME")
		}
		for _, s := range c.Sentinels {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return nil, fmt.Errorf("REDIS_SENTINELS: %q is not host:port", s)
			}
		}
		rdb = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.SentinelService, SentinelAddrs: c.Sentinels,
			SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
			Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: tlsCfg,
			DialTimeout: c.SentinelTimeout, ReadTimeout: c.SentinelTimeout, WriteTimeout: c.SentinelTimeout,
		})
		where = "sentinels " + strings.Join(c.Sentinels, ",") + " (service " + c.SentinelService + ")"
	} else {
		addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
		rdb = redis.NewClient(&redis.Options{
			Addr: addr, Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: tlsCfg,
		})
		where = addr + " (REDIS_HOST, REDIS_PORT)"
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", where, err)
	}
	return rdb, nil
}
