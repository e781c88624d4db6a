package daemon

import (
	"context"
	"path/filepath"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/pkgfile"
)

// NewMarketplaceFetcher is the daemon's resolver of Marketplace plugins (bundles'
// `marketplace` dependencies): MARKETPLACE_API_URL, a cache in DATA_DIR/cache/marketplace,
// MAX_PLUGIN_PACKAGE_SIZE, and mgr's signature policy run on every package it hands out,
// cached or not. It returns nil when MARKETPLACE_ENABLED is false.
func NewMarketplaceFetcher(c Config, mgr *install.Manager, version string) (*marketplace.Fetcher, error) {
	if !c.Marketplace.Enabled {
		return nil, nil
	}
	client, err := marketplace.New(c.Marketplace.URL, "plugd/"+version)
	if err != nil {
		return nil, err
	}
	return &marketplace.Fetcher{
		Client:   client,
		CacheDir: filepath.Join(c.DataDir, "cache", "marketplace"),
		MaxSize:  c.MaxPackageSize,
		Check: func(ctx context.Context, pkg *pkgfile.Package) error {
			_, err := mgr.CheckPackage(ctx, pkg, false)
			return err
		},
	}, nil
}
