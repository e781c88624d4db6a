package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/plugd/plugd/internal/scaffold"
)

// transcript102 is the registration of plugin-protocol.md §10.2, captured from SDK 0.7.4 with
// the echo fixture: every P→D line after the handshake, up to and including end.
const transcript102 = `{"type":"manifest_declaration","data":{"version":"0.0.1","type":"plugin","author":"test","name":"echo","repo":null,"description":{"zh_Hans":"Echo plugin","pt_BR":"Echo plugin","ja_JP":"Echo plugin","en_US":"Echo plugin"},"icon":"icon.svg","icon_dark":null,"label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"},"created_at":"2024-01-01T00:00:00Z","resource":{"memory":1048576,"permission":{"tool":{"enabled":true},"model":null,"node":null,"endpoint":null,"app":null,"storage":{"enabled":true,"size":1048576}}},"plugins":{"tools":["provider/echo.yaml"],"models":[],"endpoints":[],"agent_strategies":[],"datasources":[],"triggers":[]},"meta":{"version":"0.0.1","arch":["amd64"],"runner":{"language":"python","version":"3.11","entrypoint":"main"},"minimum_dify_version":null}}}

{"type":"tool_declaration","data":[{"identity":{"author":"test","name":"echo","description":{"zh_Hans":"Echo provider","pt_BR":"Echo provider","ja_JP":"Echo provider","en_US":"Echo provider"},"icon":"icon.svg","icon_dark":null,"label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"},"tags":[]},"credentials_schema":[],"oauth_schema":null,"tools":[{"identity":{"author":"test","name":"echo","label":{"zh_Hans":"Echo","pt_BR":"Echo","ja_JP":"Echo","en_US":"Echo"}},"parameters":[{"name":"text","label":{"zh_Hans":"Text","pt_BR":"Text","ja_JP":"Text","en_US":"Text"},"human_description":{"zh_Hans":"text","pt_BR":"text","ja_JP":"text","en_US":"text"},"type":"string","auto_generate":null,"template":null,"scope":null,"form":"llm","llm_description":"text","required":true,"default":null,"min":null,"max":null,"precision":null,"options":null,"input_schema":null}],"description":{"human":{"zh_Hans":"Echo text","pt_BR":"Echo text","ja_JP":"Echo text","en_US":"Echo text"},"llm":"Echo text"},"extra":{"python":{"source":"tools/echo.py"}},"has_runtime_parameters":false,"output_schema":null}],"extra":{"python":{"source":"provider/echo.py"}}}]}

{"type":"asset_chunk","data":{"filename":"icon.svg","data":"PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=","end":true}}

{"type":"end","data":{}}

`

const echoFixture = "../../testdata/vectors/echo-fixture"

// registration is what a daemon collects from a registration: the manifest declaration,
// element [0] of each provider declaration by kind, and the assets.
type registration struct {
	manifest  json.RawMessage
	providers map[string]json.RawMessage
	assets    map[string][]byte
}

func (r registration) assetNames() []string {
	names := make([]string, 0, len(r.assets))
	for n := range r.assets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// parseRegistration reads registration messages as the SDK writes them (one JSON message a
// line, each followed by a blank line) the way the daemon takes them apart.
func parseRegistration(t testing.TB, stream string) registration {
	t.Helper()
	r := registration{providers: map[string]json.RawMessage{}, assets: map[string][]byte{}}
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(nil, 64<<20)
	ended := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var msg struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			t.Fatalf("message %.80s: %v", line, err)
		}
		switch {
		case msg.Type == ManifestDeclaration:
			r.manifest = msg.Data
		case strings.HasSuffix(msg.Type, "_declaration"):
			var list []json.RawMessage
			if err := json.Unmarshal(msg.Data, &list); err != nil || len(list) == 0 {
				t.Fatalf("%s: data is not a non-empty array: %v", msg.Type, err)
			}
			r.providers[strings.TrimSuffix(msg.Type, "_declaration")] = list[0]
		case msg.Type == "asset_chunk":
			var chunk struct {
				Filename string `json:"filename"`
				Data     string `json:"data"`
			}
			if err := json.Unmarshal(msg.Data, &chunk); err != nil {
				t.Fatal(err)
			}
			b, err := base64.StdEncoding.DecodeString(chunk.Data)
			if err != nil {
				t.Fatal(err)
			}
			r.assets[chunk.Filename] = append(r.assets[chunk.Filename], b...)
		case msg.Type == "end":
			ended = true
		default:
			t.Fatalf("unexpected message type %q", msg.Type)
		}
	}
	if !ended || r.manifest == nil {
		t.Fatalf("registration without manifest or end:\n%.400s", stream)
	}
	return r
}

