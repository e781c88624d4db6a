package daemon

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/cluster"
)

// TestLeaseLockerSerialises: two nodes' OAuth lockers on one key hold it one at a time.
func TestLeaseLockerSerialises(t *testing.T) {
	addr := os.Getenv("PLUGD_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REDIS_ADDR is not set: run scripts/test-deps.sh")
		}
		t.Skip("PLUGD_TEST_REDIS_ADDR is not set (scripts/redis.sh)")
	}
	host, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	ctx := context.Background()
	rdb, err := cluster.Connect(ctx, cluster.Config{Host: host, Port: p})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	prefix := "plugd-test-lock-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	var lockers []leaseLocker
	for _, id := range []string{"a", "b"} {
		cl, err := cluster.New(rdb, cluster.Options{Prefix: prefix, NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		lockers = append(lockers, leaseLocker{cl})
	}
	unlock, err := lockers[0].Lock(ctx, "oauth-refresh:t:p")
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Bool
	done := make(chan func())
	go func() {
		u, err := lockers[1].Lock(ctx, "oauth-refresh:t:p")
		if err != nil {
			t.Error(err)
		}
		got.Store(true)
		done <- u
	}()
	time.Sleep(300 * time.Millisecond)
	if got.Load() {
		t.Fatal("the second node got the lock while the first held it")
	}
	unlock()
	select {
	case u := <-done:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the second node did not get the lock after the first let it go")
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	u, _ := lockers[0].Lock(ctx, "k2")
	defer u()
	if _, err := lockers[1].Lock(short, "k2"); err == nil {
		t.Error("Lock returned without the lock once its context ended")
	}
}
