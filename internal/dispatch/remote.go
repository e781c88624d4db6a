package dispatch

import (
	"context"
	"encoding/json"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

// Attached is a plugin running elsewhere and attached over the network (remote debugging);
// *runtime.Remote is one.
type Attached interface {
	Invoke(ctx context.Context, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (*runtime.Stream, error)
	Status() runtime.Status
	Close(ctx context.Context) error
}

// Attach routes uid's requests to a, replacing (and closing) an earlier attachment of the
// same identifier: the author restarted the plugin and it connected again.
func (d *Dispatcher) Attach(uid string, a Attached) {
	d.mu.Lock()
	old := d.remotes[uid]
	d.remotes[uid] = a
	d.mu.Unlock()
	if old != nil && old != a {
		_ = old.Close(context.Background())
	}
}

// Detach stops routing to a. It reports false when a was no longer uid's attachment (a newer
// one replaced it), so the caller leaves the installation to the newer one.
func (d *Dispatcher) Detach(uid string, a Attached) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.remotes[uid] != a {
		return false
	}
	delete(d.remotes, uid)
	d.cfg.Metrics.forget(uid)
	return true
}

func (d *Dispatcher) attached(uid string) Attached {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remotes[uid]
}
