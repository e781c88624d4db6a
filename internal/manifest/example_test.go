package manifest

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// Valid plugins of every kind, built in memory. The invalid cases in manifest_test.go are
// edits of these, so their line numbers matter: change them only with those cases.

const manifestHead = `version: 0.0.1
type: plugin
author: acme
name: demo
label:
  en_US: Demo
description:
  en_US: A demo plugin
icon: icon.svg
created_at: 2024-09-20T08:03:44Z
resource:
  memory: 268435456
  permission:
    tool:
      enabled: true
    storage:
      enabled: true
      size: 1048576
meta:
  version: 0.0.1
  arch:
    - amd64
    - arm64
  runner:
    language: python
    version: "3.12"
    entrypoint: main
tags:
  - utilities
plugins:
`

// commonFiles are the files every plugin has besides its declarations.
func commonFiles(plugins string) fstest.MapFS {
	return fstest.MapFS{
		"manifest.yaml":     {Data: []byte(manifestHead + plugins)},
		"README.md":         {Data: []byte("# Demo\n")},
		"requirements.txt":  {Data: []byte("dify_plugin>=0.5.0\n")},
		"main.py":           {Data: []byte("from dify_plugin import Plugin\n")},
		"_assets/icon.svg":  {Data: []byte("<svg/>")},
		"_assets/small.svg": {Data: []byte("<svg/>")},
	}
}

func py(fs fstest.MapFS, names ...string) {
	for _, n := range names {
		fs[n] = &fstest.MapFile{Data: []byte("# implementation\n")}
	}
}

const toolProviderYAML = `identity:
  author: acme
  name: demo
  label:
    en_US: Demo
  icon: icon.svg
  description:
    en_US: Demo tools
credentials_for_provider:
  api_key:
    type: secret-input
    required: true
    label:
      en_US: API key
tools:
  - tools/echo.yaml
extra:
  python:
    source: provider/demo.py
`

const toolYAML = `identity:
  name: echo
  author: acme
  label:
    en_US: Echo
description:
  human:
    en_US: Echoes its input
  llm: Echoes the text it is given
parameters:
  - name: text
    type: string
    form: llm
    required: true
    label:
      en_US: Text
    human_description:
      en_US: The text to echo
  - name: mode
    type: select
    form: form
    options:
      - value: plain
        label:
          en_US: Plain
    label:
      en_US: Mode
    human_description:
      en_US: How to echo
output_schema:
  type: object
extra:
  python:
    source: tools/echo.py
`

func toolPlugin() fstest.MapFS {
	fs := commonFiles("  tools:\n    - provider/demo.yaml\n")
	fs["provider/demo.yaml"] = &fstest.MapFile{Data: []byte(toolProviderYAML)}
	fs["tools/echo.yaml"] = &fstest.MapFile{Data: []byte(toolYAML)}
	py(fs, "provider/demo.py", "tools/echo.py")
	return fs
}

const modelProviderYAML = `provider: acme
label:
  en_US: Acme AI
icon_small:
  en_US: small.svg
supported_model_types:
  - llm
  - text-embedding
  - rerank
  - tts
  - speech2text
  - moderation
configurate_methods:
  - predefined-model
  - customizable-model
provider_credential_schema:
  credential_form_schemas:
    - variable: api_key
      label:
        en_US: API key
      type: secret-input
      required: true
    - variable: region
      label:
        en_US: Region
      type: select
      options:
        - value: eu
          label:
            en_US: Europe
model_credential_schema:
  model:
    label:
      en_US: Model name
  credential_form_schemas:
    - variable: endpoint
      label:
        en_US: Endpoint
      type: text-input
models:
  llm:
    predefined:
      - "models/llm/*.yaml"
    position: models/llm/_position.yaml
  text_embedding:
    predefined:
      - "models/text_embedding/*.yaml"
  rerank:
    predefined:
      - "models/rerank/*.yaml"
  tts:
    predefined:
      - "models/tts/*.yaml"
  speech2text:
    predefined:
      - "models/speech2text/*.yaml"
  moderation:
    predefined:
      - "models/moderation/*.yaml"
extra:
  python:
    provider_source: provider/acme.py
    model_sources:
      - models/llm/llm.py
`

const llmYAML = `model: acme-large
label:
  en_US: Acme Large
model_type: llm
features:
  - tool-call
  - vision
model_properties:
  mode: chat
  context_size: 128000
parameter_rules:
  - name: temperature
    use_template: temperature
  - name: max_tokens
    use_template: max_tokens
    max: 8192
  - name: seed
    type: int
    label:
      en_US: Seed
pricing:
  input: "0.0010"
  output: 2e-3
  unit: "0.001"
  currency: USD
`