// The transcript is the echo fixture as the SDK sends it: it registers without any problem
// and is the declaration Load makes of the fixture's folder.
func TestFromRegistrationTranscript(t *testing.T) {
	r := parseRegistration(t, transcript102)
	if got := r.assetNames(); !slices.Equal(got, []string{"icon.svg"}) {
		t.Fatalf("assets %v", got)
	}
	got, probs := FromRegistration(r.manifest, r.providers, r.assetNames())
	if got == nil || len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	want, wantProbs := Load(os.DirFS(echoFixture))
	if len(wantProbs) != 0 {
		t.Fatalf("fixture: %v", wantProbs)
	}
	compareDeclarations(t, want, got, "sdk07")
	if got.Identity() != "test/echo:0.0.1" || got.Category() != CategoryTool || !slices.Equal(got.AssetFiles(), []string{"_assets/icon.svg"}) {
		t.Errorf("identity %q, category %q, assets %v", got.Identity(), got.Category(), got.AssetFiles())
	}
	if tl := got.Tool; tl == nil || tl.Source != "provider/echo.py" || len(tl.Tools) != 1 || tl.Tools[0].Source != "tools/echo.py" ||
		tl.Tools[0].Parameters[0].Name != "text" || tl.ToolFiles != nil {
		t.Errorf("tool provider: %+v", tl)
	}
}

// sdkPythons returns the interpreters with the real SDK: the 0.7 line, which must be set
// unless PLUGD_SKIP_PYTHON=1, and the newest line when PLUGD_TEST_PYTHON_SDK_NEW is set.
func sdkPythons(t *testing.T) map[string]string {
	t.Helper()
	pys := map[string]string{}
	if py := os.Getenv("PLUGD_TEST_PYTHON_SDK07"); py != "" {
		pys["sdk07"] = py
	} else if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
		t.Skip("PLUGD_SKIP_PYTHON=1: not running the real SDK")
	} else {
		t.Fatal("PLUGD_TEST_PYTHON_SDK07 is not set: run scripts/test.sh, or export what scripts/test-deps.sh prints (PLUGD_SKIP_PYTHON=1 skips on purpose)")
	}
	if py := os.Getenv("PLUGD_TEST_PYTHON_SDK_NEW"); py != "" {
		pys["sdknew"] = py
	}
	return pys
}

// sdkPlugin is a plugin folder for testdata/registration_dump.py. Classes says whether its
// Python sources are real, so that the SDK can import them as it does before it registers.
type sdkPlugin struct {
	Dir     string `json:"dir"`
	Classes bool   `json:"classes"`
}

// sdkRegistrations runs testdata/registration_dump.py: the SDK loads each plugin and writes
// the registration it would send a daemon. One process serves all plugins, since importing
// the SDK is most of the work.
func sdkRegistrations(t *testing.T, py string, plugins []sdkPlugin) map[string]registration {
	t.Helper()
	script, err := filepath.Abs("testdata/registration_dump.py")
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(plugins)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "INSTALL_METHOD=remote")
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	regs := map[string]registration{}
	dec := json.NewDecoder(&stdout)
	for range plugins {
		var res struct {
			Dir      string  `json:"dir"`
			Messages *string `json:"messages"`
			Error    *string `json:"error"`
		}
		if err := dec.Decode(&res); err != nil {
			t.Fatalf("%s: output: %v\n%s", script, err, stderr.String())
		}
		if res.Error != nil || res.Messages == nil {
			t.Fatalf("SDK registration of %s failed:\n%v", res.Dir, res.Error)
		}
		regs[res.Dir] = parseRegistration(t, *res.Messages)
	}
	return regs
}

