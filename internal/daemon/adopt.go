package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// Target is plugd's side of `plugd adopt`: the store (migrated), the object storage and an
// installer that stores packages as `plugd serve` would, with the same signature keys.
type Target struct {
	DB        *sqlstore.DB
	Blob      blob.Store
	Installer *install.Manager
}

// Close releases the target.
func (t *Target) Close() error {
	t.Installer.Close()
	return t.DB.Close()
}

// OpenTarget opens and migrates the configured store and storage for adoption. A dry run
// migrates too: plugd's own schema is the one thing it writes, so that it can compare.
func OpenTarget(ctx context.Context, c Config) (*Target, error) {
	db, err := OpenStore(ctx, c)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(context.WithoutCancel(ctx)); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating plugd's database: %w", err)
	}
	db.SetStorageLimit(c.StorageLimit)
	blobs, err := OpenBlob(ctx, c)
	if err != nil {
		db.Close()
		return nil, err
	}
	trust, err := trustStore(c)
	if err != nil {
		db.Close()
		return nil, err
	}
	tmp := filepath.Join(c.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		db.Close()
		return nil, err
	}
	mgr := install.New(install.Config{Store: db, Blob: blobs, Keys: trust, MaxPackageSize: c.MaxPackageSize, TempDir: tmp})
	return &Target{DB: db, Blob: blobs, Installer: mgr}, nil
}
