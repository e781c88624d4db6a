package manifest

import (
	"slices"
)

// ToolProvider is a tool provider file (plugins.tools) with its tools resolved.
type ToolProvider struct {
	Identity          ProviderIdentity `json:"identity"`
	CredentialsSchema []ProviderConfig `json:"credentials_schema"`
	OAuthSchema       *OAuthSchema     `json:"oauth_schema"`
	Tools             []Tool           `json:"tools"`
	// ToolFiles are the tool files as listed in the provider file.
	ToolFiles []string `json:"-"`
	// Source is the Python module implementing the provider (extra.python.source).
	Source string `json:"-"`
}

// Tool is one tool of a tool provider.
type Tool struct {
	Identity             Identity        `json:"identity"`
	Description          ToolDescription `json:"description"`
	Parameters           []ToolParameter `json:"parameters"`
	OutputSchema         map[string]any  `json:"output_schema,omitempty"`
	HasRuntimeParameters bool            `json:"has_runtime_parameters"`
	Source               string          `json:"-"`
}

// ToolDescription describes a tool to people and to the model choosing tools.
type ToolDescription struct {
	Human I18n   `json:"human"`
	LLM   string `json:"llm"`
}

// ToolParameter is one parameter of a tool.
type ToolParameter struct {
	Name             string            `json:"name"`
	Label            I18n              `json:"label"`
	HumanDescription I18n              `json:"human_description"`
	Type             string            `json:"type"`
	Scope            *string           `json:"scope"`
	Form             string            `json:"form"`
	LLMDescription   string            `json:"llm_description"`
	Required         bool              `json:"required"`
	AutoGenerate     *AutoGenerate     `json:"auto_generate"`
	Template         *Template         `json:"template"`
	Default          any               `json:"default"`
	Min              *float64          `json:"min"`
	Max              *float64          `json:"max"`
	Multiple         bool              `json:"multiple"`
	Precision        *int              `json:"precision"`
	Options          []ParameterOption `json:"options"`
	// Extra keeps the keys the reference drops but the SDK knows (input_schema, show_on,
	// placeholder, ...); it is not part of the reference JSON.
	Extra map[string]any `json:"-"`
}

var toolParamKeys = []string{"name", "label", "human_description", "type", "scope", "form", "llm_description", "required",
	"auto_generate", "template", "default", "min", "max", "multiple", "precision", "options"}

func (l *loader) toolProvider(f *yamlFile) *ToolProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	t := &ToolProvider{}
	idc := c.get("identity")
	t.Identity = providerIdentity(idc)
	l.icon(idc.get("icon"), t.Identity.Icon)
	l.icon(idc.get("icon_dark"), t.Identity.IconDark)

	// credentials_for_provider is the usual spelling; the reference reads it when
	// credentials_schema is absent or empty.
	creds := c.get("credentials_schema")
	if creds.n == nil || len(creds.n.Content) == 0 {
		creds = c.get("credentials_for_provider")
	}
	t.CredentialsSchema = orEmpty(providerConfigs(creds, mapLenient))
	t.OAuthSchema = oauthSchema(c.get("oauth_schema"))

	tools := c.get("tools")
	dup := newNames("tool name")
	t.ToolFiles = l.subFiles(tools, "tool", "tools", func(n node) {
		tool := l.tool(n)
		dup.add(n.get("identity").get("name"), tool.Identity.Name)
		t.Tools = append(t.Tools, tool)
	})
	if t.Tools == nil {
		t.Tools = []Tool{}
	}
	t.Source = l.pythonSource(c, "source", true)
	return t
}

func (l *loader) tool(c node) Tool {
	var t Tool
	t.Identity = identity(c.get("identity"))
	dc := c.get("description")
	if dc.isMap() {
		t.Description.Human = dc.reqI18n("human")
		t.Description.LLM = dc.reqStr("llm")
	} else if dc.isNull() {
		dc.strictf("is required (with human and llm)")
	}
	t.Parameters = namedList(c.get("parameters"), "parameter name", toolParameter, func(p ToolParameter) string { return p.Name })
	t.OutputSchema = c.get("output_schema").object()
	t.HasRuntimeParameters = c.get("has_runtime_parameters").boolean()
	t.Source = l.pythonSource(c, "source", true)
	return t
}

func toolParameter(c node) ToolParameter {
	var p ToolParameter
	p.Name = c.reqStr("name")
	maxLen(c.get("name"), p.Name, 1023)
	p.Label = c.reqI18n("label")
	p.HumanDescription = c.reqI18n("human_description")
	p.Type = c.reqStr("type")
	oneOf(c.get("type"), p.Type, toolParamTypes, "parameter type")
	p.Scope = c.get("scope").strPtr()
	checkScope(c.get("scope"), p.Type, p.Scope)
	p.Form = c.reqStr("form")
	oneOf(c.get("form"), p.Form, toolParamForms, "parameter form")
	p.LLMDescription = c.get("llm_description").str()
	p.Required = c.get("required").boolean()
	p.AutoGenerate = autoGenerate(c.get("auto_generate"))
	p.Template = template(c.get("template"))
	p.Default = c.get("default").value()
	p.Min = c.get("min").floatPtr()
	p.Max = c.get("max").floatPtr()
	p.Precision = c.get("precision").intPtr()
	p.Options = parameterOptions(c.get("options"))
	p.Multiple = c.get("multiple").boolean()
	checkSelect(c, p.Type, p.Options, p.Multiple, p.Default)
	for _, e := range c.entries() {
		if !slices.Contains(toolParamKeys, e.key) {
			if p.Extra == nil {
				p.Extra = map[string]any{}
			}
			p.Extra[e.key] = e.val.withRef(false).value()
		}
	}
	return p
}

// checkSelect applies the rules on select-like parameters: a select lists its options, and
// (the SDK's rule) only select and dynamic-select take multiple, in which case the default
// is a list.
func checkSelect(c node, typ string, options []ParameterOption, multiple bool, def any) {
	if typ == "select" && len(options) == 0 {
		c.get("options").advisoryf("a select parameter needs options") // the SDK starts without them
	}
	selectLike := typ == "select" || typ == "dynamic-select"
	if multiple && !selectLike {
		c.get("multiple").strictf("multiple is only valid for select and dynamic-select parameters, not %s", typ)
	}
	if selectLike && def != nil {
		if _, isList := def.([]any); isList != multiple {
			if multiple {
				c.get("default").strictf("default must be a list when multiple is true")
			} else {
				c.get("default").strictf("default must not be a list unless multiple is true")
			}
		}
	}
}