func modelFile(name, typ string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("model: " + name + "\nmodel_type: " + typ + "\nmodel_properties:\n  context_size: 8192\n")}
}

func modelPlugin() fstest.MapFS {
	fs := commonFiles("  models:\n    - provider/acme.yaml\n")
	fs["provider/acme.yaml"] = &fstest.MapFile{Data: []byte(modelProviderYAML)}
	fs["models/llm/acme-large.yaml"] = &fstest.MapFile{Data: []byte(llmYAML)}
	fs["models/llm/acme-small.yaml"] = modelFile("acme-small", "llm")
	fs["models/llm/acme-tiny.yaml"] = modelFile("acme-tiny", "llm")
	fs["models/llm/_position.yaml"] = &fstest.MapFile{Data: []byte("- acme-tiny\n- acme-large\n")}
	fs["models/text_embedding/embed.yaml"] = modelFile("acme-embed", "text-embedding")
	fs["models/rerank/rerank.yaml"] = modelFile("acme-rerank", "rerank")
	fs["models/tts/tts.yaml"] = modelFile("acme-voice", "tts")
	fs["models/speech2text/stt.yaml"] = modelFile("acme-ears", "speech2text")
	fs["models/moderation/mod.yaml"] = modelFile("acme-guard", "moderation")
	py(fs, "provider/acme.py", "models/llm/llm.py")
	return fs
}

const endpointGroupYAML = `settings:
  - name: api_key
    type: secret-input
    required: true
    label:
      en_US: API key
  - name: model
    type: model-selector
    scope: llm
    label:
      en_US: Model
endpoints:
  - endpoints/hello.yaml
`

const endpointYAML = `path: "/hello/<name>"
method: GET
extra:
  python:
    source: endpoints/hello.py
`

func endpointPlugin() fstest.MapFS {
	fs := commonFiles("  endpoints:\n    - group/demo.yaml\n")
	fs["group/demo.yaml"] = &fstest.MapFile{Data: []byte(endpointGroupYAML)}
	fs["endpoints/hello.yaml"] = &fstest.MapFile{Data: []byte(endpointYAML)}
	py(fs, "endpoints/hello.py")
	return fs
}

const agentProviderYAML = `identity:
  author: acme
  name: agent
  label:
    en_US: Agent
  description:
    en_US: Agent strategies
  icon: icon.svg
strategies:
  - strategies/react.yaml
`

const strategyYAML = `identity:
  name: react
  author: acme
  label:
    en_US: ReAct
description:
  en_US: Reason and act
features:
  - history-messages
parameters:
  - name: model
    type: model-selector
    scope: tool-call&llm
    required: true
    label:
      en_US: Model
  - name: tools
    type: array[tools]
    label:
      en_US: Tools
  - name: context
    type: any
    scope: array[object]
    label:
      en_US: Context
  - name: maximum_iterations
    type: number
    default: 3
    min: 1
    max: 30
    label:
      en_US: Maximum iterations
extra:
  python:
    source: strategies/react.py
`

func agentPlugin() fstest.MapFS {
	fs := commonFiles("  agent_strategies:\n    - provider/agent.yaml\n")
	fs["provider/agent.yaml"] = &fstest.MapFile{Data: []byte(agentProviderYAML)}
	fs["strategies/react.yaml"] = &fstest.MapFile{Data: []byte(strategyYAML)}
	py(fs, "strategies/react.py")
	return fs
}

const triggerProviderYAML = `identity:
  author: acme
  name: hook
  label:
    en_US: Hook
  description:
    en_US: Webhook events
  icon: icon.svg
subscription_schema:
  webhook_secret:
    type: secret-input
    label:
      en_US: Secret
subscription_constructor:
  parameters:
    - name: events
      type: checkbox
      multiple: true
      label:
        en_US: Events
      options:
        - value: push
          label:
            en_US: Push
  credentials_schema:
    access_token:
      type: secret-input
      required: true
      label:
        en_US: Token
events:
  - events/push.yaml
extra:
  python:
    source: provider/hook.py
`

const eventYAML = `identity:
  name: push
  author: acme
  label:
    en_US: Push
description:
  en_US: Code was pushed
parameters:
  - name: branch
    type: string
    label:
      en_US: Branch
output_schema:
  type: object
  properties:
    ref:
      type: string
extra:
  python:
    source: events/push.py
`

