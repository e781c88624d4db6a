package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/blob"
)

// cycleDBs give the daemon's DB_* settings for each database the storage cycle runs on
// (nil: the default SQLite), or skip when the database's server is not configured. A new
// database joins the cycle by adding its entry here and a row to storageCycles.
var cycleDBs = map[string]func(t *testing.T) map[string]string{
	"sqlite": func(*testing.T) map[string]string { return nil },
	"postgresql": func(t *testing.T) map[string]string {
		return postgresEnv(t, needService(t, "PostgreSQL", "PLUGD_TEST_POSTGRES_DSN")[0])
	},
}

// cycleStorages give the daemon's storage settings for each backend, and a Store that reads
// the same objects from the test's side, to prove the daemon really wrote there.
var cycleStorages = map[string]func(t *testing.T) (map[string]string, blob.Store){
	"azure_blob": azuriteStorage,
}

// storageCycles are the (storage, database) pairs the install + call + restart cycle runs on.
var storageCycles = []struct{ storage, db string }{
	{"azure_blob", "postgresql"},
}

// TestStorageCycle installs a plugin, calls it, restarts the daemon (state read back from the
// storage and database servers), calls it again and uninstalls it, on each pair of
// storageCycles, and checks that the package and its icon were stored in the backend.
func TestStorageCycle(t *testing.T) {
	for _, tc := range storageCycles {
		t.Run(tc.storage+"+"+tc.db, func(t *testing.T) {
			env, direct := cycleStorages[tc.storage](t)
			for k, v := range cycleDBs[tc.db](t) {
				env[k] = v
			}
			pythonTools(t)
			d := startDaemon(t, daemonOptions{Env: env})
			checked := false
			basicFlowHook(t, d, true, func() {
				keys, err := direct.List(context.Background(), "")
				if err != nil {
					t.Fatalf("listing the backend: %v", err)
				}
				var pkgs, assets int
				for _, k := range keys {
					pkgs += btoi(strings.HasPrefix(k, "packages/"))
					assets += btoi(strings.HasPrefix(k, "assets/"))
				}
				if pkgs != 1 || assets == 0 {
					t.Fatalf("the backend holds %q; want one package and its icon", keys)
				}
				checked = true
			})
			if !checked {
				t.Fatal("the backend was never checked")
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// azuriteStorage points the daemon at a container of its own on Azurite (scripts/azurite.sh).
func azuriteStorage(t *testing.T) (map[string]string, blob.Store) {
	v := needService(t, "Azurite", "PLUGD_TEST_AZURE_ENDPOINT", "PLUGD_TEST_AZURE_ACCOUNT", "PLUGD_TEST_AZURE_KEY")
	conn := blob.AzuriteConnectionString(v[0], v[1], v[2])
	container := "plugd-e2e-" + randomHex(6)
	direct, err := blob.NewAzure(context.Background(), blob.AzureConfig{ConnectionString: conn, Container: container, CreateContainer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := direct.List(ctx, "")
		for _, k := range keys {
			direct.Delete(ctx, k)
		}
	})
	return map[string]string{
		"PLUGIN_STORAGE_TYPE":                  "azure_blob",
		"AZURE_BLOB_STORAGE_CONNECTION_STRING": conn,
		"AZURE_BLOB_STORAGE_CONTAINER_NAME":    container,
	}, direct
}
