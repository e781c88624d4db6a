package manifest

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// I18n is a text in several languages. The reference keeps only these four languages; others
// (zh_Hant, ...) are accepted in YAML and dropped, as there.
type I18n struct {
	EnUS   string `json:"en_US"`
	JaJP   string `json:"ja_JP,omitempty"`
	ZhHans string `json:"zh_Hans,omitempty"`
	PtBR   string `json:"pt_BR,omitempty"`
}

// maxI18nLen is the reference validator's bound (lt=1024, counted in characters).
const maxI18nLen = 1024

func (c node) i18n() I18n {
	var v I18n
	if !c.isMap() {
		return v
	}
	v.EnUS = c.get("en_US").str()
	v.JaJP = c.get("ja_JP").str()
	v.ZhHans = c.get("zh_Hans").str()
	v.PtBR = c.get("pt_BR").str()
	return v
}

func (c node) i18nPtr() *I18n {
	if c.isNull() {
		return nil
	}
	v := c.i18n()
	return &v
}

// checkI18n applies the reference validator's rule to an I18n: en_US is required and every
// language is shorter than 1024 characters. The validator runs only on manifest.yaml at
// package time, so these problems are strict.
func checkI18n(c node, v I18n, required bool) {
	if !required && c.isNull() {
		return
	}
	if c.present() && c.n.Kind != yaml.MappingNode {
		return // its shape is the problem, already reported
	}
	if v.EnUS == "" {
		if c.isNull() {
			c.strictf("is required (with at least en_US)")
		} else {
			c.get("en_US").strictf("en_US is required")
		}
	}
	for _, lang := range []struct {
		key, val string
	}{{"en_US", v.EnUS}, {"ja_JP", v.JaJP}, {"zh_Hans", v.ZhHans}, {"pt_BR", v.PtBR}} {
		if utf8.RuneCountInString(lang.val) >= maxI18nLen {
			c.get(lang.key).strictf("is %d characters; it must be shorter than %d", utf8.RuneCountInString(lang.val), maxI18nLen)
		}
	}
}

// reqI18n decodes a required I18n field.
func (c node) reqI18n(key string) I18n {
	f := c.get(key)
	v := f.i18n()
	checkI18n(f, v, true)
	return v
}

// optI18n decodes an optional I18n field; when given it must have en_US.
func (c node) optI18n(key string) *I18n {
	f := c.get(key)
	v := f.i18nPtr()
	if v != nil {
		checkI18n(f, *v, false)
	}
	return v
}

// reqStr decodes a string field that must be present and non-empty.
func (c node) reqStr(key string) string {
	f := c.get(key)
	s := f.str()
	// A scalar of another type (a number in JSON) is reported as such by str.
	if s == "" && (f.isNull() || (f.n.Kind == yaml.ScalarNode && f.n.ShortTag() == "!!str")) {
		f.strictf("is required")
	}
	return s
}

// maxLen reports a strict problem when a string is longer than max characters.
func maxLen(c node, s string, max int) {
	if n := utf8.RuneCountInString(s); n > max {
		c.strictf("is %d characters; at most %d are allowed", n, max)
	}
}

// oneOf reports a strict problem when v is set and not one of allowed.
func oneOf(c node, v string, allowed []string, what string) bool {
	if v == "" || slices.Contains(allowed, v) {
		return true
	}
	c.strictf("unknown %s %q; expected one of %s", what, v, strings.Join(allowed, ", "))
	return false
}

var identityName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// checkIdentityName applies the reference's rule for tool, provider and event names.
func checkIdentityName(c node, name string) {
	if name != "" && !identityName.MatchString(name) {
		c.strictf("name %q may contain only letters, digits, _ and -", name)
	}
}

// names finds duplicates in a list of names declared in one scope.
type names struct {
	what string
	seen map[string]string // name -> field of its first declaration
}

func newNames(what string) *names { return &names{what: what, seen: map[string]string{}} }

