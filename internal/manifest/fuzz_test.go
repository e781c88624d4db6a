package manifest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary manifest.yaml and tool YAML to Load: it must never panic or hang,
// must explain a nil plugin, and must return a declaration that can be served as JSON.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(manifestHead+"  tools:\n    - provider/demo.yaml\n"), []byte(toolYAML))
	f.Add([]byte(manifestHead+"  tools: [provider/demo.yaml]\n  endpoints: [../x]\n"), []byte("identity: &a {name: *a}\n"))
	f.Add([]byte("version: 1\nplugins: {tools: [tools/echo.yaml]}\n"), []byte(laughs(3)))
	f.Add([]byte("{"), []byte("- [\n"))
	f.Add([]byte("a: &x [1, *x]\nplugins:\n  tools:\n    - provider/demo.yaml\n"), []byte("parameters: [{type: select, multiple: 1e400, min: .nan}]\n"))
	f.Add([]byte("<<: {plugins: {models: [provider/demo.yaml]}}\n"), []byte("models: {llm: {predefined: ['[', 'tools/*'], position: tools/echo.yaml}}\n"))
	f.Fuzz(func(t *testing.T, manifest, toolFile []byte) {
		fs := toolPlugin()
		fs["manifest.yaml"] = &fstest.MapFile{Data: manifest}
		fs["tools/echo.yaml"] = &fstest.MapFile{Data: toolFile}
		p, probs := Load(fs)
		if p == nil && len(probs.Install()) == 0 {
			t.Fatalf("nil plugin without an install problem: %v", probs)
		}
		if !slices.IsSortedFunc(probs, func(a, b Problem) int {
			if c := strings.Compare(a.File, b.File); c != 0 {
				return c
			}
			return a.Line - b.Line
		}) {
			t.Fatalf("problems not sorted: %v", probs)
		}
		for _, pr := range probs {
			if pr.File == "" || pr.Message == "" {
				t.Fatalf("problem without file or message: %+v", pr)
			}
		}
		if p != nil {
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("declaration cannot be served as JSON: %v", err)
			}
			_ = p.Category()
			_ = p.AssetFiles()
		}
	})
}

// FuzzParseYAML feeds arbitrary bytes to the YAML layer and walks whatever it returns the
// way the loader does.
func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{"", "a: 1\n", toolYAML, modelProviderYAML, laughs(4), "a: &x [*x]\n", "- !!binary aGk=\n",
		"? [a]\n: b\n", "a: 1\na: 2\n", "<<: [*a]\n", "\xff\xfe", "a: .inf\nb: 99999999999999999999999\n", "---\n---\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, probs := parseYAML(data)
		for _, p := range probs {
			if p.message == "" {
				t.Fatal("empty message")
			}
		}
		if root == nil {
			return
		}
		l := &loader{fsys: fstest.MapFS{}}
		yf := &yamlFile{l: l, name: "x.yaml", root: root, typed: map[*yaml.Node]bool{}}
		c := yf.top(true)
		v := c.value()
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("value not JSON: %v", err)
		}
		_ = c.i18n()
		_ = providerConfigs(c.get("credentials"), mapExclusive)
		yf.checkKeys()
	})
}
