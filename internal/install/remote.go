package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/store"
)

// RuntimeRemote is the runtime type of a plugin attached for remote debugging.
const RuntimeRemote = "remote"

// Attach records a plugin attached for remote debugging as installed for the tenant, so that
// it shows in the tenant's lists and dispatch reaches it. Its unique identifier's checksum is
// the SHA-256 of its declaration followed by the tenant id, as the reference computes it:
// the same plugin attached again gets the same identifier, and two tenants debugging one
// plugin get two. A remote installation of the same plugin id left by an earlier attachment
// is replaced; a packaged installation is not touched and the attachment is refused.
func (m *Manager) Attach(ctx context.Context, tenantID string, plugin *manifest.Plugin, assets map[string][]byte) (string, error) {
	read := func(name string) ([]byte, error) {
		if b, ok := assets[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	if err := m.remapIcons(ctx, read, plugin); err != nil {
		return "", err
	}
	decl, err := json.Marshal(plugin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(append([]byte{}, decl...), tenantID...))
	uid := plugin.Identity() + "@" + hex.EncodeToString(sum[:])
	id, err := ParseIdentifier(uid)
	if err != nil {
		return "", &InputError{Field: "manifest_declaration", Err: err}
	}
	if err := m.cfg.Store.PutDeclaration(ctx, store.Declaration{
		UniqueIdentifier: uid, PluginID: id.PluginID(), Declaration: decl, Verification: json.RawMessage("null"),
	}); err != nil {
		return "", err
	}
	old, err := m.cfg.Store.GetInstallationByPlugin(ctx, tenantID, id.PluginID())
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return "", err
	case old.RuntimeType != RuntimeRemote:
		return "", fmt.Errorf("tenant %s already has %s installed from a package; uninstall it to debug this plugin", tenantID, old.UniqueIdentifier)
	case old.UniqueIdentifier == uid:
		return uid, nil // attached again with the same declaration
	default:
		if err := m.Detach(ctx, tenantID, old.UniqueIdentifier); err != nil {
			return "", err
		}
	}
	_, err = m.cfg.Store.Install(ctx, store.Installation{
		TenantID: tenantID, PluginID: id.PluginID(), UniqueIdentifier: uid,
		RuntimeType: RuntimeRemote, Source: RuntimeRemote, Meta: json.RawMessage("{}"),
	}, store.Plugin{UniqueIdentifier: uid, PluginID: id.PluginID(), InstallType: RuntimeRemote, Source: RuntimeRemote})
	if err != nil {
		return "", fmt.Errorf("recording the attached plugin: %w", err)
	}
	return uid, nil
}

// Detach removes the tenant's remote installation of uid, if it is still there.
func (m *Manager) Detach(ctx context.Context, tenantID, uid string) error {
	id, err := ParseIdentifier(uid)
	if err != nil {
		return err
	}
	inst, err := m.cfg.Store.GetInstallationByPlugin(ctx, tenantID, id.PluginID())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if inst.UniqueIdentifier != uid || inst.RuntimeType != RuntimeRemote {
		return nil
	}
	_, lastRef, err := m.cfg.Store.Uninstall(ctx, tenantID, inst.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if lastRef {
		if err := m.cfg.Store.DeleteDeclaration(ctx, uid); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// DetachAll removes every remote installation: at boot, attachments of a daemon that stopped
// are gone with their connections.
func (m *Manager) DetachAll(ctx context.Context) (int, error) {
	insts, err := m.cfg.Store.InstallationsOfType(ctx, RuntimeRemote)
	if err != nil {
		return 0, err
	}
	for _, inst := range insts {
		if err := m.Detach(ctx, inst.TenantID, inst.UniqueIdentifier); err != nil {
			return 0, err
		}
	}
	return len(insts), nil
}
