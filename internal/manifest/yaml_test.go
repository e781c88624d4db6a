package manifest

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		usable  bool // a root node comes back
		line    int  // of the first problem
		msg     string
		strict  bool
		noProbs bool
	}{
		{name: "mapping", data: "a: 1\n", usable: true, noProbs: true},
		{name: "empty", data: "", noProbs: true},
		{name: "only comments", data: "# nothing\n", noProbs: true},
		{name: "syntax error", data: "a: 1\nb: [\n", line: 3, msg: "did not find expected node content"},
		{name: "parser error line", data: "a:\n  b: 1\n c: 2\n", line: 3, msg: "did not find expected key"},
		{name: "tab indentation", data: "a:\n\tb: 1\n", line: 2, msg: "invalid YAML"},
		{name: "not UTF-8", data: "a: 1\nb: \xc3\x28\n", line: 2, msg: "not valid UTF-8"},
		{name: "UTF-16 with BOM", data: "\xff\xfea\x00:\x00 \x001\x00\n\x00", usable: true, noProbs: true},
		{name: "two documents", data: "a: 1\n---\nb: 2\n", usable: true, line: 2, msg: "more than one YAML document", strict: true},
		{name: "second document broken", data: "a: 1\n---\nb: [\n", usable: true, line: 4, msg: "more than one YAML document", strict: true},
		{name: "alias cycle", data: "a: &x [1, *x]\n", usable: true, line: 1, msg: "contains it", strict: false},
		{name: "unknown anchor", data: "a: *nope\n", msg: "unknown anchor"},
		{name: "too deep", data: strings.Repeat("[", 150) + strings.Repeat("]", 150), usable: true, line: 1, msg: "nesting deeper", strict: false},
		{name: "parser depth limit", data: strings.Repeat("[", 20000), msg: "exceeded max depth"},
		{name: "laughs", data: laughs(7), usable: true, msg: "expands to more than", strict: false},
		{name: "too large", data: "a: " + strings.Repeat("x", maxYAMLFileSize), msg: "declaration files are limited"},
		{name: "control character", data: "a: \x01\n", msg: "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, probs := parseYAML([]byte(tt.data))
			if (root != nil) != tt.usable {
				t.Errorf("usable = %v, want %v (problems %+v)", root != nil, tt.usable, probs)
			}
			if tt.noProbs {
				if len(probs) != 0 {
					t.Errorf("problems: %+v", probs)
				}
				return
			}
			if len(probs) == 0 {
				t.Fatalf("no problem, want %q", tt.msg)
			}
			p := probs[0]
			if p.line != tt.line || !strings.Contains(p.message, tt.msg) || p.strict != tt.strict {
				t.Errorf("got %+v, want line %d, %q, strict %v", p, tt.line, tt.msg, tt.strict)
			}
		})
	}
}

// Merge keys are applied as yaml.v3 applies them: the mapping's own keys win.
func TestMergeKeys(t *testing.T) {
	fs := toolPlugin()
	rep(tool, "parameters:\n  - name: text\n    type: string\n    form: llm\n",
		"base: &base\n  type: number\n  form: llm\nparameters:\n  - name: text\n    <<: *base\n    type: string\n")(fs)
	p, probs := Load(fs)
	if len(probs) != 0 {
		t.Fatal(probs.Err())
	}
	got := p.Tool.Tools[0].Parameters[0]
	if got.Type != "string" || got.Form != "llm" {
		t.Errorf("merged parameter: %+v", got)
	}
}

func TestScalarShapes(t *testing.T) {
	// yaml.v3's own rules: yes is a boolean for a bool field, 2.0 fits an int, a quoted time
	// is a time.
	fs := toolPlugin()
	rep(mf, "memory: 268435456", "memory: 2.68435456e8")(fs)
	rep(mf, "created_at: 2024-09-20T08:03:44Z", `created_at: "2024-09-20T08:03:44.5+02:00"`)(fs)
	rep(mf, "      enabled: true\n    storage", "      enabled: yes\n    storage")(fs)
	p, probs := Load(fs)
	if len(probs) != 0 {
		t.Fatal(probs.Err())
	}
	if p.Resource.Memory != 268435456 || !p.Resource.Permission.Tool.Enabled {
		t.Errorf("resource: %+v", p.Resource)
	}
	if want := time.Date(2024, 9, 20, 6, 3, 44, 5e8, time.UTC); !p.CreatedAt.Equal(want) {
		t.Errorf("created_at %v", p.CreatedAt)
	}
}

func TestCanonicalDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"0.0010": "0.001", "2e-3": "0.002", "1.50E-2": "0.015", "1000": "1000", "1e3": "1000", "+3": "3",
		"-0.5": "-0.5", "0": "0", "000.000": "0", ".5": "0.5", "5.": "5", "12.3400e1": "123.4", "-0": "0",
	} {
		if got := canonicalDecimal(in); got != want {
			t.Errorf("canonicalDecimal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"https://github.com/acme/demo": true, "http://x": true, "mailto:a@b.c": true, "file:///tmp": true,
		"github.com/acme/demo": false, "acme": false, "https://": false, "": false,
	} {
		if got := isURL(s); got != want {
			t.Errorf("isURL(%q) = %v", s, got)
		}
	}
}

func TestCategoryAndIdentity(t *testing.T) {
	tests := []struct {
		p        Plugin
		category string
		identity string
	}{
		{Plugin{Author: "a", Name: "n", Version: "1.0.0", Plugins: Extensions{Tools: []string{"t"}, Endpoints: []string{"e"}}}, "tool", "a/n:1.0.0"},
		{Plugin{Name: "n", Version: "1.0.0", Plugins: Extensions{Models: []string{"m"}}}, "model", "n:1.0.0"},
		{Plugin{Plugins: Extensions{Datasources: []string{"d"}, AgentStrategies: []string{"a"}}}, "datasource", ":"},
		{Plugin{Plugins: Extensions{AgentStrategies: []string{"a"}, Triggers: []string{"t"}}}, "agent-strategy", ":"},
		{Plugin{Plugins: Extensions{Triggers: []string{"t"}, Endpoints: []string{"e"}}}, "trigger", ":"},
		{Plugin{Plugins: Extensions{Endpoints: []string{"e"}}}, "extension", ":"},
		{Plugin{Model: &ModelProvider{}}, "model", ":"},
		{Plugin{}, "extension", ":"},
	}
	for _, tt := range tests {
		if got := tt.p.Category(); got != tt.category {
			t.Errorf("%+v: category %q, want %q", tt.p.Plugins, got, tt.category)
		}
		if got := tt.p.Identity(); got != tt.identity {
			t.Errorf("identity %q, want %q", got, tt.identity)
		}
	}
}

// Loading reads each declaration file once and never more than the total budget.
func TestTotalSizeBudget(t *testing.T) {
	fs := modelPlugin()
	big := strings.Repeat("# padding\n", 90_000) // ~900 KB each, under the per-file limit
	for i := range 10 {
		fs["models/llm/pad"+string(rune('a'+i))+".yaml"] = &fstest.MapFile{Data: []byte(big + "model: pad\nmodel_type: llm\n")}
	}
	_, probs := Load(fs)
	found := false
	for _, p := range probs {
		if strings.Contains(p.Message, "past 8388608 bytes in total") && !p.Strict {
			found = true
		}
	}
	if !found {
		t.Errorf("no budget problem in %v", probs)
	}
}

func TestDecodeYAML(t *testing.T) {
	var v struct {
		Name string   `yaml:"name"`
		List []string `yaml:"list"`
	}
	if err := DecodeYAML([]byte("name: x\nlist: [a, b]\n---\nname: y\n"), &v); err != nil || v.Name != "x" || len(v.List) != 2 {
		t.Fatalf("%v %+v", err, v)
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'h'; c++ {
		p := "*" + string(c-1)
		bomb += string(c) + ": &" + string(c) + " [" + strings.Repeat(p+", ", 9) + p + "]\n"
	}
	for in, want := range map[string]string{
		"name: [x\n":                    "line",
		"name: [x]\n":                   "cannot unmarshal",
		bomb:                            "expands to more than",
		strings.Repeat("[", 200):        "",
		"\xff\xfe\x00":                  "",
		"name: " + string([]byte{0xff}): "UTF-8",
	} {
		err := DecodeYAML([]byte(in), &v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeYAML(%.30q) = %v, want an error containing %q", in, err, want)
		}
	}
}