func triggerPlugin() fstest.MapFS {
	fs := commonFiles("  triggers:\n    - provider/hook.yaml\n")
	fs["provider/hook.yaml"] = &fstest.MapFile{Data: []byte(triggerProviderYAML)}
	fs["events/push.yaml"] = &fstest.MapFile{Data: []byte(eventYAML)}
	py(fs, "provider/hook.py", "events/push.py")
	return fs
}

const datasourceProviderYAML = `identity:
  author: acme
  name: crawler
  label:
    en_US: Crawler
  description:
    en_US: Crawls websites
  icon: icon.svg
provider_type: website_crawl
credentials_schema:
  - name: api_key
    type: secret-input
    required: true
    label:
      en_US: API key
datasources:
  - datasources/crawl.yaml
extra:
  python:
    source: provider/crawler.py
`

const datasourceYAML = `identity:
  name: crawl
  author: acme
  label:
    en_US: Crawl
description:
  en_US: Crawl a site
parameters:
  - name: url
    type: string
    required: true
    label:
      en_US: URL
    description:
      en_US: Where to start
output_schema:
  type: object
extra:
  python:
    source: datasources/crawl.py
`

func datasourcePlugin() fstest.MapFS {
	fs := commonFiles("  datasources:\n    - provider/crawler.yaml\n")
	fs["provider/crawler.yaml"] = &fstest.MapFile{Data: []byte(datasourceProviderYAML)}
	fs["datasources/crawl.yaml"] = &fstest.MapFile{Data: []byte(datasourceYAML)}
	py(fs, "provider/crawler.py", "datasources/crawl.py")
	return fs
}

// toolEndpointPlugin combines the only two kinds that may be combined.
func toolEndpointPlugin() fstest.MapFS {
	fs := toolPlugin()
	maps.Copy(fs, endpointPlugin())
	fs["manifest.yaml"] = &fstest.MapFile{Data: []byte(manifestHead +
		"  tools:\n    - provider/demo.yaml\n  endpoints:\n    - group/demo.yaml\n")}
	return fs
}

