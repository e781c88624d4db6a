package apitools_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/apitools"
	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// BenchmarkCall calls the Petstore's getPetById on a loopback upstream two ways, with
// keep-alive connections both: direct (a plain http.Client, the upstream's own time as a client
// sees it) and through the catalog (Catalog.Call on SQLite: provider lookup, credentials opened,
// request built from the arguments, sent through egress, answer turned into a message). The
// difference of the p50s is what a catalog API tool call adds.
func BenchmarkCall(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":7,"name":"doggie","status":"available"}`))
	}))
	defer up.Close()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "plugd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	allow, _ := egress.ParseAllow("127.0.0.1")
	client := egress.New(egress.Settings{Allow: allow})
	c := catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindAPI: apitools.Caller{Client: client}}})
	text, _ := os.ReadFile(filepath.Join("testdata", "petstore-3.0.json"))
	np, err := apitools.Importer{Client: client}.NewProvider(ctx, apitools.Import{Name: "pets", Schema: string(text), ServerURL: up.URL + "/v2",
		Auth: apitools.Auth{Type: apitools.AuthAPIKeyHeader, Name: "api_key"}, Credentials: map[string]string{"api_key": "special-key-42"}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := c.Add(ctx, "t", np)
	if err != nil {
		b.Fatal(err)
	}
	p50 := func(b *testing.B, one func()) {
		times := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			one()
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
	}
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{}
		p50(b, func() {
			req, _ := http.NewRequest(http.MethodGet, up.URL+"/v2/pet/7", nil)
			req.Header.Set("api_key", "special-key-42")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		})
	})
	b.Run("catalog", func(b *testing.B) {
		p50(b, func() {
			st, err := c.Call(ctx, "t", catalog.CallRequest{ProviderID: p.ID, Tool: "getPetById", Arguments: map[string]any{"petId": 7}})
			if err != nil {
				b.Fatal(err)
			}
			if m, err := st.Next(); err != nil || m.Type != "json" {
				b.Fatal(m, err)
			}
			st.Close()
		})
	})
}
