package sqlstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/store"
)

// The benchmarks run on every database there is: SQLite always, PostgreSQL and MySQL when
// their servers are configured (PLUGD_TEST_POSTGRES_DSN, PLUGD_TEST_MYSQL_DSN), each in a
// fresh, migrated database.

func benchDatabases(b *testing.B, fn func(b *testing.B, db *DB)) {
	for _, d := range []struct {
		name string
		open func(b *testing.B) *DB
	}{
		{"sqlite", func(b *testing.B) *DB { return openSQLite(b, filepath.Join(b.TempDir(), "bench.db")) }},
		{"postgres", func(b *testing.B) *DB { return openPostgres(b, freshPostgres(b).schemaDSN(b)) }},
		{"mysql", func(b *testing.B) *DB { return openTestMySQL(b, newMySQLDatabase(b)) }},
	} {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b)
			if _, err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			fn(b, db)
		})
	}
}

// BenchmarkInstallationLookup is the lookup every plugin call makes (tenant + plugin id ->
// installation), with 100 installations: 10 tenants with the same 10 plugins.
func BenchmarkInstallationLookup(b *testing.B) {
	benchDatabases(b, func(b *testing.B, db *DB) {
		ctx := b.Context()
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
	})
}

// BenchmarkInstallUninstall is one tenant installing a plugin others have installed already,
// then removing it: two write transactions with their row locks.
func BenchmarkInstallUninstall(b *testing.B) {
	benchDatabases(b, func(b *testing.B, db *DB) {
		ctx := b.Context()
		const uid = "acme/bench:1.0.0@" + "00000000000000000000000000000000000000000000000000000000000000aa"
		p := store.Plugin{InstallType: "local"}
		if _, err := db.Install(ctx, store.Installation{TenantID: "keeper", PluginID: "acme/bench", UniqueIdentifier: uid, RuntimeType: "local"}, p); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			inst, err := db.Install(ctx, store.Installation{TenantID: "t", PluginID: "acme/bench", UniqueIdentifier: uid, RuntimeType: "local"}, p)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := db.Uninstall(ctx, "t", inst.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStorageSetGet is a plugin's key-value storage: one 1 KiB set (quota checked under
// the namespace's lock) and one get.
func BenchmarkStorageSetGet(b *testing.B) {
	benchDatabases(b, func(b *testing.B, db *DB) {
		ctx := b.Context()
		ns := backwards.Namespace{TenantID: "t", PluginID: "acme/kv"}
		v := pattern(1024, 1)
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("k%d", i%64)
			if err := db.Set(ctx, ns, key, v, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Get(ctx, ns, key); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
