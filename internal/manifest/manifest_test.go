package manifest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// edit changes one file of an example plugin.
type edit func(fstest.MapFS)

// rep replaces the first occurrence of old in file, which must be there.
func rep(file, old, new string) edit {
	return func(fs fstest.MapFS) {
		f, ok := fs[file]
		if !ok || !strings.Contains(string(f.Data), old) {
			panic(fmt.Sprintf("%s does not contain %q", file, old))
		}
		fs[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
	}
}

// set writes a whole file.
func set(file, content string) edit {
	return func(fs fstest.MapFS) { fs[file] = &fstest.MapFile{Data: []byte(content)} }
}

func del(file string) edit { return func(fs fstest.MapFS) { delete(fs, file) } }

func merge(other fstest.MapFS) edit { return func(fs fstest.MapFS) { maps.Copy(fs, other) } }

// plugins replaces the plugins block of the manifest (lines 31 on).
func plugins(block string) edit {
	return func(fs fstest.MapFS) {
		fs["manifest.yaml"] = &fstest.MapFile{Data: []byte(manifestHead + block)}
	}
}

// want is an expected problem; msg is a substring of its message.
type want struct {
	file     string
	line     int
	field    string
	msg      string
	strict   bool
	advisory bool // only a warning in the developer kit (Problem.Advisory)
}

func install(file string, line int, field, msg string) want {
	return want{file, line, field, msg, false, false}
}
func strict(file string, line int, field, msg string) want {
	return want{file, line, field, msg, true, false}
}
func advisory(file string, line int, field, msg string) want {
	return want{file, line, field, msg, true, true}
}

func (w want) matches(p Problem) bool {
	return p.File == w.file && p.Line == w.line && p.Field == w.field && p.Strict == w.strict && p.Advisory == w.advisory && strings.Contains(p.Message, w.msg)
}

func (w want) String() string {
	kind := "install"
	if w.strict {
		kind = "strict"
	}
	return fmt.Sprintf("%s:%d: %s: …%s… (%s)", w.file, w.line, w.field, w.msg, kind)
}

const (
	mf   = "manifest.yaml"
	tp   = "provider/demo.yaml"
	tool = "tools/echo.yaml"
	mp   = "provider/acme.yaml"
	llm  = "models/llm/acme-large.yaml"
	eg   = "group/demo.yaml"
	ep   = "endpoints/hello.yaml"
	ap   = "provider/agent.yaml"
	st   = "strategies/react.yaml"
	trp  = "provider/hook.yaml"
	ev   = "events/push.yaml"
	dp   = "provider/crawler.yaml"
	ds   = "datasources/crawl.yaml"
)

type invalidCase struct {
	name  string
	base  func() fstest.MapFS
	edits []edit
	want  []want
	// nilPlugin: manifest.yaml itself is unusable.
	nilPlugin bool
}

var invalidCases = []invalidCase{
	// --- A. checks the reference daemon makes at install ---
	{name: "author not lowercase", base: toolPlugin, edits: []edit{rep(mf, "author: acme", "author: Acme")},
		want: []want{install(mf, 3, "author", `author "Acme" is not valid`)}},
	{name: "author missing", base: toolPlugin, edits: []edit{rep(mf, "author: acme\n", "")},
		want: []want{install(mf, 1, "author", `author "" is not valid`)}},
	{name: "author is a UUID", base: toolPlugin, edits: []edit{rep(mf, "author: acme", "author: 0d2a6c3e-1b7e-4c59-9d7a-2f4e8c1b3a5d")},
		want: []want{install(mf, 3, "author", "is a UUID")}},
	{name: "name with a space", base: toolPlugin, edits: []edit{rep(mf, "name: demo", `name: "my demo"`)},
		want: []want{install(mf, 4, "name", `name "my demo" is not valid`)}},
	{name: "name too long", base: toolPlugin, edits: []edit{rep(mf, "name: demo", "name: "+strings.Repeat("a", 129))},
		want: []want{install(mf, 4, "name", "1 to 128 characters")}},
	{name: "no provider at all", base: toolPlugin, edits: []edit{plugins("  {}\n")},
		want: []want{install(mf, 31, "plugins", "declares no provider")}},
	{name: "tools and models", base: toolPlugin, edits: []edit{merge(modelPlugin()),
		plugins("  tools:\n    - provider/demo.yaml\n  models:\n    - provider/acme.yaml\n")},
		want: []want{install(mf, 31, "plugins", "declares tools and models; only tools and endpoints can be combined")}},
	{name: "agent strategy and endpoints", base: agentPlugin, edits: []edit{merge(endpointPlugin()),
		plugins("  agent_strategies:\n    - provider/agent.yaml\n  endpoints:\n    - group/demo.yaml\n")},
		want: []want{install(mf, 31, "plugins", "declares endpoints and agent_strategies")}},
	{name: "datasource and tools", base: datasourcePlugin, edits: []edit{merge(toolPlugin()),
		plugins("  datasources:\n    - provider/crawler.yaml\n  tools:\n    - provider/demo.yaml\n")},
		want: []want{install(mf, 31, "plugins", "declares tools and datasources")}},
	{name: "trigger and endpoints", base: triggerPlugin, edits: []edit{merge(endpointPlugin()),
		plugins("  triggers:\n    - provider/hook.yaml\n  endpoints:\n    - group/demo.yaml\n")},
		want: []want{install(mf, 31, "plugins", "declares endpoints and triggers")}},
	{name: "missing provider file", base: toolPlugin, edits: []edit{rep(mf, "provider/demo.yaml", "provider/x.yaml")},
		want: []want{install(mf, 32, "plugins.tools[0]", `file "provider/x.yaml" does not exist`)}},
	{name: "provider file outside the plugin", base: toolPlugin, edits: []edit{rep(mf, "provider/demo.yaml", "../x.yaml")},
		want: []want{install(mf, 32, "plugins.tools[0]", `file path "../x.yaml" points outside the plugin`)}},
	{name: "absolute provider file", base: toolPlugin, edits: []edit{rep(mf, "provider/demo.yaml", "/etc/passwd")},
		want: []want{install(mf, 32, "plugins.tools[0]", "is absolute")}},
	{name: "provider file not in clean form", base: toolPlugin, edits: []edit{rep(mf, "provider/demo.yaml", "./provider/demo.yaml")},
		want: []want{install(mf, 32, "plugins.tools[0]", `write "provider/demo.yaml"`)}},
	{name: "provider path is a directory", base: toolPlugin, edits: []edit{rep(mf, "provider/demo.yaml", "provider")},
		want: []want{install(mf, 32, "plugins.tools[0]", "is a directory")}},
	{name: "missing tool file", base: toolPlugin, edits: []edit{rep(tp, "tools/echo.yaml", "tools/gone.yaml")},
		want: []want{install(tp, 16, "tools[0]", `file "tools/gone.yaml" does not exist`)}},
	{name: "tool file is not YAML", base: toolPlugin, edits: []edit{rep(tool, "  llm: Echoes", "  llm: [Echoes")},
		want: []want{install(tool, 9, "", "invalid YAML: did not find expected ',' or ']'")}},
	{name: "tool file is a list", base: toolPlugin, edits: []edit{set(tool, "- a\n- b\n")},
		want: []want{install(tool, 1, "", "expected a mapping of fields, found a list")}},
	{name: "boolean that is not", base: toolPlugin, edits: []edit{rep(tool, "required: true", "required: maybe")},
		want: []want{install(tool, 14, "parameters[0].required", `expected a boolean, found the string "maybe"`)}},
	{name: "label that is a string", base: toolPlugin, edits: []edit{rep(tool, "  label:\n    en_US: Echo\n", "  label: Echo\n")},
		want: []want{install(tool, 4, "identity.label", `expected a mapping, found the string "Echo"`)}},
	{name: "duplicate key", base: toolPlugin, edits: []edit{rep(tool, "    form: llm\n", "    form: llm\n    form: form\n")},
		want: []want{install(tool, 14, "parameters[0].form", `duplicate key "form" (first defined at line 13)`)}},
	{name: "duplicate key the daemon ignores", base: toolPlugin, edits: []edit{rep(tool, "    source: tools/echo.py\n", "    source: tools/echo.py\n    source: tools/echo.py\n")},
		want: []want{strict(tool, 35, "extra.python.source", "duplicate key")}},
	{name: "version not a version", base: toolPlugin, edits: []edit{rep(mf, "version: 0.0.1", "version: latest")},
		want: []want{install(mf, 1, "version", `version "latest" is not valid`)}},
	{name: "created_at not a time", base: toolPlugin, edits: []edit{rep(mf, "2024-09-20T08:03:44Z", "yesterday")},
		want: []want{install(mf, 10, "created_at", `expected a time, e.g. 2024-09-20T08:03:44Z, found the string "yesterday"`)}},
	{name: "huge memory", base: toolPlugin, edits: []edit{rep(mf, "memory: 268435456", "memory: 99999999999999999999999")},
		want: []want{install(mf, 12, "resource.memory", "expected an integer")}},
	{name: "arch not a list", base: toolPlugin, edits: []edit{rep(mf, "  arch:\n    - amd64\n    - arm64\n", "  arch: amd64\n\n\n")},
		want: []want{install(mf, 21, "meta.arch", `expected a list, found the string "amd64"`)}},
	{name: "unknown use_template", base: modelPlugin, edits: []edit{rep(llm, "use_template: temperature", "use_template: warmth")},
		want: []want{install(llm, 13, "parameter_rules[0].use_template", `unknown use_template "warmth"; expected one of frequency_penalty`)}},
	{name: "malformed model glob", base: modelPlugin, edits: []edit{rep(mp, `"models/rerank/*.yaml"`, `"models/rerank/[.yaml"`)},
		want: []want{install(mp, 50, "models.rerank.predefined[0]", "is malformed")}},
	{name: "missing position file", base: modelPlugin, edits: []edit{del("models/llm/_position.yaml")},
		want: []want{install(mp, 44, "models.llm.position", `file "models/llm/_position.yaml" does not exist`)}},
	{name: "position file not a list", base: modelPlugin, edits: []edit{set("models/llm/_position.yaml", "acme-tiny: 1\n")},
		want: []want{install("models/llm/_position.yaml", 1, "", "must be a list of model names")}},
	{name: "model file of the wrong shape", base: modelPlugin, edits: []edit{rep(llm, "model_properties:\n  mode: chat\n  context_size: 128000\n", "model_properties: [chat]\n\n\n")},
		want: []want{install(llm, 8, "model_properties", "expected a mapping, found a list")}},
	{name: "settings as a mapping", base: endpointPlugin, edits: []edit{set(eg,
		"settings:\n  api_key:\n    type: secret-input\n    label:\n      en_US: Key\nendpoints:\n  - endpoints/hello.yaml\n")},
		want: []want{install(eg, 2, "settings", "expected a list, found a mapping")}},
	{name: "missing event file", base: triggerPlugin, edits: []edit{rep(trp, "events/push.yaml", "events/pull.yaml")},
		want: []want{install(trp, 32, "events[0]", `file "events/pull.yaml" does not exist`)}},
	{name: "trigger credential that is not a mapping", base: triggerPlugin, edits: []edit{rep(trp,
		"  webhook_secret:\n    type: secret-input\n    label:\n      en_US: Secret\n", "  webhook_secret: yes\n\n\n\n")},
		want: []want{install(trp, 10, "subscription_schema.webhook_secret", "must be a mapping of its properties")}},

	// --- B. checks of the reference packager (strict: the daemon does not make them) ---
	{name: "three-part version", base: toolPlugin, edits: []edit{rep(mf, "version: 0.0.1", "version: 1.0")},
		want: []want{strict(mf, 1, "version", `version "1.0" is not valid`)}},
	{name: "meta version", base: toolPlugin, edits: []edit{rep(mf, "  version: 0.0.1", "  version: 1")},
		want: []want{strict(mf, 20, "meta.version", `version "1" is not valid`)}},
	{name: "type bundle", base: toolPlugin, edits: []edit{rep(mf, "type: plugin", "type: bundle")},
		want: []want{strict(mf, 2, "type", `must be "plugin", found "bundle"`)}},
	{name: "label without en_US", base: toolPlugin, edits: []edit{rep(mf, "  en_US: Demo", "  zh_Hans: Demo")},
		want: []want{strict(mf, 6, "label.en_US", "en_US is required")}},
	{name: "description missing", base: toolPlugin, edits: []edit{rep(mf, "description:\n  en_US: A demo plugin\n", "")},
		want: []want{strict(mf, 1, "description", "is required")}},
	{name: "label too long", base: toolPlugin, edits: []edit{rep(mf, "  en_US: Demo", "  en_US: "+strings.Repeat("é", 1024))},
		want: []want{strict(mf, 6, "label.en_US", "is 1024 characters; it must be shorter than 1024")}},
	{name: "icon missing", base: toolPlugin, edits: []edit{rep(mf, "icon: icon.svg\n", "")},
		want: []want{strict(mf, 1, "icon", "is required")}},
	{name: "icon not in _assets", base: toolPlugin, edits: []edit{rep(mf, "icon: icon.svg", "icon: nope.svg")},
		want: []want{strict(mf, 9, "icon", `icon "nope.svg" not found in _assets/`)}},
	{name: "dark icon not in _assets", base: toolPlugin, edits: []edit{rep(mf, "icon: icon.svg", "icon: icon.svg\nicon_dark: dark.svg")},
		want: []want{strict(mf, 10, "icon_dark", `icon "dark.svg" not found`)}},
	{name: "memory zero", base: toolPlugin, edits: []edit{rep(mf, "memory: 268435456", "memory: 0")},
		want: []want{strict(mf, 12, "resource.memory", "greater than 0")}},
	{name: "unknown arch", base: toolPlugin, edits: []edit{rep(mf, "- arm64", "- x86")},
		want: []want{strict(mf, 23, "meta.arch[1]", `unknown arch "x86"; expected one of amd64, arm64`)}},
	{name: "runner language go", base: toolPlugin, edits: []edit{rep(mf, "language: python", "language: go")},
		want: []want{strict(mf, 25, "meta.runner.language", `unknown runner language "go"; expected one of python`)}},
	{name: "runner version missing", base: toolPlugin, edits: []edit{rep(mf, "    version: \"3.12\"\n", "")},
		want: []want{strict(mf, 25, "meta.runner.version", "is required")}},
	{name: "entry point missing", base: toolPlugin, edits: []edit{rep(mf, "entrypoint: main", "entrypoint: app")},
		want: []want{strict(mf, 27, "meta.runner.entrypoint", `entry point "app.py" does not exist`)}},
	{name: "created_at missing", base: toolPlugin, edits: []edit{rep(mf, "created_at: 2024-09-20T08:03:44Z\n", "")},
		want: []want{strict(mf, 1, "created_at", "is required")}},
	{name: "created_at without time", base: toolPlugin, edits: []edit{rep(mf, "2024-09-20T08:03:44Z", "2024-09-20")},
		want: []want{strict(mf, 10, "created_at", `"2024-09-20" is not an RFC 3339 time`)}},
	{name: "unknown tag", base: toolPlugin, edits: []edit{rep(mf, "- utilities", "- gadgets")},
		want: []want{strict(mf, 29, "tags[0]", `unknown tag "gadgets"; expected one of search, image`)}},
	{name: "storage too small", base: toolPlugin, edits: []edit{rep(mf, "size: 1048576", "size: 10")},
		want: []want{strict(mf, 18, "resource.permission.storage.size", "storage size 10 is out of range")}},
	{name: "unknown permission", base: toolPlugin, edits: []edit{rep(mf, "    tool:\n", "    tools:\n")},
		want: []want{advisory(mf, 15, "resource.permission.tools", `unknown permission "tools"`)}},
	{name: "repo not a URL", base: toolPlugin, edits: []edit{rep(mf, "tags:", "repo: acme/demo\ntags:")},
		want: []want{strict(mf, 28, "repo", `"acme/demo" is not a URL`)}},
	{name: "minimum dify version", base: toolPlugin, edits: []edit{rep(mf, "    entrypoint: main\n", "    entrypoint: main\n  minimum_dify_version: 1.x\n")},
		want: []want{advisory(mf, 28, "meta.minimum_dify_version", `version "1.x" is not valid`)}},
	{name: "tool provider icon not in _assets", base: toolPlugin, edits: []edit{rep(tp, "icon: icon.svg", "icon: tool.svg")},
		want: []want{strict(tp, 6, "identity.icon", `icon "tool.svg" not found in _assets/`)}},
	{name: "model icon not in _assets", base: modelPlugin, edits: []edit{rep(mp, "en_US: small.svg", "en_US: s.svg")},
		want: []want{strict(mp, 5, "icon_small.en_US", `icon "s.svg" not found`)}},

	// --- C. beyond the reference: the YAML the SDK and Dify rely on ---
	{name: "unknown tool parameter type", base: toolPlugin, edits: []edit{rep(tool, "type: string", "type: foo")},
		want: []want{strict(tool, 12, "parameters[0].type", `unknown parameter type "foo"; expected one of string, number, boolean`)}},
	{name: "unknown form", base: toolPlugin, edits: []edit{rep(tool, "form: llm", "form: bogus")},
		want: []want{strict(tool, 13, "parameters[0].form", `unknown parameter form "bogus"; expected one of schema, form, llm`)}},
	{name: "form missing", base: toolPlugin, edits: []edit{rep(tool, "    form: llm\n", "")},
		want: []want{strict(tool, 11, "parameters[0].form", "is required")}},
	{name: "select without options", base: toolPlugin, edits: []edit{rep(tool, "    options:\n      - value: plain\n        label:\n          en_US: Plain\n", "")},
		want: []want{advisory(tool, 19, "parameters[1].options", "a select parameter needs options")}},
	{name: "multiple on a string", base: toolPlugin, edits: []edit{rep(tool, "    required: true\n", "    required: true\n    multiple: true\n")},
		want: []want{strict(tool, 15, "parameters[0].multiple", "only valid for select and dynamic-select")}},
	{name: "list default without multiple", base: toolPlugin, edits: []edit{rep(tool, "    form: form\n", "    form: form\n    default: [plain]\n")},
		want: []want{strict(tool, 22, "parameters[1].default", "must not be a list unless multiple")}},
	{name: "duplicate parameter", base: toolPlugin, edits: []edit{rep(tool, "name: mode", "name: text")},
		want: []want{advisory(tool, 19, "parameters[1].name", `duplicate parameter name "text" (also declared at parameters[0].name)`)}},
	{name: "duplicate tool", base: toolPlugin, edits: []edit{set("tools/echo2.yaml", toolYAML),
		rep(tp, "  - tools/echo.yaml\n", "  - tools/echo.yaml\n  - tools/echo2.yaml\n")},
		want: []want{advisory("tools/echo2.yaml", 2, "identity.name", `duplicate tool name "echo"`)}},
	{name: "tool name with a space", base: toolPlugin, edits: []edit{rep(tool, "name: echo", `name: "echo it"`)},
		want: []want{strict(tool, 2, "identity.name", "may contain only letters, digits, _ and -")}},
	{name: "tool author missing", base: toolPlugin, edits: []edit{rep(tool, "  author: acme\n", "")},
		want: []want{strict(tool, 2, "identity.author", "is required")}},
	{name: "tool description missing", base: toolPlugin, edits: []edit{rep(tool, "  llm: Echoes the text it is given\n", "")},
		want: []want{strict(tool, 7, "description.llm", "is required")}},
	{name: "python source missing", base: toolPlugin, edits: []edit{rep(tool, "extra:\n  python:\n    source: tools/echo.py\n", "")},
		want: []want{strict(tool, 1, "extra.python.source", "is required")}},
	{name: "python source file missing", base: toolPlugin, edits: []edit{del("tools/echo.py")},
		want: []want{strict(tool, 34, "extra.python.source", `Python source "tools/echo.py" does not exist`)}},
	{name: "python source not python", base: toolPlugin, edits: []edit{rep(tool, "source: tools/echo.py", "source: tools/echo.yaml")},
		want: []want{strict(tool, 34, "extra.python.source", "must name a .py file")}},
	{name: "unknown credential type", base: toolPlugin, edits: []edit{rep(tp, "type: secret-input", "type: password")},
		want: []want{strict(tp, 11, "credentials_for_provider.api_key.type", `unknown credential type "password"; expected one of secret-input, text-input`)}},
	{name: "duplicate credential", base: datasourcePlugin, edits: []edit{rep(dp, "datasources:", "  - name: api_key\n    type: text-input\n    label:\n      en_US: Key\ndatasources:")},
		want: []want{advisory(dp, 16, "credentials_schema[1].name", `duplicate credential name "api_key"`)}},
	{name: "credential that is not a mapping", base: toolPlugin, edits: []edit{rep(tp,
		"  api_key:\n    type: secret-input\n    required: true\n    label:\n      en_US: API key\n", "  api_key: secret\n\n\n\n\n")},
		want: []want{strict(tp, 10, "credentials_for_provider.api_key", "must be a mapping of its properties")}},
	{name: "inline tool", base: toolPlugin, edits: []edit{rep(tp, "  - tools/echo.yaml\n", "  - tools/echo.yaml\n  - {identity: {name: inline, author: a, label: {en_US: I}}, description: {human: {en_US: d}, llm: d}, extra: {python: {source: tools/echo.py}}}\n")},
		want: []want{strict(tp, 17, "tools[1]", "inline tool declarations are not loaded by the Python SDK")}},
	{name: "two tool providers", base: toolPlugin, edits: []edit{set("provider/other.yaml", strings.Replace(toolProviderYAML, "name: demo", "name: other", 1)),
		plugins("  tools:\n    - provider/demo.yaml\n    - provider/other.yaml\n")},
		want: []want{strict(mf, 32, "plugins.tools", "lists 2 files; a plugin has one tool provider")}},
	{name: "empty tool file", base: toolPlugin, edits: []edit{set(tool, "")},
		want: []want{strict(tool, 0, "", "file is empty")}},
	{name: "two YAML documents", base: toolPlugin, edits: []edit{set(tool, toolYAML+"---\nmore: true\n")},
		want: []want{strict(tool, 35, "", "more than one YAML document")}},
	{name: "README missing", base: toolPlugin, edits: []edit{del("README.md")},
		want: []want{advisory("README.md", 0, "", "README.md does not exist")}},
	{name: "no requirements", base: toolPlugin, edits: []edit{del("requirements.txt")},
		want: []want{strict(mf, 25, "meta.runner.language", "neither requirements.txt nor pyproject.toml")}},
	{name: "model selector scope", base: endpointPlugin, edits: []edit{rep(eg, "scope: llm", "scope: chat")},
		want: []want{strict(eg, 9, "settings[1].scope", `unknown model-selector scope "chat"`)}},

	{name: "unknown model type", base: modelPlugin, edits: []edit{rep(llm, "model_type: llm", "model_type: chat")},
		want: []want{strict(llm, 4, "model_type", `unknown model type "chat"; expected one of llm, text-embedding`)}},
	{name: "unknown supported model type", base: modelPlugin, edits: []edit{rep(mp, "  - tts\n", "  - voice\n")},
		want: []want{strict(mp, 10, "supported_model_types[3]", `unknown model type "voice"`)}},
	{name: "configurate methods missing", base: modelPlugin, edits: []edit{rep(mp, "configurate_methods:\n  - predefined-model\n  - customizable-model\n", "")},
		want: []want{strict(mp, 1, "configurate_methods", "is required")}},
	{name: "unknown credential form type", base: modelPlugin, edits: []edit{rep(mp, "type: text-input", "type: dropdown")},
		want: []want{strict(mp, 39, "model_credential_schema.credential_form_schemas[0].type", `unknown credential form type "dropdown"; expected one of text-input, secret-input, select, radio, switch`)}},
	{name: "parameter rule without type", base: modelPlugin, edits: []edit{rep(llm, "    type: int\n", "")},
		want: []want{strict(llm, 17, "parameter_rules[2].type", "is required when use_template is not set")}},
	{name: "unknown model feature", base: modelPlugin, edits: []edit{rep(llm, "- vision", "- telepathy")},
		want: []want{strict(llm, 7, "features[1]", `unknown model feature "telepathy"`)}},
	{name: "duplicate model", base: modelPlugin, edits: []edit{set("models/llm/copy.yaml", llmYAML)},
		want: []want{strict("models/llm/copy.yaml", 0, "", `duplicate llm model "acme-large" (also declared in models/llm/acme-large.yaml)`)}},
	{name: "file matched by two globs", base: modelPlugin, edits: []edit{
		rep(mp, "      - \"models/llm/*.yaml\"\n", "      - \"models/llm/*.yaml\"\n      - \"models/llm/acme-l*.yaml\"\n"),
		rep(llm, "- vision", "- telepathy")},
		want: []want{strict(llm, 0, "", `duplicate llm model "acme-large" (also declared in models/llm/acme-large.yaml)`),
			strict(llm, 7, "features[1]", `unknown model feature "telepathy"`)}},
	{name: "unknown models key", base: modelPlugin, edits: []edit{rep(mp, "  moderation:\n", "  text2img:\n")},
		want: []want{strict(mp, 58, "models.text2img", `unknown model type key "text2img"`)}},
	{name: "glob matching nothing", base: modelPlugin, edits: []edit{rep(mp, "models/tts/*.yaml", "models/voice/*.yaml")},
		want: []want{strict(mp, 53, "models.tts.predefined[0]", `glob "models/voice/*.yaml" matches no file`)}},
	{name: "model source missing", base: modelPlugin, edits: []edit{del("models/llm/llm.py")},
		want: []want{strict(mp, 64, "extra.python.model_sources[0]", `Python source "models/llm/llm.py" does not exist`)}},
	{name: "provider source missing", base: modelPlugin, edits: []edit{rep(mp, "    provider_source: provider/acme.py\n", "")},
		want: []want{strict(mp, 62, "extra.python.provider_source", "is required")}},
	{name: "bad price", base: modelPlugin, edits: []edit{rep(llm, `input: "0.0010"`, "input: cheap")},
		want: []want{install(llm, 22, "pricing.input", `expected a decimal number, found the string "cheap"`)}},

	{name: "unknown HTTP method", base: endpointPlugin, edits: []edit{rep(ep, "method: GET", "method: FETCH")},
		want: []want{strict(ep, 2, "method", `unknown HTTP method "FETCH"; expected one of HEAD, GET, POST, PUT, DELETE, OPTIONS`)}},
	{name: "endpoint path missing", base: endpointPlugin, edits: []edit{rep(ep, "path: \"/hello/<name>\"\n", "")},
		want: []want{strict(ep, 1, "path", "is required")}},
	{name: "endpoint source missing", base: endpointPlugin, edits: []edit{del("endpoints/hello.py")},
		want: []want{strict(ep, 5, "extra.python.source", "does not exist")}},
	{name: "duplicate route", base: endpointPlugin, edits: []edit{set("endpoints/again.yaml", endpointYAML),
		rep(eg, "  - endpoints/hello.yaml\n", "  - endpoints/hello.yaml\n  - endpoints/again.yaml\n")},
		want: []want{advisory("endpoints/again.yaml", 1, "path", `duplicate route "GET /hello/<name>"`)}},

	{name: "unknown agent parameter type", base: agentPlugin, edits: []edit{rep(st, "type: array[tools]", "type: tool-list")},
		want: []want{strict(st, 18, "parameters[1].type", `unknown parameter type "tool-list"; expected one of string, number, boolean, select, secret-input, file, files, app-selector, model-selector, array[tools], any`)}},
	{name: "unknown agent feature", base: agentPlugin, edits: []edit{rep(st, "- history-messages", "- memory")},
		want: []want{strict(st, 9, "features[0]", `unknown agent strategy feature "memory"`)}},
	{name: "strategy name missing", base: agentPlugin, edits: []edit{rep(st, "  name: react\n", "")},
		want: []want{strict(st, 2, "identity.name", "is required")}},
	{name: "unknown any scope", base: agentPlugin, edits: []edit{rep(st, "scope: array[object]", "scope: array[thing]")},
		want: []want{strict(st, 23, "parameters[2].scope", `unknown any scope "array[thing]"`)}},

	{name: "unknown event parameter type", base: triggerPlugin, edits: []edit{rep(ev, "type: string", "type: secret-input")},
		want: []want{strict(ev, 10, "parameters[0].type", `unknown parameter type "secret-input"; expected one of string, number, boolean, select, file, files, model-selector`)}},
	{name: "event description missing", base: triggerPlugin, edits: []edit{rep(ev, "description:\n  en_US: Code was pushed\n", "")},
		want: []want{strict(ev, 1, "description", "is required")}},
	{name: "trigger icon missing", base: triggerPlugin, edits: []edit{rep(trp, "  icon: icon.svg\n", "")},
		want: []want{strict(trp, 2, "identity.icon", "is required")}},

	{name: "unknown provider_type", base: datasourcePlugin, edits: []edit{rep(dp, "provider_type: website_crawl", "provider_type: crawler")},
		want: []want{strict(dp, 9, "provider_type", `unknown provider_type "crawler"; expected one of website_crawl, online_document, online_drive`)}},
	{name: "unknown datasource parameter type", base: datasourcePlugin, edits: []edit{rep(ds, "type: string", "type: file")},
		want: []want{strict(ds, 10, "parameters[0].type", `unknown parameter type "file"; expected one of string, number, boolean, select, secret-input`)}},
	{name: "datasource parameter description missing", base: datasourcePlugin, edits: []edit{rep(ds, "    description:\n      en_US: Where to start\n", "")},
		want: []want{strict(ds, 9, "parameters[0].description", "is required")}},

	// --- bad input ---
	{name: "manifest missing", base: toolPlugin, edits: []edit{del(mf)}, nilPlugin: true,
		want: []want{install(mf, 0, "", `file "manifest.yaml" does not exist`)}},
	{name: "manifest not a mapping", base: toolPlugin, edits: []edit{set(mf, "just text\n")}, nilPlugin: true,
		want: []want{install(mf, 1, "", `manifest must be a mapping of fields, found the string "just text"`)}},
	{name: "manifest not UTF-8", base: toolPlugin, edits: []edit{rep(mf, "Demo", "D\xffmo")}, nilPlugin: true,
		want: []want{install(mf, 6, "", "not valid UTF-8")}},
	// The reference ignores unknown keys, so aliases there are harmless to it; an alias bomb is
	// an attack on the parser all the same, refused at install (issue 16).
	{name: "billion laughs under an unknown key", base: toolPlugin, edits: []edit{set(tool, toolYAML+laughs(9))},
		want: []want{install(tool, 0, "", "document expands to more than 1000000 nodes")}},
	{name: "billion laughs in output_schema", base: toolPlugin, edits: []edit{set(tool, toolYAML+laughs(9)+strings.Replace(toolYAML, "  type: object\n", "  type: object\n  x: *a9\n", 1))},
		want: []want{install(tool, 0, "", "document expands to more than 1000000 nodes")}},
	{name: "deep nesting", base: toolPlugin, edits: []edit{set(tool, toolYAML+"deep: "+strings.Repeat("[", 200)+strings.Repeat("]", 200)+"\n")},
		want: []want{install(tool, 35, "", "nesting deeper than 100 levels")}},
	{name: "file too large", base: toolPlugin, edits: []edit{set(tool, toolYAML+"# "+strings.Repeat("x", maxYAMLFileSize)+"\n")},
		want: []want{install(tp, 16, "tools[0]", "declaration files are limited to 1048576 bytes")}},
}

// laughs is the classic exponential-alias document: 10^depth nodes from a few lines.
func laughs(depth int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

func (tc invalidCase) fs() fstest.MapFS {
	fs := tc.base()
	for _, e := range tc.edits {
		e(fs)
	}
	return fs
}

func TestInvalidDeclarations(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			p, got := Load(tc.fs())
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
		})
	}
}