func TestValidExamples(t *testing.T) {
	tests := []struct {
		name     string
		fs       fstest.MapFS
		category string
		check    func(t *testing.T, p *Plugin)
	}{
		{"tool", toolPlugin(), CategoryTool, func(t *testing.T, p *Plugin) {
			tp := p.Tool
			if len(tp.CredentialsSchema) != 1 || tp.CredentialsSchema[0].Name != "api_key" {
				t.Errorf("credentials: %+v", tp.CredentialsSchema)
			}
			if len(tp.Tools) != 1 || len(tp.Tools[0].Parameters) != 2 || tp.Tools[0].Source != "tools/echo.py" {
				t.Errorf("tools: %+v", tp.Tools)
			}
			// Filled from the manifest, as the reference serves it.
			if !slices.Equal(tp.Identity.Tags, []string{"utilities"}) {
				t.Errorf("identity defaults: %+v", tp.Identity)
			}
			if got := p.AssetFiles(); !slices.Equal(got, []string{"_assets/icon.svg"}) {
				t.Errorf("assets: %v", got)
			}
		}},
		{"model", modelPlugin(), CategoryModel, func(t *testing.T, p *Plugin) {
			m := p.Model
			var got []string
			for _, md := range m.Models {
				got = append(got, md.ModelType+"/"+md.Model)
			}
			// llm models ordered by the position file, the unlisted one last.
			want := []string{"llm/acme-tiny", "llm/acme-large", "llm/acme-small", "text-embedding/acme-embed",
				"rerank/acme-rerank", "tts/acme-voice", "speech2text/acme-ears", "moderation/acme-guard"}
			if !slices.Equal(got, want) {
				t.Errorf("models:\n got %v\nwant %v", got, want)
			}
			if m.Position == nil || m.Position.LLM == nil || !slices.Equal(*m.Position.LLM, []string{"acme-tiny", "acme-large"}) {
				t.Errorf("position: %+v", m.Position)
			}
			large := m.Models[1]
			if large.Pricing == nil || large.Pricing.Input != "0.001" || *large.Pricing.Output != "0.002" {
				t.Errorf("pricing: %+v", large.Pricing)
			}
			r := large.ParameterRules
			if len(r) != 3 || *r[0].Type != "float" || *r[1].Max != 8192 || *r[1].Min != 1 || r[2].Label.EnUS != "Seed" {
				t.Errorf("parameter rules: %+v", r)
			}
			if m.Models[0].Label.EnUS != "acme-tiny" || m.Models[0].FetchFrom != "predefined-model" {
				t.Errorf("model defaults: %+v", m.Models[0])
			}
			if m.Description == nil || m.Description.EnUS != "A demo plugin" {
				t.Errorf("description: %+v", m.Description)
			}
			if got := p.AssetFiles(); !slices.Equal(got, []string{"_assets/icon.svg", "_assets/small.svg"}) {
				t.Errorf("assets: %v", got)
			}
		}},
		{"endpoint", endpointPlugin(), CategoryExtension, func(t *testing.T, p *Plugin) {
			e := p.Endpoint
			if len(e.Settings) != 2 || len(e.Endpoints) != 1 || e.Endpoints[0].Method != "GET" || e.Endpoints[0].Path != "/hello/<name>" {
				t.Errorf("endpoint: %+v", e)
			}
		}},
		{"agent strategy", agentPlugin(), CategoryAgentStrategy, func(t *testing.T, p *Plugin) {
			a := p.AgentStrategy
			if len(a.Strategies) != 1 || len(a.Strategies[0].Parameters) != 4 || a.Strategies[0].Parameters[3].Default != 3 {
				t.Errorf("strategies: %+v", a.Strategies)
			}
		}},
		{"trigger", triggerPlugin(), CategoryTrigger, func(t *testing.T, p *Plugin) {
			tr := p.Trigger
			if len(tr.SubscriptionSchema) != 1 || tr.SubscriptionSchema[0].Name != "webhook_secret" {
				t.Errorf("subscription schema: %+v", tr.SubscriptionSchema)
			}
			if c := tr.SubscriptionConstructor; c == nil || len(c.Parameters) != 1 || c.CredentialsSchema[0].Name != "access_token" {
				t.Errorf("constructor: %+v", tr.SubscriptionConstructor)
			}
			if len(tr.Events) != 1 || tr.Events[0].OutputSchema["type"] != "object" {
				t.Errorf("events: %+v", tr.Events)
			}
		}},
		{"datasource", datasourcePlugin(), CategoryDatasource, func(t *testing.T, p *Plugin) {
			d := p.Datasource
			if d.ProviderType != "website_crawl" || len(d.Datasources) != 1 || d.Datasources[0].Parameters[0].Name != "url" {
				t.Errorf("datasource: %+v", d)
			}
		}},
		{"tool and endpoint", toolEndpointPlugin(), CategoryTool, func(t *testing.T, p *Plugin) {
			if p.Tool == nil || p.Endpoint == nil {
				t.Errorf("tool %v endpoint %v", p.Tool != nil, p.Endpoint != nil)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, probs := Load(tt.fs)
			if len(probs) != 0 {
				t.Fatalf("problems:\n%v", probs.Err())
			}
			if p.Category() != tt.category {
				t.Errorf("category %q, want %q", p.Category(), tt.category)
			}
			if p.Identity() != "acme/demo:0.0.1" {
				t.Errorf("identity %q", p.Identity())
			}
			tt.check(t, p)
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("marshal: %v", err)
			}
		})
	}
}

// The JSON field names are the reference daemon's: Dify reads them.
func TestJSONFieldNames(t *testing.T) {
	p, probs := Load(toolPlugin())
	if len(probs) != 0 {
		t.Fatal(probs.Err())
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"version":"0.0.1"`, `"type":"plugin"`, `"author":"acme"`, `"icon_dark":""`,
		`"resource":{"memory":268435456,"permission":{"tool":{"enabled":true},"storage":{"enabled":true,"size":1048576}}}`,
		`"plugins":{"tools":["provider/demo.yaml"],"models":null`, `"meta":{"version":"0.0.1","arch":["amd64","arm64"],"runner":{"language":"python","version":"3.12","entrypoint":"main"},"minimum_dify_version":null}`,
		`"created_at":"2024-09-20T08:03:44Z"`, `"verified":false`, `"tool":{"identity":{`, `"credentials_schema":[{"name":"api_key","type":"secret-input","scope":null,"required":true`,
		`"oauth_schema":null`, `"human_description":{"en_US":"The text to echo"}`, `"has_runtime_parameters":false`, `"output_schema":{"type":"object"}`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s\n%s", key, b)
		}
	}
	for _, absent := range []string{`"model":`, `"endpoint":`, `"privacy"`, `"repo"`, `"extra"`, `"Source"`} {
		if strings.Contains(string(b), absent) {
			t.Errorf("JSON has %s", absent)
		}
	}
}