func (n *names) add(c node, name string) {
	if name == "" {
		return
	}
	if first, ok := n.seen[name]; ok {
		// The SDK starts and the daemon installs with duplicates (the last one wins), so this
		// only warns in the developer kit.
		c.advisoryf("duplicate %s %q (also declared at %s)", n.what, name, first)
		return
	}
	n.seen[name] = c.path.String()
}

// Types of values the reference and the SDK accept, per kind of declaration.
var (
	// credentialTypes are ProviderConfig types (credentials, settings, subscription schemas).
	credentialTypes = []string{"secret-input", "text-input", "select", "boolean", "app-selector", "model-selector", "array[tools]"}
	toolParamTypes  = []string{"string", "number", "boolean", "select", "secret-input", "file", "files", "app-selector",
		"model-selector", "any", "dynamic-select", "array", "object", "checkbox", "date", "date-range"}
	agentParamTypes = []string{"string", "number", "boolean", "select", "secret-input", "file", "files", "app-selector",
		"model-selector", "array[tools]", "any"}
	eventParamTypes = []string{"string", "number", "boolean", "select", "file", "files", "model-selector", "app-selector",
		"object", "array", "dynamic-select", "checkbox"}
	datasourceParamTypes = []string{"string", "number", "boolean", "select", "secret-input"}
	toolParamForms       = []string{"schema", "form", "llm"}
	autoGenerateTypes    = []string{"prompt_instruction"}

	appSelectorScopes   = []string{"all", "chat", "workflow", "completion"}
	modelSelectorScopes = []string{"llm", "text-embedding", "rerank", "tts", "speech2text", "moderation", "vision", "document", "tool-call"}
	anyScopes           = []string{"string", "number", "object", "array[number]", "array[string]", "array[object]", "array[file]"}

	pluginTags = []string{"search", "image", "videos", "weather", "finance", "design", "travel", "social", "news",
		"medical", "productivity", "education", "business", "entertainment", "utilities", "agent", "rag", "other", "trigger"}
)

// checkScope validates the scope of a selector-like parameter: "&"-joined values from the
// list that fits its type. Scopes on other types mean nothing and are ignored by Dify.
func checkScope(c node, typ string, scope *string) {
	if scope == nil || *scope == "" {
		return
	}
	var allowed []string
	switch typ {
	case "app-selector":
		allowed = appSelectorScopes
	case "model-selector":
		allowed = modelSelectorScopes
	case "any":
		allowed = anyScopes
	default:
		return
	}
	for _, part := range strings.Split(*scope, "&") {
		part = strings.TrimSpace(part)
		if !slices.Contains(allowed, part) {
			c.strictf("unknown %s scope %q; expected values from %s, joined with &", typ, part, strings.Join(allowed, ", "))
			return
		}
	}
}

// checkTags validates a list of tags against the reference's tag list.
func checkTags(c node, tags []string) {
	for i, t := range tags {
		oneOf(c.items()[i], t, pluginTags, "tag")
	}
}

// ConfigOption is an option of a select credential or setting.
type ConfigOption struct {
	Value string `json:"value"`
	Label I18n   `json:"label"`
}

// ProviderConfig is one credential, setting or subscription field.
type ProviderConfig struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Scope       *string        `json:"scope"`
	Required    bool           `json:"required"`
	Default     any            `json:"default"`
	Options     []ConfigOption `json:"options"`
	Multiple    bool           `json:"multiple"`
	Label       I18n           `json:"label"`
	Help        *I18n          `json:"help"`
	URL         *string        `json:"url"`
	Placeholder *I18n          `json:"placeholder"`
}