// Like the reference, Load fills an empty provider description and tags from the manifest,
// though the SDK needs the description (a strict problem).
func TestDefaultsFromManifest(t *testing.T) {
	fs := toolPlugin()
	rep(tp, "  description:\n    en_US: Demo tools\n", "")(fs)
	p, probs := Load(fs)
	if len(probs) != 1 || probs[0].Field != "identity.description" || !probs[0].Strict {
		t.Errorf("problems: %v", probs)
	}
	if id := p.Tool.Identity; id.Description.EnUS != "A demo plugin" || !slices.Equal(id.Tags, []string{"utilities"}) {
		t.Errorf("identity: %+v", id)
	}
}

// Icons are served by the daemon: one whose path leaves _assets/ is a problem and is never
// listed.
func TestAssetFilesStayInAssets(t *testing.T) {
	fs := toolPlugin()
	rep(mf, "icon: icon.svg", "icon: ../manifest.yaml\nicon_dark: sub/dark.svg")(fs)
	fs["_assets/sub/dark.svg"] = &fstest.MapFile{Data: []byte("<svg/>")}
	p, probs := Load(fs)
	if len(probs) != 1 || probs[0].Strict || !strings.Contains(probs[0].Message, `icon "../manifest.yaml" points outside _assets/`) {
		t.Errorf("problems: %v", probs)
	}
	if got := p.AssetFiles(); !slices.Equal(got, []string{"_assets/icon.svg", "_assets/sub/dark.svg"}) {
		t.Errorf("assets: %v", got)
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	fs := toolPlugin()
	for _, e := range []edit{
		rep(mf, "author: acme", "author: Acme"),
		rep(mf, "type: plugin", "type: bundle"),
		rep(mf, "memory: 268435456", "memory: 0"),
		rep(mf, "- arm64", "- x86"),
		rep(mf, "- utilities", "- gadgets"),
	} {
		e(fs)
	}
	_, probs := Load(fs)
	if len(probs) != 5 {
		t.Fatalf("got %d problems, want 5:\n%v", len(probs), probs.Err())
	}
	if len(probs.Install()) != 1 {
		t.Errorf("install problems: %v", probs.Install())
	}
	for i := 1; i < len(probs); i++ {
		if probs[i-1].Line > probs[i].Line {
			t.Errorf("not sorted by line: %v", probs)
		}
	}
}

func TestProblemsSplit(t *testing.T) {
	ps := Problems{
		{File: "a", Message: "install"},
		{File: "b", Message: "strict", Strict: true},
		{File: "c", Message: "advisory", Strict: true, Advisory: true},
	}
	errs, warnings := ps.Split(false)
	if len(errs) != 2 || errs[0].File != "a" || errs[1].File != "b" || len(warnings) != 1 || warnings[0].File != "c" {
		t.Errorf("Split(false) = %v, %v", errs, warnings)
	}
	errs, warnings = ps.Split(true)
	if len(errs) != 3 || len(warnings) != 0 {
		t.Errorf("Split(true) = %v, %v", errs, warnings)
	}
}
