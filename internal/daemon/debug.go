package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/plugd/plugd/internal/cluster"
	"github.com/plugd/plugd/internal/debugging"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// keyResolver answers the debugging server's key lookups from the store.
type keyResolver struct{ s store.Store }

func (k keyResolver) ResolveDebugKey(ctx context.Context, key string) (string, error) {
	tenant, err := k.s.ResolveDebugKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: %v", debugging.ErrUnknownKey, err)
	}
	return tenant, err
}

// decodeRegistration turns a remote plugin's declarations into a declaration, refusing what
// an upload would refuse; the text of the error reaches the plugin's author.
func decodeRegistration(manifestJSON json.RawMessage, providers map[string]json.RawMessage, assets []string) (*manifest.Plugin, error) {
	plugin, problems := manifest.FromRegistration(manifestJSON, providers, assets)
	if plugin == nil {
		return nil, problems.Err()
	}
	if blocking := problems.Install(); len(blocking) > 0 {
		return nil, blocking.Err()
	}
	return plugin, nil
}

// debugServer is the remote-debugging TCP server of Run: an attached plugin is installed for
// the key's tenant while its connection lives, and served like any other.
// debugRoutes records on a cluster which node holds an attached plugin (*cluster.Cluster).
type debugRoutes interface {
	SetRoute(ctx context.Context, key string) error
	DropRoute(ctx context.Context, key string) error
}

func debugServer(c Config, db store.Store, mgr *install.Manager, disp *dispatch.Dispatcher, backwards runtime.Backwards, bounds wire.Bounds, routes debugRoutes, log *slog.Logger) *debugging.Server {
	attach := func(ctx context.Context, a debugging.Attachment) error {
		uid, err := mgr.Attach(ctx, a.TenantID, a.Plugin, a.Assets)
		if err != nil {
			return err
		}
		r := runtime.NewRemote(runtime.RemoteConfig{
			PluginID:    a.Plugin.Author + "/" + a.Plugin.Name,
			Permissions: a.Plugin.Resource.Permission,
			Backwards:   backwards,
			Bounds:      bounds,
			Logger:      log.With("uid", uid, "remote", a.RemoteAddr),
		}, a.Reader, a.Conn)
		disp.Attach(uid, r)
		if routes != nil {
			if err := routes.SetRoute(ctx, cluster.RouteDebug(uid)); err != nil {
				log.Warn("announcing a remote plugin to the cluster", "plugin", uid, "err", err)
			}
		}
		log.Info("remote plugin attached", "plugin", uid, "tenant", a.TenantID, "from", a.RemoteAddr)
		go func() {
			<-r.Done()
			a.Conn.Close() // frees the attachment's place under PLUGIN_REMOTE_INSTALLING_MAX_CONN
			log.Info("remote plugin detached", "plugin", uid, "tenant", a.TenantID, "why", r.Err())
			if disp.Detach(uid, r) {
				if routes != nil {
					_ = routes.DropRoute(context.Background(), cluster.RouteDebug(uid))
				}
				if err := mgr.Detach(context.Background(), a.TenantID, uid); err != nil {
					log.Warn("removing a detached plugin", "plugin", uid, "err", err)
				}
			}
		}()
		return nil
	}
	return debugging.New(debugging.Config{
		Addr:     debugAddr(c),
		Keys:     keyResolver{db},
		Decode:   decodeRegistration,
		Attach:   attach,
		MaxConns: c.Debug.MaxConns,
		Logger:   log,
	})
}

// debugAddr is where the remote-debugging server listens.
func debugAddr(c Config) string {
	return net.JoinHostPort(c.Debug.Host, strconv.Itoa(c.Debug.Port))
}