// providerConfig decodes one ProviderConfig; name is the mapping key in the mapping form.
func providerConfig(c node, name *string) ProviderConfig {
	var p ProviderConfig
	if !c.isMap() {
		return p
	}
	if name != nil {
		p.Name = *name
		c.get("name").str() // the key wins, as in the reference; still check the shape
	} else {
		p.Name = c.reqStr("name")
	}
	tc := c.get("type")
	p.Type = c.reqStr("type")
	oneOf(tc, p.Type, credentialTypes, "credential type")
	p.Scope = c.get("scope").strPtr()
	checkScope(c.get("scope"), p.Type, p.Scope)
	p.Required = c.get("required").boolean()
	p.Default = c.get("default").value()
	if d := c.get("default"); d.present() && d.n.Kind == yaml.MappingNode {
		d.strictf("default must be a value or a list of values, found %s", kindName(d.n))
	}
	oc := c.get("options")
	if oc.isList() {
		for _, o := range oc.items() {
			if !o.isMap() {
				continue
			}
			opt := ConfigOption{Value: o.reqStr("value"), Label: o.reqI18n("label")}
			maxLen(o.get("value"), opt.Value, 127)
			p.Options = append(p.Options, opt)
		}
	}
	if p.Type == "select" && len(p.Options) == 0 {
		oc.advisoryf("a select needs options") // the SDK starts without them; Dify shows an empty list
	}
	p.Multiple = c.get("multiple").boolean()
	p.Label = c.reqI18n("label")
	p.Help = c.optI18n("help")
	p.URL = c.get("url").strPtr()
	p.Placeholder = c.optI18n("placeholder")
	return p
}

// credentialsForm says which forms of a credential list the reference decodes.
type credentialsForm int

const (
	listOnly     credentialsForm = iota // settings, OAuth schemas: a list
	mapLenient                          // tool and datasource credentials: a list or a mapping; mapping values that are not mappings are skipped
	mapExclusive                        // trigger schemas: a list or a mapping whose values must be mappings
)

// providerConfigs decodes credentials, settings or subscription fields, written as a list of
// fields with names or (where the reference accepts it) as a mapping keyed by name:
// {api_key: {type: secret-input, ...}}.
func providerConfigs(c node, form credentialsForm) []ProviderConfig {
	if c.isNull() {
		return nil
	}
	out := []ProviderConfig{}
	dup := newNames("credential name")
	if c.n.Kind == yaml.MappingNode && form != listOnly {
		// The reference walks this mapping by hand: its keys are not checked for duplicates.
		m := c.withRef(false)
		m.isMap()
		for _, e := range m.entries() {
			name := e.key
			v := e.val.withRef(c.ref)
			if !v.present() || v.n.Kind != yaml.MappingNode {
				v.problem(form != mapExclusive || !c.ref, "credential %q must be a mapping of its properties, found %s", name, describe(v))
				continue
			}
			dup.add(v, name)
			out = append(out, providerConfig(v, &name))
		}
		return out
	}
	if !c.isList() {
		return out
	}
	for _, it := range c.items() {
		p := providerConfig(it, nil)
		dup.add(it.get("name"), p.Name)
		out = append(out, p)
	}
	return out
}

