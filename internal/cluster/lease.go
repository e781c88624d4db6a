package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lease is a Redis key holding "<owner> <token>" with an expiry. It is taken only when
// absent, and extended or released only by a script that first checks the value is still
// the holder's: a node whose lease expired (a long pause, a partition) can never extend or
// delete the lease another node took meanwhile. (The reference renews its master lock with
// a bare EXPIRE, which does exactly that.) Each take draws a token from a per-name counter
// that only grows, the fencing token: work done under a lease carries it, and the database
// refuses writes with a token older than one it has seen (install.Manager's tasks), so even
// a holder that does not yet know it lost the lease cannot overwrite its successor's work.

// acquireScript: KEYS[1] the lease, KEYS[2] its token counter; ARGV owner, ttl (ms).
// Returns the new token, or 0 when someone holds the lease.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token`)

// extendScript: KEYS[1] the lease; ARGV the holder's value, ttl (ms). 1 when extended.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript: KEYS[1] the lease; ARGV the holder's value. 1 when deleted.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Lease is a held lease. It is kept alive in the background until Release, or until an
// extension finds it lost (expired and maybe taken by another node): then Lost is closed.
type Lease struct {
	rdb   redis.UniversalClient
	key   string
	value string
	token int64
	ttl   time.Duration

	lost     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// ErrHeld is returned by TryAcquire when another owner holds the lease.
var ErrHeld = errors.New("lease held by another node")

// Acquire takes the lease name for owner if nobody holds it, and keeps it alive (extending
// every ttl/3) until Release. It returns ErrHeld when someone else holds it.
func (c *Cluster) Acquire(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	return acquire(ctx, c.rdb, c.key("lease", name), c.key("fence", name), c.self.ID, ttl)
}

func acquire(ctx context.Context, rdb redis.UniversalClient, key, fenceKey, owner string, ttl time.Duration) (*Lease, error) {
	if strings.ContainsRune(owner, ' ') {
		return nil, errors.New("cluster: an owner id cannot contain a space")
	}
	token, err := acquireScript.Run(ctx, rdb, []string{key, fenceKey}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return nil, err
	}
	if token == 0 {
		return nil, ErrHeld
	}
	l := &Lease{
		rdb: rdb, key: key, value: owner + " " + strconv.FormatInt(token, 10), token: token, ttl: ttl,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.keep()
	return l, nil
}

// Token is the lease's fencing token: larger for every later take of the same name.
func (l *Lease) Token() int64 { return l.token }

// Lost is closed when the lease was found expired or taken: work under it must stop.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// keep extends the lease every ttl/3. An extension that fails for a Redis error is tried
// again at the next tick; the lease is lost once its ttl has passed without a successful
// extension (it has expired in Redis by then) or when Redis says it is no longer ours.
func (l *Lease) keep() {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		n, err := extendScript.Run(ctx, l.rdb, []string{l.key}, l.value, l.ttl.Milliseconds()).Int64()
		cancel()
		switch {
		case err == nil && n == 1:
			lastOK = time.Now()
		case err == nil || time.Since(lastOK) >= l.ttl:
			close(l.lost)
			return
		}
	}
}

// Release stops extending the lease and deletes it if it is still ours, so another node can
// take it at once instead of after its expiry.
func (l *Lease) Release() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, l.rdb, []string{l.key}, l.value).Err()
}

// abandon stops extending the lease without deleting it: it expires after its ttl, as
// when the holder dies.
func (l *Lease) abandon() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Held reports whether the lease is still held according to Redis (not only locally).
func (l *Lease) Held(ctx context.Context) bool {
	v, err := l.rdb.Get(ctx, l.key).Result()
	return err == nil && v == l.value
}
