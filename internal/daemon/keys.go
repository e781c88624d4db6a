package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/plugd/plugd/internal/vault"
)

// RotateMasterKey is `plugd keys rotate`: every tenant's data key is re-wrapped under a new
// master key, so every stored credential stays readable. With PLUGD_MASTER_KEY set (through
// lookup) the new key is that one and the old ones are in PLUGD_MASTER_KEY_PREVIOUS; else the
// key file in the data folder is replaced by a generated key (resumable when interrupted).
// Run it with plugd stopped, or restart every plugd right after.
func RotateMasterKey(ctx context.Context, c Config, lookup func(string) (string, bool)) (vault.RotateReport, error) {
	db, err := OpenStore(ctx, c)
	if err != nil {
		return vault.RotateReport{}, fmt.Errorf("opening the database: %w", err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return vault.RotateReport{}, fmt.Errorf("migrating the database: %w", err)
	}
	if v, ok := lookup("PLUGD_MASTER_KEY"); ok && v != "" {
		ring, err := vault.LoadKeyring(lookup, c.DataDir, io.Discard)
		if err != nil {
			return vault.RotateReport{}, err
		}
		return vault.Rotate(ctx, db, ring)
	}
	return vault.RotateKeyFile(ctx, db, c.DataDir)
}