// orEmpty gives a nil list its empty value, where the reference serves [] rather than null.
// namedList decodes each mapping in a list (parameters, parameter rules) and reports names
// used twice. It returns nil when c is not a list, an empty slice for an empty one.
func namedList[T any](c node, what string, decode func(node) T, name func(T) string) []T {
	if !c.isList() {
		return nil
	}
	out := []T{}
	dup := newNames(what)
	for _, it := range c.items() {
		if !it.isMap() {
			continue
		}
		v := decode(it)
		dup.add(it.get("name"), name(v))
		out = append(out, v)
	}
	return out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func describe(c node) string {
	if c.n == nil {
		return "nothing"
	}
	return kindName(c.n)
}

// OAuthSchema declares the OAuth client fields an admin sets and the credentials OAuth yields.
type OAuthSchema struct {
	ClientSchema      []ProviderConfig `json:"client_schema"`
	CredentialsSchema []ProviderConfig `json:"credentials_schema"`
}

func oauthSchema(c node) *OAuthSchema {
	if !c.isMap() {
		return nil
	}
	return &OAuthSchema{
		ClientSchema:      providerConfigs(c.get("client_schema"), listOnly),
		CredentialsSchema: providerConfigs(c.get("credentials_schema"), listOnly),
	}
}

// ProviderIdentity identifies a tool, agent-strategy or trigger provider.
type ProviderIdentity struct {
	Author      string   `json:"author"`
	Name        string   `json:"name"`
	Description I18n     `json:"description"`
	Icon        string   `json:"icon"`
	IconDark    string   `json:"icon_dark"`
	Label       I18n     `json:"label"`
	Tags        []string `json:"tags"`
}

func providerIdentity(c node) ProviderIdentity {
	var id ProviderIdentity
	if !c.isMap() {
		if c.isNull() {
			c.strictf("is required")
		}
		return id
	}
	id.Author = c.reqStr("author")
	id.Name = c.reqStr("name")
	checkIdentityName(c.get("name"), id.Name)
	// The reference fills an empty description from the manifest, but the SDK's models
	// require it.
	id.Description = c.reqI18n("description")
	id.Icon = c.reqStr("icon")
	id.IconDark = c.get("icon_dark").str()
	id.Label = c.reqI18n("label")
	id.Tags = c.get("tags").strList()
	checkTags(c.get("tags"), id.Tags)
	return id
}

// Identity identifies a tool, strategy or event inside its provider.
type Identity struct {
	Author string `json:"author"`
	Name   string `json:"name"`
	Label  I18n   `json:"label"`
}

func identity(c node) Identity {
	var id Identity
	if !c.isMap() {
		if c.isNull() {
			c.strictf("is required")
		}
		return id
	}
	id.Author = c.reqStr("author")
	id.Name = c.reqStr("name")
	checkIdentityName(c.get("name"), id.Name)
	id.Label = c.reqI18n("label")
	return id
}

// ParameterOption is an option of a select parameter.
type ParameterOption struct {
	Value string `json:"value"`
	Label I18n   `json:"label"`
	Icon  string `json:"icon"`
}

func parameterOptions(c node) []ParameterOption {
	if !c.isList() {
		return nil
	}
	out := []ParameterOption{}
	for _, o := range c.items() {
		if !o.isMap() {
			continue
		}
		// An empty value is a real choice ("all types"); only a missing one is a mistake.
		vc := o.get("value")
		if vc.isNull() {
			vc.strictf("is required")
		}
		out = append(out, ParameterOption{Value: vc.str(), Label: o.reqI18n("label"), Icon: o.get("icon").str()})
	}
	return out
}

// AutoGenerate asks Dify to offer generating the parameter's value.
type AutoGenerate struct {
	Type string `json:"type"`
}

// Template marks a parameter whose value is a Jinja template.
type Template struct {
	Enabled bool `json:"enabled"`
}

func autoGenerate(c node) *AutoGenerate {
	if !c.isMap() {
		return nil
	}
	a := &AutoGenerate{Type: c.reqStr("type")}
	oneOf(c.get("type"), a.Type, autoGenerateTypes, "auto_generate type")
	return a
}

func template(c node) *Template {
	if !c.isMap() {
		return nil
	}
	return &Template{Enabled: c.get("enabled").boolean()}
}

// pythonSource reads extra.python.<key>, which the Python SDK imports: the file must exist.
// It is required when the SDK requires it.
func (l *loader) pythonSource(c node, key string, required bool) string {
	src := c.get("extra").get("python").get(key)
	c.get("extra").withRef(false).isMap()
	c.get("extra").get("python").withRef(false).isMap()
	s := src.withRef(false).str()
	if s == "" {
		if required {
			src.strictf("is required: the Python SDK imports the implementation from it")
		}
		return ""
	}
	if !strings.HasSuffix(s, ".py") {
		src.strictf("%q must name a .py file", s)
		return s
	}
	l.needFile(src, s, "Python source")
	return s
}
