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

// FuzzFromRegistration feeds arbitrary registration messages to FromRegistration: it must
// never panic or hang, must explain a nil plugin, must name the message of every problem,
// and must return a declaration that can be served as JSON. kind picks the kind of the
// second declaration; values past the known kinds give an unknown one.
func FuzzFromRegistration(f *testing.F) {
	r := parseRegistration(f, transcript102)
	manifest, tool := []byte(r.manifest), []byte(r.providers["tool"])
	f.Add(manifest, tool, byte(1), []byte(modelRegistration), "icon.svg")
	f.Add(manifest, tool, byte(2), []byte(`{"settings":[],"endpoints":[{"path":"/a","method":"GET","extra":{"python":{"source":"e.py"}}}]}`), "")
	f.Add(manifest, []byte(`{"tools":["tools/echo.yaml",{}],"identity":null}`), byte(0), tool, "icon.svg\x00../x")
	f.Add([]byte(`{"author":"a","author":"b","plugins":{"models":["m"]}}`), []byte(`[`), byte(1), []byte(`{"models":{"llm":{"predefined":["*"]}},"position":{"llm":[1,null]}}`), "")
	f.Add([]byte(`null`), []byte(`{"identity":{"name":1e400,"tags":"x"},"credentials_schema":{"k":{"type":"select"}}}`), byte(5), []byte(`{"events":[{"parameters":[{"options":[{"value":{}}]}]}]}`), "a")
	f.Add([]byte(strings.Repeat(`{"a":`, 200)+`1`+strings.Repeat(`}`, 200)), []byte(`"x"`), byte(255), []byte(`{}`), "")
	f.Add([]byte(`{"created_at":7,"resource":{"memory":"1","permission":{"model":{"llm":"yes"}}},"meta":[]}`), []byte("{}\n{}"), byte(3), []byte(`{"strategies":[{"parameters":[{"default":[1]}]}]}`), "")
	f.Fuzz(func(t *testing.T, manifest, tool []byte, kind byte, other []byte, assets string) {
		providers := map[string]json.RawMessage{"tool": tool}
		otherKind := "unknown"
		if int(kind) < len(registrationKinds) {
			otherKind = registrationKinds[kind].kind
		}
		if otherKind != "tool" {
			providers[otherKind] = other
		}
		p, probs := FromRegistration(manifest, providers, strings.Split(assets, "\x00"))
		if p == nil && len(probs.Install()) == 0 {
			t.Fatalf("nil plugin without an install problem: %v", probs)
		}
		for _, pr := range probs {
			if !strings.HasSuffix(pr.File, "_declaration") || pr.Message == "" || pr.Line != 0 {
				t.Fatalf("problem without message kind or message: %+v", pr)
			}
			if pr.Field != "" && !strings.HasPrefix(pr.Field, pr.File) {
				t.Fatalf("field %q not inside %s", pr.Field, pr.File)
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

// FuzzParseJSON checks the JSON reader against encoding/json: it takes exactly the valid
// documents, and what it reads back as plain values is what encoding/json reads.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"a":1,"a":2}`, `[1,2.5,-0,1e3,"x",true,false,null,{"b":[]}]`,
		`{"a":`, `{} x`, `"\ud83d\ude00\u0000"`, `1e400`, `18700000000000000000`, `-0`, `{"k":"v"}  `, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, probs := parseJSON(data)
		usable := true
		for _, p := range probs {
			usable = usable && p.strict
		}
		// Past maxYAMLNodes values (2 bytes each at least), a valid document is refused.
		valid := json.Valid(data)
		if usable != valid && len(data) < 2*maxYAMLNodes {
			t.Fatalf("usable %v, json.Valid %v: %v", usable, valid, probs)
		}
		if !valid || root == nil {
			return
		}
		l := &loader{remote: true}
		yf := &yamlFile{l: l, name: "x", root: root, typed: map[*yaml.Node]bool{}, json: true}
		got, err := json.Marshal(yf.top(true).value())
		if err != nil {
			return // a number past float64: encoding/json refuses it too
		}
		var want any
		if err := json.Unmarshal(data, &want); err != nil {
			return
		}
		var back any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if diffs := jsonDiff("", want, back); len(diffs) > 0 && !yf.exhausted {
			t.Fatalf("read %s back as %s: %v", data, got, diffs)
		}
	})
}