// TestRegistrationMatchesLoad proves FromRegistration against the real SDK: for plugins of
// every kind, the registration the SDK sends for a folder gives the declaration Load makes
// of that folder, up to what the dump cannot carry (see unknowable and normalize), and the
// same problems (none).
func TestRegistrationMatchesLoad(t *testing.T) {
	pys := sdkPythons(t)
	type plugin struct {
		name    string
		make    func(t *testing.T, dir string) // writes the plugin into dir
		classes bool                           // see sdkPlugin
	}
	var plugins []plugin
	for _, c := range scaffold.Categories() {
		plugins = append(plugins, plugin{"scaffold-" + string(c), func(t *testing.T, dir string) {
			o := scaffold.Options{Name: "x", Author: "a", Description: "d", Category: c,
				CreatedAt: time.Date(2024, 9, 20, 8, 3, 44, 0, time.UTC)}
			if err := scaffold.Generate(dir, o); err != nil {
				t.Fatal(err)
			}
		}, true})
	}
	echo := func(createdAt string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.CopyFS(dir, os.DirFS(echoFixture)); err != nil {
				t.Fatal(err)
			}
			if createdAt == "" {
				return
			}
			mf := filepath.Join(dir, "manifest.yaml")
			b, err := os.ReadFile(mf)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte(`created_at: "2024-01-01T00:00:00.000000Z"`), []byte("created_at: "+createdAt), 1)
			if err := os.WriteFile(mf, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	plugins = append(plugins,
		plugin{"echo-fixture", echo(""), true},
		plugin{"echo-nanoseconds", echo("2024-09-20T08:03:44.658609186+08:00"), true},
		// Not RFC 3339: a strict problem from both.
		plugin{"echo-no-zone", echo("2024-09-20 08:03:44"), true},
		plugin{"echo-date", echo("2024-09-20"), true})
	// The in-memory examples have placeholder sources but declarations richer than the
	// scaffolds': pricing, positions, several model types, mappings of credentials.
	for _, ex := range []struct {
		name string
		fs   func() fs.FS
	}{
		{"example-tool", func() fs.FS { return toolPlugin() }},
		{"example-model", func() fs.FS { return modelPlugin() }},
		{"example-endpoint", func() fs.FS { return endpointPlugin() }},
		{"example-agent", func() fs.FS { return agentPlugin() }},
		{"example-trigger", func() fs.FS { return sdkTriggerPlugin() }},
		{"example-datasource", func() fs.FS { return datasourcePlugin() }},
		{"example-tool-endpoint", func() fs.FS { return toolEndpointPlugin() }},
	} {
		plugins = append(plugins, plugin{ex.name, func(t *testing.T, dir string) {
			if err := os.CopyFS(dir, ex.fs()); err != nil {
				t.Fatal(err)
			}
		}, false})
	}

	root := t.TempDir()
	specs := make([]sdkPlugin, len(plugins))
	for i, pl := range plugins {
		specs[i] = sdkPlugin{Dir: filepath.Join(root, pl.name), Classes: pl.classes}
		pl.make(t, specs[i].Dir)
	}
	regs := map[string]map[string]registration{}
	for line, py := range pys {
		regs[line] = sdkRegistrations(t, py, specs)
	}
	for i, pl := range plugins {
		t.Run(pl.name, func(t *testing.T) {
			dir := specs[i].Dir
			want, wantProbs := Load(os.DirFS(dir))
			if want == nil || len(wantProbs.Install()) != 0 {
				t.Fatalf("Load: %v", wantProbs)
			}
			for _, line := range []string{"sdk07", "sdknew"} {
				r, ok := regs[line][dir]
				if !ok {
					continue
				}
				got, probs := FromRegistration(r.manifest, r.providers, r.assetNames())
				if got == nil {
					t.Fatalf("%s: no plugin: %v", line, probs)
				}
				compareProblems(t, wantProbs, probs, line)
				compareDeclarations(t, want, got, line)
				for _, a := range got.AssetFiles() {
					if _, ok := r.assets[strings.TrimPrefix(a, "_assets/")]; !ok {
						t.Errorf("%s: icon %s was not sent", line, a)
					}
				}
			}
		})
	}
}

// compareProblems checks that a registration has the problems Load finds in manifest.yaml,
// named after the manifest declaration and without lines. Quoted values in messages are left
// out: the SDK sends some values in another form (created_at). The plugins compared have no
// problem in other files.
func compareProblems(t *testing.T, want, got Problems, sdkLine string) {
	t.Helper()
	key := func(p Problem) string {
		return fmt.Sprintf("%s: %s: %s (strict %v)", p.File, p.Field, problemKind(p), p.Strict)
	}
	var w, g []string
	for _, p := range want {
		if p.File != manifestFile {
			t.Fatalf("Load: problem outside manifest.yaml: %v", p)
		}
		p.File, p.Field = ManifestDeclaration, ManifestDeclaration+"."+p.Field
		w = append(w, key(p))
	}
	for _, p := range got {
		g = append(g, key(p))
	}
	slices.Sort(w)
	slices.Sort(g)
	if !slices.Equal(w, g) {
		t.Errorf("%s: problems\n%s\nwant (from Load)\n%s", sdkLine, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// compareDeclarations compares the JSON of Load's declaration with FromRegistration's, after
// normalize.
func compareDeclarations(t *testing.T, want, got *Plugin, sdkLine string) {
	t.Helper()
	asJSON := func(p *Plugin) any {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	w, g := asJSON(want), asJSON(got)
	unknowable(w, g)
	normalize(w, sdkLine)
	normalize(g, sdkLine)
	if diffs := jsonDiff("", w, g); len(diffs) > 0 {
		for _, d := range diffs {
			t.Errorf("%s: %s", sdkLine, d.text)
		}
	}
}

// normalize removes from a declaration's JSON what a registration cannot carry the way the
// plugin's files say it, each for a reason inherent to the SDK's dump:
//   - I18n texts: the SDK's I18nObject fills zh_Hans, ja_JP and pt_BR from en_US, so a
//     language left out in YAML arrives filled; both sides get them filled.
//   - manifest tags and privacy: the SDK's PluginConfiguration has neither field.
//   - label and help of a model parameter rule that uses a template: the SDK fills them from
//     its own templates, whose texts differ from ours (see parameterTemplates).
//   - model order: Load groups models by the order of the type keys in the provider file,
//     the SDK by a fixed order of types, so models are grouped by type name here. Within a
//     type both follow the position list; models it leaves out come in file order from Load,
//     in glob (directory) order from the SDK, so the plugins compared have one such model
//     per type at most.
//   - created_at: Python keeps microseconds, Go nanoseconds; both are cut to microseconds.
//   - with SDK 0.7: model provider icon_small_dark and icon_large_dark, which that SDK's
//     ProviderEntity does not know.
func normalize(decl any, sdkLine string) {
	var fill func(v any)
	fill = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if en, ok := x["en_US"].(string); ok && isI18n(x) {
				for _, lang := range []string{"zh_Hans", "ja_JP", "pt_BR"} {
					if s, _ := x[lang].(string); s == "" {
						x[lang] = en
					}
				}
			}
			for _, e := range x {
				fill(e)
			}
		case []any:
			for _, e := range x {
				fill(e)
			}
		}
	}
	fill(decl)
	m, _ := decl.(map[string]any)
	if s, ok := m["created_at"].(string); ok {
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m["created_at"] = at.Truncate(time.Microsecond).Format(time.RFC3339Nano)
		}
	}
	delete(m, "tags")
	delete(m, "privacy")
	if model, ok := m["model"].(map[string]any); ok {
		if sdkLine == "sdk07" {
			delete(model, "icon_small_dark")
			delete(model, "icon_large_dark")
		}
		models, _ := model["models"].([]any)
		for _, md := range models {
			rules, _ := md.(map[string]any)["parameter_rules"].([]any)
			for _, r := range rules {
				if rule := r.(map[string]any); rule["use_template"] != nil {
					delete(rule, "label")
					delete(rule, "help")
				}
			}
		}
	}
	if models, ok := dig(decl, "model", "models").([]any); ok {
		slices.SortStableFunc(models, func(a, b any) int {
			return strings.Compare(fmt.Sprint(dig(a, "model_type")), fmt.Sprint(dig(b, "model_type")))
		})
	}
}

// unknowable makes want agree with got where the dump loses what the YAML said, so that the
// value sent by the SDK cannot be told from Load's:
//   - provider tags that Load filled from the manifest's tags: the manifest's tags are not
//     sent, so FromRegistration can only fill from nothing.
//   - required of a model credential form input left false: the SDK's CredentialFormSchema
//     defaults it to true, the reference's decoder (and Load) to false, and an explicit false
//     cannot be told from an omitted one.
func unknowable(want, got any) {
	w, _ := want.(map[string]any)
	g, _ := got.(map[string]any)
	for _, kind := range []string{"tool", "trigger"} {
		wid, _ := dig(w, kind, "identity").(map[string]any)
		gid, _ := dig(g, kind, "identity").(map[string]any)
		if wid != nil && gid != nil && len(gid["tags"].([]any)) == 0 && jsonDiff("", wid["tags"], w["tags"]) == nil {
			wid["tags"] = []any{}
		}
	}
	for _, schema := range []string{"provider_credential_schema", "model_credential_schema"} {
		wf, _ := dig(w, "model", schema, "credential_form_schemas").([]any)
		gf, _ := dig(g, "model", schema, "credential_form_schemas").([]any)
		for i := range min(len(wf), len(gf)) {
			if wi := wf[i].(map[string]any); wi["required"] == false {
				wi["required"] = gf[i].(map[string]any)["required"]
			}
		}
	}
}

// dig walks a path of keys through decoded JSON objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// sdkTriggerPlugin is triggerPlugin with its subscription schema as a list: SDK 0.7 accepts
// no mapping there (Load accepts both).
func sdkTriggerPlugin() fstest.MapFS {
	fs := triggerPlugin()
	rep(trp, "subscription_schema:\n  webhook_secret:\n", "subscription_schema:\n  - name: webhook_secret\n")(fs)
	return fs
}

func isI18n(m map[string]any) bool {
	for k := range m {
		if !slices.Contains([]string{"en_US", "zh_Hans", "ja_JP", "pt_BR"}, k) {
			return false
		}
	}
	return true
}

// regCase is a registration to check: the transcript's (or a model plugin's), changed by
// edits.
type regCase struct {
	name  string
	model bool // start from modelRegistration instead of the transcript
	edits []regEdit
	want  []want
	// nilPlugin: the manifest declaration is unusable.
	nilPlugin bool
}

// regInput is a registration being edited: decoded messages, or raw text where an edit
// needs bytes that are not JSON.
type regInput struct {
	messages map[string]any // by kind; "manifest" for the manifest declaration
	raw      map[string]string
	assets   []string
}

type regEdit func(*regInput)

// setAt sets the value at path ("tools[0].parameters[0].type") in the message of kind.
func setAt(kind, path string, v any) regEdit {
	return func(r *regInput) {
		steps := strings.Split(strings.ReplaceAll(path, "[", ".["), ".")
		var parent any = r.messages
		key := kind
		for _, s := range steps {
			parent, key = step(parent, key), s
		}
		switch p := parent.(type) {
		case map[string]any:
			if v == deleted {
				delete(p, key)
			} else {
				p[key] = v
			}
		case []any:
			p[index(key)] = v
		default:
			panic("setAt: no container at " + path)
		}
	}
}

// deleted, given to setAt, removes the key.
var deleted = &struct{}{}

func step(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		return x[key]
	case []any:
		return x[index(key)]
	}
	panic("step: not a container at " + key)
}

func index(key string) int {
	var i int
	if _, err := fmt.Sscanf(key, "[%d]", &i); err != nil {
		panic("bad index " + key)
	}
	return i
}

// rawMessage replaces the text of the message of kind; drop removes the message.
func rawMessage(kind, text string) regEdit { return func(r *regInput) { r.raw[kind] = text } }
func drop(kind string) regEdit             { return func(r *regInput) { delete(r.messages, kind) } }
func withAssets(names ...string) regEdit   { return func(r *regInput) { r.assets = names } }

// modelRegistration is a small model plugin as the SDK sends it (texts in English only).
const modelRegistration = `{"provider":"acme","label":{"en_US":"Acme"},"description":null,"icon_small":{"en_US":"icon.svg"},"icon_large":null,"background":null,"help":null,"supported_model_types":["llm"],"configurate_methods":["predefined-model"],"models":[{"model":"m2","label":{"en_US":"M2"},"model_type":"llm","features":["vision"],"fetch_from":"predefined-model","model_properties":{"mode":"chat","context_size":4096},"deprecated":false,"parameter_rules":[{"name":"temperature","use_template":"temperature","label":{"en_US":"Temperature"},"type":"float","help":null,"required":false,"default":0.0,"min":0.0,"max":1.0,"precision":2,"options":[]}],"pricing":{"input":"0.001","output":"2e-3","unit":"0.001","currency":"USD"}},{"model":"m1","label":{"en_US":"M1"},"model_type":"llm","features":[],"fetch_from":"predefined-model","model_properties":{},"deprecated":false,"parameter_rules":[],"pricing":null}],"provider_credential_schema":null,"model_credential_schema":null,"position":{"llm":["m1","m2"],"text_embedding":[]},"extra":{"python":{"provider_source":"provider/acme.py","model_sources":["models/llm/llm.py"]}}}`

func (tc regCase) input(t *testing.T) (json.RawMessage, map[string]json.RawMessage, []string) {
	t.Helper()
	base := parseRegistration(t, transcript102)
	r := &regInput{messages: map[string]any{}, raw: map[string]string{}, assets: base.assetNames()}
	decode := func(b []byte) any {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	r.messages["manifest"] = decode(base.manifest)
	r.messages["tool"] = decode(base.providers["tool"])
	if tc.model {
		delete(r.messages, "tool")
		r.messages["model"] = decode([]byte(modelRegistration))
		setAt("manifest", "plugins.tools", []any{})(r)
		setAt("manifest", "plugins.models", []any{"provider/acme.yaml"})(r)
	}
	for _, e := range tc.edits {
		e(r)
	}
	msgs := map[string]json.RawMessage{}
	for kind, v := range r.messages {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs[kind] = b
	}
	for kind, text := range r.raw {
		msgs[kind] = json.RawMessage(text)
	}
	manifest := msgs["manifest"]
	delete(msgs, "manifest")
	return manifest, msgs, r.assets
}

const (
	md  = ManifestDeclaration
	td  = ToolDeclaration
	mdl = ModelDeclaration
)

var regCases = []regCase{
	{name: "transcript", want: nil},
	{name: "model plugin", model: true, want: nil},
	// --- what the reference refuses, as Load does ---
	{name: "author not lowercase", edits: []regEdit{setAt("manifest", "author", "Test")},
		want: []want{install(md, 0, md+".author", `author "Test" is not valid`)}},
	{name: "version too short", edits: []regEdit{setAt("manifest", "version", "1")},
		want: []want{install(md, 0, md+".version", `version "1" is not valid`)}},
	{name: "memory as a string", edits: []regEdit{setAt("manifest", "resource.memory", "1048576")},
		want: []want{install(md, 0, md+".resource.memory", `expected an integer, found the string "1048576"`)}},
	{name: "version as a number", edits: []regEdit{setAt("manifest", "meta.version", 1.5)},
		want: []want{install(md, 0, md+".meta.version", "expected a string, found float 1.5")}},
	{name: "required as yes", edits: []regEdit{setAt("tool", "tools[0].parameters[0].required", "yes")},
		want: []want{install(td, 0, td+".tools[0].parameters[0].required", `expected a boolean, found the string "yes"`)}},
	{name: "created_at not a time", edits: []regEdit{setAt("manifest", "created_at", "yesterday")},
		want: []want{install(md, 0, md+".created_at", "expected a time")}},
	{name: "created_at without a zone", edits: []regEdit{setAt("manifest", "created_at", "2024-01-01T10:00:00")},
		want: []want{strict(md, 0, md+".created_at", `"2024-01-01T10:00:00" is not an RFC 3339 time`)}},
	{name: "min out of range", edits: []regEdit{rawMessage("tool", strings.Replace(string(parseRegistration(&testing.T{}, transcript102).providers["tool"]), `"min":null`, `"min":1e400`, 1))},
		want: []want{install(td, 0, td+".tools[0].parameters[0].min", "expected a number, found float 1e400")}},
	{name: "parameters not a list", edits: []regEdit{setAt("tool", "tools[0].parameters", map[string]any{})},
		want: []want{install(td, 0, td+".tools[0].parameters", "expected a list, found a mapping")}},
	{name: "tool as a file path", edits: []regEdit{setAt("tool", "tools[0]", "tools/echo.yaml")},
		want: []want{install(td, 0, td+".tools[0]", "expected the tool declaration itself"), strict(td, 0, td+".tools", "declares no tools")}},
	{name: "tool declaration is not JSON", edits: []regEdit{rawMessage("tool", `{"identity":`)},
		want: []want{install(td, 0, "", "invalid JSON: unexpected end of input")}},
	{name: "tool declaration has trailing data", edits: []regEdit{rawMessage("tool", `{} {}`)},
		want: []want{install(td, 0, "", "more data after the value")}},
	{name: "tool declaration with a syntax error", edits: []regEdit{rawMessage("tool", `{"identity" 1}`)},
		want: []want{install(td, 0, "", "invalid JSON at byte")}},
	{name: "tool declaration not sent", edits: []regEdit{drop("tool")},
		want: []want{install(md, 0, md+".plugins.tools", "lists tools, but no tool_declaration was sent")}},
	{name: "model declaration not listed", edits: []regEdit{func(r *regInput) { r.raw["model"] = modelRegistration }},
		want: []want{install(mdl, 0, "", "was sent, but manifest_declaration lists no models")}},
	{name: "unknown declaration kind", edits: []regEdit{rawMessage("widget", `{}`)},
		want: []want{install("widget_declaration", 0, "", `unknown declaration kind "widget"`)}},
	{name: "tools and models", model: true, edits: []regEdit{
		setAt("manifest", "plugins.tools", []any{"provider/echo.yaml"}),
		rawMessage("tool", string(parseRegistration(&testing.T{}, transcript102).providers["tool"]))},
		want: []want{install(md, 0, md+".plugins", "declares tools and models")}},
	{name: "manifest not sent", edits: []regEdit{drop("manifest")}, nilPlugin: true,
		want: []want{install(md, 0, "", "was not sent")}},
	{name: "manifest is a list", edits: []regEdit{rawMessage("manifest", `[]`)}, nilPlugin: true,
		want: []want{install(md, 0, md, "manifest must be a mapping of fields, found a list")}},
	{name: "models as globs", model: true, edits: []regEdit{setAt("model", "models", map[string]any{"llm": map[string]any{"predefined": []any{"models/llm/*.yaml"}}})},
		want: []want{install(mdl, 0, mdl+".models", "expected the list of model declarations, found a mapping")}},
	{name: "nested past the JSON limit", edits: []regEdit{rawMessage("tool", strings.Repeat("[", maxJSONDepth+1))},
		want: []want{install(td, 0, "", "values nest deeper than 10000 levels")}},
	// --- strict: what the SDK or Dify need, or a package of the same folder would fail ---
	{name: "unknown parameter type", edits: []regEdit{setAt("tool", "tools[0].parameters[0].type", "strin")},
		want: []want{strict(td, 0, td+".tools[0].parameters[0].type", `unknown parameter type "strin"`)}},
	{name: "duplicate tool", edits: []regEdit{func(r *regInput) {
		tools := step(r.messages["tool"], "tools").([]any)
		setAt("tool", "tools", append(tools, tools[0]))(r)
	}},
		want: []want{advisory(td, 0, td+".tools[1].identity.name", `duplicate tool name "echo" (also declared at tool_declaration.tools[0].identity.name)`)}},
	{name: "duplicate model", model: true, edits: []regEdit{setAt("model", "models[1].model", "m2")},
		want: []want{advisory(mdl, 0, mdl+".models[1].model", `duplicate model "llm m2"`)}},
	{name: "icon not received", edits: []regEdit{setAt("tool", "identity.icon", "gone.svg")},
		want: []want{strict(td, 0, td+".identity.icon", `icon "gone.svg" is not among the files received from _assets/`)}},
	{name: "no assets", edits: []regEdit{withAssets()},
		want: []want{strict(md, 0, md+".icon", `icon "icon.svg" is not among`), strict(td, 0, td+".identity.icon", `icon "icon.svg" is not among`)}},
	{name: "provider path not clean", edits: []regEdit{setAt("manifest", "plugins.tools[0]", "./provider/echo.yaml")},
		want: []want{strict(md, 0, md+".plugins.tools[0]", `write "provider/echo.yaml"`)}},
	{name: "python source not a .py file", edits: []regEdit{setAt("tool", "extra.python.source", "provider/echo")},
		want: []want{strict(td, 0, td+".extra.python.source", "must name a .py file")}},
	{name: "key given twice", edits: []regEdit{func(r *regInput) {
		b, _ := json.Marshal(r.messages["manifest"])
		r.raw["manifest"] = strings.Replace(string(b), `"author":"test"`, `"author":"Bad","author":"test"`, 1)
	}},
		want: []want{strict(md, 0, "", `key "author" is given twice in one object; the last value is used`)}},
	{name: "manifest is null", edits: []regEdit{rawMessage("manifest", `null`)},
		want: []want{strict(md, 0, "", "declaration is null"),
			install(md, 0, md+".version", "is required"), install(md, 0, md+".author", "is not valid"),
			install(md, 0, md+".name", "is not valid"), install(md, 0, md+".plugins", "declares no provider"),
			strict(md, 0, md+".type", "is required"), strict(md, 0, md+".label", "is required"),
			strict(md, 0, md+".description", "is required"), strict(md, 0, md+".icon", "is required"),
			strict(md, 0, md+".resource", "is required"), strict(md, 0, md+".meta", "is required"),
			strict(md, 0, md+".created_at", "is required"), install(td, 0, "", "was sent, but manifest_declaration lists no tools")}},
}

// TestFromRegistrationProblems checks FromRegistration applies Load's checks to what a
// registration sends, with the same split between what refuses the plugin and what warns.
func TestFromRegistrationProblems(t *testing.T) {
	for _, tc := range regCases {
		t.Run(tc.name, func(t *testing.T) {
			manifest, providers, assets := tc.input(t)
			p, got := FromRegistration(manifest, providers, assets)
			if (p == nil) != tc.nilPlugin {
				t.Errorf("plugin nil = %v, want %v", p == nil, tc.nilPlugin)
			}
			unmatched := slices.Clone(got)
			var missing []want
			for _, w := range tc.want {
				i := slices.IndexFunc(unmatched, w.matches)
				if i < 0 {
					missing = append(missing, w)
					continue
				}
				unmatched = slices.Delete(unmatched, i, i+1)
			}
			if len(missing) > 0 || len(unmatched) > 0 {
				t.Errorf("missing: %v\nunexpected: %v\nall problems:\n%v", missing, unmatched, got.Err())
			}
			if p != nil {
				if _, err := json.Marshal(p); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A model registration is ordered by its position lists and keeps only the lists that order
// something, as Load serves a package.
func TestFromRegistrationModel(t *testing.T) {
	manifest, providers, assets := regCase{model: true}.input(t)
	p, probs := FromRegistration(manifest, providers, assets)
	if p == nil || len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	m := p.Model
	if m == nil || len(m.Models) != 2 || m.Models[0].Model != "m1" || m.Models[1].Model != "m2" {
		t.Fatalf("models not in position order: %+v", m)
	}
	if m.Position == nil || m.Position.LLM == nil || !slices.Equal(*m.Position.LLM, []string{"m1", "m2"}) || m.Position.TextEmbedding != nil {
		t.Errorf("position %+v", m.Position)
	}
	if pr := m.Models[1].Pricing; pr == nil || pr.Output == nil || *pr.Output != "0.002" || pr.Input != "0.001" {
		t.Errorf("pricing %+v", pr)
	}
	if m.ProviderSource != "provider/acme.py" || !slices.Equal(m.ModelSources, []string{"models/llm/llm.py"}) {
		t.Errorf("sources %q %v", m.ProviderSource, m.ModelSources)
	}
	if d := m.Description; d == nil || d.EnUS != "Echo plugin" {
		t.Errorf("description not filled from the manifest: %+v", d)
	}
}
