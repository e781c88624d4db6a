package sqlstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/plugd/plugd/internal/store"
)

// BenchmarkInstallationLookup is the lookup every plugin call makes (tenant + plugin id ->
// installation), on SQLite with 100 installations: 10 tenants with the same 10 plugins.
func BenchmarkInstallationLookup(b *testing.B) {
	db := openSQLite(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := b.Context()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	type key struct{ tenant, plugin string }
	var keys []key
	for tn := range 10 {
		for pn := range 10 {
			k := key{fmt.Sprintf("tenant-%d", tn), fmt.Sprintf("acme/plugin-%d", pn)}
			uid := fmt.Sprintf("%s:1.0.0@%064x", k.plugin, pn)
			_, err := db.Install(ctx, store.Installation{TenantID: k.tenant, PluginID: k.plugin, UniqueIdentifier: uid, RuntimeType: "local"},
				store.Plugin{InstallType: "local"})
			if err != nil {
				b.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if _, err := db.GetInstallationByPlugin(ctx, k.tenant, k.plugin); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
