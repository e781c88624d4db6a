package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// benchSchema is an input schema of a realistic size (four parameters with descriptions).
var benchSchema = json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"What to search for, in plain words."},` +
	`"limit":{"type":"number","description":"How many results to return at most.","minimum":1,"maximum":100},` +
	`"language":{"type":"string","enum":["en","de","fr","ja"],"description":"Language of the results."},` +
	`"safe":{"type":"boolean","description":"Leave out unsafe results."}},"required":["query"]}`)

// benchDeclaration is a tool plugin's declaration with 20 tools of four parameters each.
func benchDeclaration(author, name string) json.RawMessage {
	str := func(s string) manifest.I18n { return manifest.I18n{EnUS: s} }
	params := []manifest.ToolParameter{
		{Name: "query", Type: "string", Form: "llm", Required: true, Label: str("Query"), HumanDescription: str("What to search for."), LLMDescription: "What to search for, in plain words."},
		{Name: "limit", Type: "number", Form: "llm", Label: str("Limit"), HumanDescription: str("How many."), LLMDescription: "How many results to return at most."},
		{Name: "language", Type: "select", Form: "form", Label: str("Language"), HumanDescription: str("Language."),
			Options: []manifest.ParameterOption{{Value: "en", Label: str("English")}, {Value: "de", Label: str("German")}}},
		{Name: "safe", Type: "boolean", Form: "form", Label: str("Safe"), HumanDescription: str("Leave out unsafe results.")},
	}
	tp := &manifest.ToolProvider{Identity: manifest.ProviderIdentity{Author: author, Name: "p", Label: str("Plugin"), Description: str("A plugin")}}
	for j := range 20 {
		tp.Tools = append(tp.Tools, manifest.Tool{Identity: manifest.Identity{Author: author, Name: fmt.Sprintf("p_tool_%d", j), Label: str("A tool")},
			Description: manifest.ToolDescription{Human: str("Does one thing well."), LLM: "Does one thing well, as tools should."}, Parameters: params})
	}
	b, err := json.Marshal(manifest.Plugin{Version: "1.0.0", Type: "plugin", Author: author, Name: name, Label: str(name), Tool: tp})
	if err != nil {
		panic(err)
	}
	return b
}

func benchTools(prefix string, n int) []catalog.Tool {
	tools := make([]catalog.Tool, n)
	for j := range tools {
		tools[j] = catalog.Tool{Name: fmt.Sprintf("%s_tool_%d", prefix, j), Label: "A tool", Description: "Does one thing well, as tools should.", InputSchema: benchSchema}
	}
	return tools
}

// BenchmarkList is the catalog list of one tenant with 1,000 providers and 20,000 tools on
// SQLite: 500 installed plugins (real installation and declaration rows, read through
// plugintools as the daemon does) and 500 imported API providers of 20 tools each, ordered
// with a pin and an exclude setting and the tenant's preferences. It measures the steady
// state: nothing changed since the previous list.
func BenchmarkList(b *testing.B) {
	c := benchCatalog(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.List(context.Background(), "t", catalog.ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAfterChange is the same list right after a change of the tenant's catalog (a
// pin toggled), which makes the next list reload the stored providers: the cost of the first
// list after any change, the write included.
func BenchmarkListAfterChange(b *testing.B) {
	c := benchCatalog(b)
	on := false
	b.ResetTimer()
	for b.Loop() {
		on = !on
		if _, err := c.SetPreference(context.Background(), "t", catalog.PreferenceChange{Target: catalog.TargetProvider, Name: "author3/plugin3/p", Pinned: &on}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.List(context.Background(), "t", catalog.ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCatalog(b *testing.B) *catalog.Catalog {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "plugd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		author, name := fmt.Sprintf("author%d", i), fmt.Sprintf("plugin%d", i)
		id := author + "/" + name
		uid := fmt.Sprintf("%s:1.0.0@%064x", id, i)
		if err := db.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: uid, PluginID: id, Declaration: benchDeclaration(author, name)}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Install(ctx, store.Installation{TenantID: "t", PluginID: id, UniqueIdentifier: uid, RuntimeType: "local"},
			store.Plugin{UniqueIdentifier: uid, PluginID: id, InstallType: "local"}); err != nil {
			b.Fatal(err)
		}
	}
	c := catalog.New(catalog.Config{Store: db, Plugins: plugintools.NewSource(db), Secrets: catalogtest.NewSecrets(),
		Ordering: catalog.Ordering{ProviderPins: []string{"api-7"}, ToolExcludes: []string{"p_tool_3"}}})
	for i := range 500 {
		if _, err := c.Add(ctx, "t", catalog.NewProvider{Kind: catalog.KindAPI, Name: fmt.Sprintf("api-%d", i), Tools: benchTools("a", 20),
			Config: json.RawMessage(`{"server":"https://api.example.com/v1","auth":{"type":"bearer"}}`), Credentials: map[string]string{"token": "secret-token-value"}}); err != nil {
			b.Fatal(err)
		}
	}
	pin := true
	if _, err := c.SetPreference(ctx, "t", catalog.PreferenceChange{Target: catalog.TargetProvider, Name: "author9/plugin9/p", Pinned: &pin}); err != nil {
		b.Fatal(err)
	}
	list, err := c.List(ctx, "t", catalog.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tools := 0
	for _, p := range list {
		tools += len(p.Tools)
	}
	if len(list) != 1000 || tools != 19500 || list[0].ID != "author9/plugin9/p" || list[1].Name != "api-7" {
		b.Fatalf("%d providers, %d tools, first %s %s", len(list), tools, list[0].ID, list[1].Name)
	}
	return c
}
