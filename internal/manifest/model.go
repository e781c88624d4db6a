package manifest

import (
	"cmp"
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ModelProvider is a model provider file (plugins.models) with its models resolved.
type ModelProvider struct {
	Provider                 string                    `json:"provider"`
	Label                    I18n                      `json:"label"`
	Description              *I18n                     `json:"description"`
	IconSmall                *I18n                     `json:"icon_small"`
	IconLarge                *I18n                     `json:"icon_large"`
	IconSmallDark            *I18n                     `json:"icon_small_dark"`
	IconLargeDark            *I18n                     `json:"icon_large_dark"`
	Background               *string                   `json:"background"`
	Help                     *ModelProviderHelp        `json:"help"`
	SupportedModelTypes      []string                  `json:"supported_model_types"`
	ConfigurateMethods       []string                  `json:"configurate_methods"`
	ProviderCredentialSchema *ProviderCredentialSchema `json:"provider_credential_schema"`
	ModelCredentialSchema    *ModelCredentialSchema    `json:"model_credential_schema"`
	Position                 *ModelPosition            `json:"position,omitempty"`
	// Models are the predefined models: the files matched by the models.<type>.predefined
	// globs (or an inline list), grouped by type and ordered by the type's position list.
	Models []Model `json:"models"`

	// ModelFiles are the predefined globs, PositionFiles the position file of each type key.
	ModelFiles    []string          `json:"-"`
	PositionFiles map[string]string `json:"-"`
	// ProviderSource and ModelSources are the Python modules the SDK imports.
	ProviderSource string   `json:"-"`
	ModelSources   []string `json:"-"`
}

// ModelProviderHelp points to where credentials are obtained.
type ModelProviderHelp struct {
	Title I18n `json:"title"`
	URL   I18n `json:"url"`
}

// ModelPosition orders the models of each type, by model name.
type ModelPosition struct {
	LLM           *[]string `json:"llm,omitempty"`
	TextEmbedding *[]string `json:"text_embedding,omitempty"`
	Rerank        *[]string `json:"rerank,omitempty"`
	TTS           *[]string `json:"tts,omitempty"`
	Speech2Text   *[]string `json:"speech2text,omitempty"`
	Moderation    *[]string `json:"moderation,omitempty"`
}

func (p *ModelPosition) slot(key string) **[]string {
	switch key {
	case "llm":
		return &p.LLM
	case "text_embedding":
		return &p.TextEmbedding
	case "rerank":
		return &p.Rerank
	case "tts":
		return &p.TTS
	case "speech2text":
		return &p.Speech2Text
	case "moderation":
		return &p.Moderation
	}
	return nil
}

// ProviderCredentialSchema is the form for provider-wide credentials.
type ProviderCredentialSchema struct {
	CredentialFormSchemas []CredentialFormSchema `json:"credential_form_schemas"`
}

// ModelCredentialSchema is the form for credentials of one customizable model.
type ModelCredentialSchema struct {
	Model                 ModelField             `json:"model"`
	CredentialFormSchemas []CredentialFormSchema `json:"credential_form_schemas"`
}

// ModelField labels the model-name input of a customizable model form.
type ModelField struct {
	Label       I18n  `json:"label"`
	Placeholder *I18n `json:"placeholder"`
}

// CredentialFormSchema is one input of a model credential form.
type CredentialFormSchema struct {
	Variable    string       `json:"variable"`
	Label       I18n         `json:"label"`
	Type        string       `json:"type"`
	Required    bool         `json:"required"`
	Default     *string      `json:"default"`
	Options     []FormOption `json:"options"`
	Help        *I18n        `json:"help"`
	URL         *string      `json:"url"`
	Placeholder *I18n        `json:"placeholder"`
	MaxLength   int          `json:"max_length"`
	ShowOn      []ShowOn     `json:"show_on"`
}

// FormOption is an option of a select or radio credential input.
type FormOption struct {
	Label  I18n     `json:"label"`
	Value  string   `json:"value"`
	ShowOn []ShowOn `json:"show_on"`
}

// ShowOn shows an input only when another input has a value.
type ShowOn struct {
	Variable string `json:"variable"`
	Value    string `json:"value"`
}

// Model is one predefined model.
type Model struct {
	Model           string          `json:"model"`
	Label           I18n            `json:"label"`
	ModelType       string          `json:"model_type"`
	Features        []string        `json:"features"`
	FetchFrom       string          `json:"fetch_from"`
	ModelProperties map[string]any  `json:"model_properties"`
	Deprecated      bool            `json:"deprecated"`
	ParameterRules  []ParameterRule `json:"parameter_rules"`
	Pricing         *Pricing        `json:"pricing"`
	// File is the model's file, empty for an inline declaration.
	File string `json:"-"`
}

// ParameterRule is one invocation parameter of a model.
type ParameterRule struct {
	Name        string   `json:"name"`
	UseTemplate *string  `json:"use_template"`
	Label       *I18n    `json:"label"`
	Type        *string  `json:"type"`
	Help        *I18n    `json:"help"`
	Required    bool     `json:"required"`
	Default     any      `json:"default"`
	Min         *float64 `json:"min"`
	Max         *float64 `json:"max"`
	Precision   *int     `json:"precision"`
	Options     []string `json:"options"`
}

// Pricing is a model's price; amounts are decimals kept as text, as the reference serves them.
type Pricing struct {
	Input    Decimal  `json:"input"`
	Output   *Decimal `json:"output"`
	Unit     Decimal  `json:"unit"`
	Currency string   `json:"currency"`
}

// Decimal is an exact decimal number in canonical text form ("0.002", "1000").
type Decimal string

// MarshalJSON writes the decimal as a JSON string, as the reference's decimal type does.
func (d Decimal) MarshalJSON() ([]byte, error) { return json.Marshal(string(cmp.Or(d, "0"))) }

var (
	modelTypes         = []string{"llm", "text-embedding", "rerank", "speech2text", "moderation", "tts", "text2img", "multimodal-embedding", "multimodal-rerank"}
	configurateMethods = []string{"predefined-model", "customizable-model"}
	modelFormTypes     = []string{"text-input", "secret-input", "select", "radio", "switch"}
	modelParamTypes    = []string{"float", "int", "string", "boolean", "text"}
	modelFeatures      = []string{"tool-call", "multi-tool-call", "agent-thought", "vision", "stream-tool-call", "document", "video", "audio", "structured-output", "polling"}
	modelPropertyKeys  = []string{"mode", "context_size", "max_chunks", "file_upload_limit", "supported_file_extensions", "max_characters_per_chunk", "default_voice", "voices", "word_limit", "audio_type", "max_workers"}
	modelTypeKeys      = []string{"llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"} // keys of models: the reference reads
	modelTypeOfKey     = map[string]string{"llm": "llm", "text_embedding": "text-embedding", "rerank": "rerank", "tts": "tts", "speech2text": "speech2text", "moderation": "moderation"}
	decimalPattern     = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`)
	predefinedModel    = "predefined-model"
	maxModelGlobs      = 64
	positionFileSuffix = "_position.yaml"
)

// parameterTemplates are what a parameter rule inherits from its use_template: the type and
// bounds are those of the reference; the help texts are ours and in English only (the
// reference carries four languages), so Dify shows a shorter tooltip.
var parameterTemplates = map[string]ParameterRule{
	"temperature": {Type: ptr("float"), Default: 0.0, Min: ptr(0.0), Max: ptr(1.0), Precision: ptr(2),
		Help: help("Sampling temperature: lower values make the output more focused and repeatable, higher values more varied.")},
	"top_p": {Type: ptr("float"), Default: 1.0, Min: ptr(0.0), Max: ptr(1.0), Precision: ptr(2),
		Help: help("Nucleus sampling: only the most likely tokens whose probabilities add up to this value are considered.")},
	"top_k": {Type: ptr("int"), Default: 50, Min: ptr(1.0), Max: ptr(100.0), Precision: ptr(0),
		Help: help("Only the k most likely tokens are considered at each step.")},
	"presence_penalty": {Type: ptr("float"), Default: 0.0, Min: ptr(0.0), Max: ptr(1.0), Precision: ptr(2),
		Help: help("Penalizes tokens that already appear in the text, nudging the model towards new topics.")},
	"frequency_penalty": {Type: ptr("float"), Default: 0.0, Min: ptr(0.0), Max: ptr(1.0), Precision: ptr(2),
		Help: help("Penalizes tokens in proportion to how often they already appear, reducing repetition.")},
	"max_tokens": {Type: ptr("int"), Default: 64, Min: ptr(1.0), Max: ptr(2048.0), Precision: ptr(0),
		Help: help("Upper bound on the number of tokens generated; raise it if answers are cut off.")},
	"response_format": {Type: ptr("string"), Options: []string{"JSON", "XML"},
		Help: help("The format the answer should take, such as JSON or XML.")},
	"json_schema": {Type: ptr("string"),
		Help: help("A JSON schema the answer must follow.")},
}

func help(en string) *I18n { return &I18n{EnUS: en} }

func ptr[T any](v T) *T { return &v }

func (l *loader) modelProvider(f *yamlFile) *ModelProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	m := &ModelProvider{}
	m.Provider = c.reqStr("provider")
	maxLen(c.get("provider"), m.Provider, 255)
	m.Label = c.reqI18n("label")
	m.Description = c.optI18n("description")
	icons := func(key string) *I18n {
		ic := c.get(key)
		v := ic.i18nPtr()
		if v != nil {
			for _, lang := range []struct{ key, val string }{{"en_US", v.EnUS}, {"zh_Hans", v.ZhHans}, {"ja_JP", v.JaJP}, {"pt_BR", v.PtBR}} {
				l.icon(ic.get(lang.key), lang.val)
			}
		}
		return v
	}
	m.IconSmall = icons("icon_small")
	m.IconLarge = icons("icon_large")
	m.IconSmallDark = icons("icon_small_dark")
	m.IconLargeDark = icons("icon_large_dark")
	m.Background = c.get("background").strPtr()
	if hc := c.get("help"); hc.isMap() {
		m.Help = &ModelProviderHelp{Title: hc.reqI18n("title"), URL: hc.reqI18n("url")}
	}

	m.SupportedModelTypes = enumList(c.get("supported_model_types"), modelTypes, "model type")
	m.ConfigurateMethods = enumList(c.get("configurate_methods"), configurateMethods, "configurate method")

	if pc := c.get("provider_credential_schema"); pc.isMap() {
		m.ProviderCredentialSchema = &ProviderCredentialSchema{CredentialFormSchemas: credentialForms(pc.get("credential_form_schemas"))}
	}
	if mc := c.get("model_credential_schema"); mc.isMap() {
		s := &ModelCredentialSchema{CredentialFormSchemas: credentialForms(mc.get("credential_form_schemas"))}
		if fc := mc.get("model"); fc.isMap() {
			s.Model = ModelField{Label: fc.reqI18n("label"), Placeholder: fc.optI18n("placeholder")}
		} else if fc.isNull() {
			fc.strictf("is required (with label)")
		}
		m.ModelCredentialSchema = s
	}

	l.models(c.get("models"), m)
	if l.remote {
		remotePositions(c.get("position"), m)
	}

	m.ProviderSource = l.pythonSource(c, "provider_source", true)
	sc := c.get("extra").get("python").get("model_sources").withRef(false)
	m.ModelSources = sc.strList()
	for i, s := range m.ModelSources {
		it := sc.items()[i]
		if !strings.HasSuffix(s, ".py") {
			it.strictf("%q must name a .py file", s)
			continue
		}
		l.needFile(it, s, "Python source")
	}
	return m
}

// enumList decodes a required list of values from allowed.
func enumList(c node, allowed []string, what string) []string {
	vals := c.strList()
	if len(vals) == 0 && (c.isNull() || c.n.Kind == yaml.SequenceNode) {
		c.strictf("is required: list at least one of %s", strings.Join(allowed, ", "))
	}
	for i, v := range vals {
		oneOf(c.items()[i], v, allowed, what)
	}
	return vals
}

// models resolves the models key of a model provider: for each model type, the files matched
// by its predefined globs and its position file.
func (l *loader) models(c node, m *ModelProvider) {
	m.Models = []Model{}
	if c.isNull() {
		return
	}
	if c.n.Kind == yaml.SequenceNode {
		// A registration carries the models the SDK loaded; in a file, a list is a mistake.
		if !l.remote {
			c.strictf("an inline list of models is not loaded by the Python SDK; use {<type>: {predefined: [globs]}}")
		}
		dup := newNames("model")
		for _, it := range c.items() {
			if it.isMap() {
				md := model(it, "")
				if md.Model != "" {
					dup.add(it.get("model"), md.ModelType+" "+md.Model)
				}
				m.Models = append(m.Models, md)
			}
		}
		return
	}
	if l.remote {
		c.problem(false, "expected the list of model declarations, found %s; a registration carries no files for globs to match", kindName(c.n))
		return
	}
	// The reference walks this mapping by hand and silently skips what it does not expect,
	// so shape problems here are strict; only the files it then reads can fail an install.
	mc := c.withRef(false)
	if !mc.isMap() {
		return
	}
	m.Position = &ModelPosition{} // the reference serves {} for any mapping, even without position files
	byKey := map[string][]Model{}
	var keyOrder []string
	positions := map[string][]string{}
	for _, e := range mc.entries() {
		if !slices.Contains(modelTypeKeys, e.key) {
			e.val.strictf("unknown model type key %q; the reference reads only %s", e.key, strings.Join(modelTypeKeys, ", "))
			continue
		}
		if !e.val.isMap() {
			continue
		}
		keyOrder = append(keyOrder, e.key)
		if pc := e.val.get("position"); pc.n != nil {
			if m.PositionFiles == nil {
				m.PositionFiles = map[string]string{}
			}
			name := pc.n.Value
			if pc.n.Kind != yaml.ScalarNode {
				name = ""
			}
			m.PositionFiles[e.key] = name
			if list, ok := l.positionFile(pc.withRef(true), name); ok {
				*m.Position.slot(e.key) = &list
				positions[e.key] = list
			}
		}
		gc := e.val.get("predefined")
		if gc.isNull() {
			continue
		}
		if gc.n.Kind != yaml.SequenceNode {
			gc.strictf("expected a list of file globs, found %s", kindName(gc.n))
			continue
		}
		for _, g := range gc.items() {
			glob := g.n.Value
			if g.n.Kind != yaml.ScalarNode {
				g.strictf("expected a file glob, found %s", kindName(g.n))
				continue
			}
			if len(m.ModelFiles) == maxModelGlobs {
				// Each glob is matched against every file: bound that work.
				g.problem(false, "more than %d predefined globs; the rest are ignored", maxModelGlobs)
			}
			if len(m.ModelFiles) >= maxModelGlobs {
				continue
			}
			m.ModelFiles = append(m.ModelFiles, glob)
			found, positionFiles := l.modelGlob(g, glob, slices.Contains(m.ConfigurateMethods, predefinedModel))
			byKey[e.key] = append(byKey[e.key], found...)
			// Without a position key, order as the SDK does: by a position file the glob matches.
			if _, explicit := m.PositionFiles[e.key]; !explicit && positions[e.key] == nil && len(positionFiles) > 0 {
				if list, ok := l.positionFile(g.withRef(false), positionFiles[0]); ok {
					positions[e.key] = list
				}
			}
		}
	}
	for _, key := range keyOrder {
		models := byKey[key]
		orderByPosition(models, positions[key])
		m.Models = append(m.Models, models...)
	}
	l.checkModels(m)
}

// remotePositions reads the position lists of a registration, which the SDK took from the
// position files its globs matched, and orders the models by them as Load does.
func remotePositions(c node, m *ModelProvider) {
	// The SDK refuses a provider whose models key is not a mapping, for which Load always
	// serves a position.
	m.Position = &ModelPosition{}
	positions := map[string][]string{}
	if c.isMap() {
		for _, e := range c.entries() {
			slot := m.Position.slot(e.key)
			if slot == nil {
				e.val.strictf("unknown model type key %q; expected one of %s", e.key, strings.Join(modelTypeKeys, ", "))
				continue
			}
			// The SDK sends [] for every type without a position file.
			if list := e.val.strList(); len(list) > 0 {
				*slot = &list
				positions[modelTypeOfKey[e.key]] = list
			}
		}
	}
	// Models come grouped by type; order each group, keeping the groups in place.
	for i := 0; i < len(m.Models); {
		j := i + 1
		for j < len(m.Models) && m.Models[j].ModelType == m.Models[i].ModelType {
			j++
		}
		orderByPosition(m.Models[i:j], positions[m.Models[i].ModelType])
		i = j
	}
}

// modelGlob reads the model files matched by one predefined glob. Like the reference it
// matches the glob against every file path (path.Match, so * stays inside one directory) and
// skips position files; the position files the glob matches are returned, since the SDK
// orders by them.
func (l *loader) modelGlob(g node, glob string, predefined bool) ([]Model, []string) {
	if _, err := path.Match(glob, ""); err != nil {
		g.problem(false, "glob %q is malformed: %v", glob, err)
		return nil, nil
	}
	var models []Model
	var positions []string
	matched := false
	for _, name := range l.allFiles() {
		if ok, _ := path.Match(glob, name); !ok {
			continue
		}
		matched = true
		if strings.HasSuffix(name, positionFileSuffix) {
			positions = append(positions, name)
			continue
		}
		if md, ok := l.modelFiles[name]; ok {
			// Matched by another glob too: the reference loads it again, so it counts twice
			// (and is reported as a duplicate), but its problems are reported once.
			if md != nil {
				models = append(models, *md)
			}
			continue
		}
		if l.modelFiles == nil {
			l.modelFiles = map[string]*Model{}
		}
		l.modelFiles[name] = nil
		f := l.openYAML(name, &g, true)
		if f == nil {
			continue
		}
		if c, ok := f.fileRoot(); ok {
			md := model(c, name)
			l.modelFiles[name] = &md
			models = append(models, md)
		}
	}
	// Customizable-only providers often keep the scaffold's globs without model files.
	if !matched && predefined {
		g.strictf("glob %q matches no file", glob)
	}
	return models, positions
}

// positionFile reads a position file: a YAML list of model names.
func (l *loader) positionFile(ref node, name string) ([]string, bool) {
	if !refPath(ref, name, !ref.ref) {
		return nil, false
	}
	f := l.openYAML(name, &ref, ref.ref)
	if f == nil {
		return nil, false
	}
	c := f.top(ref.ref)
	if c.isNull() {
		return []string{}, true
	}
	if c.n.Kind != yaml.SequenceNode {
		c.shapef("a position file must be a list of model names, found %s", kindName(c.n))
		return nil, false
	}
	return c.strList(), true
}

// orderByPosition sorts models named in position by their place there; the others keep their
// order, after them.
func orderByPosition(models []Model, position []string) {
	if len(position) == 0 {
		return
	}
	rank := map[string]int{}
	for i, name := range position {
		if _, ok := rank[name]; !ok {
			rank[name] = i
		}
	}
	slices.SortStableFunc(models, func(a, b Model) int {
		ra, okA := rank[a.Model]
		rb, okB := rank[b.Model]
		switch {
		case okA && okB:
			return cmp.Compare(ra, rb)
		case okA:
			return -1
		case okB:
			return 1
		}
		return 0
	})
}

// checkModels applies the checks that span models: duplicates.
func (l *loader) checkModels(m *ModelProvider) {
	seen := map[[2]string]string{}
	for _, md := range m.Models {
		key := [2]string{md.ModelType, md.Model}
		if md.Model == "" {
			continue
		}
		if first, ok := seen[key]; ok {
			l.fileProblem(cmp.Or(md.File, first), 0, true, "duplicate %s model %q (also declared in %s)", md.ModelType, md.Model, first)
			continue
		}
		seen[key] = cmp.Or(md.File, "the provider file")
	}
}

// model decodes one model declaration.
func model(c node, file string) Model {
	md := Model{File: file}
	md.Model = c.reqStr("model")
	maxLen(c.get("model"), md.Model, 255)
	md.Label = c.get("label").i18n()
	checkI18n(c.get("label"), md.Label, false)
	if md.Label.EnUS == "" {
		md.Label.EnUS = md.Model // as both the reference and the SDK do
	}
	md.ModelType = c.reqStr("model_type")
	oneOf(c.get("model_type"), md.ModelType, modelTypes, "model type")
	fc := c.get("features")
	md.Features = fc.strList()
	for i, f := range md.Features {
		oneOf(fc.items()[i], f, modelFeatures, "model feature")
	}
	md.FetchFrom = c.get("fetch_from").str()
	oneOf(c.get("fetch_from"), md.FetchFrom, configurateMethods, "fetch_from")
	if md.FetchFrom == "" {
		md.FetchFrom = predefinedModel
	}
	pc := c.get("model_properties")
	md.ModelProperties = pc.object()
	for _, e := range pc.entries() {
		if !slices.Contains(modelPropertyKeys, e.key) {
			e.val.strictf("unknown model property %q; the SDK accepts %s", e.key, strings.Join(modelPropertyKeys, ", "))
		}
	}
	md.Deprecated = c.get("deprecated").boolean()
	md.ParameterRules = orEmpty(namedList(c.get("parameter_rules"), "parameter rule", parameterRule, func(r ParameterRule) string { return r.Name }))
	if pc := c.get("pricing"); pc.isMap() {
		md.Pricing = &Pricing{
			Input:    decimal(pc.get("input"), true),
			Unit:     decimal(pc.get("unit"), true),
			Currency: pc.reqStr("currency"),
		}
		if oc := pc.get("output"); oc.present() {
			d := decimal(oc, false)
			md.Pricing.Output = &d
		}
	}
	return md
}

// decimal decodes a decimal amount. The reference parses it with a decimal library, which
// refuses anything but a plain or exponent-form number.
func decimal(c node, required bool) Decimal {
	if c.isNull() {
		if required {
			c.strictf("is required")
		}
		return "0"
	}
	if c.n.Kind != yaml.ScalarNode || !decimalPattern.MatchString(c.n.Value) {
		c.shapef("expected a decimal number, found %s", kindName(c.n))
		return "0"
	}
	return Decimal(canonicalDecimal(c.n.Value))
}

// canonicalDecimal writes a decimal number without exponent, leading zeros or trailing
// fractional zeros ("1.50e-2" -> "0.015"), the form the reference's decimal type prints.
func canonicalDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		for _, ch := range strings.TrimLeft(s[i+1:], "+-") {
			if exp > 1000 {
				break // absurd exponents are kept bounded; such prices do not exist
			}
			exp = exp*10 + int(ch-'0')
		}
		if strings.HasPrefix(s[i+1:], "-") {
			exp = -exp
		}
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point within digits
	for point > len(digits) {
		digits += "0"
	}
	for point < 0 {
		digits = "0" + digits
		point++
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), strings.TrimRight(digits[point:], "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

func parameterRule(c node) ParameterRule {
	var r ParameterRule
	r.Name = c.reqStr("name")
	maxLen(c.get("name"), r.Name, 255)
	r.UseTemplate = c.get("use_template").strPtr()
	r.Label = c.optI18n("label")
	tc := c.get("type")
	r.Type = tc.strPtr()
	if r.Type != nil {
		oneOf(tc, *r.Type, modelParamTypes, "parameter rule type")
	}
	r.Help = c.optI18n("help")
	r.Required = c.get("required").boolean()
	if dc := c.get("default"); dc.present() {
		r.Default = dc.value()
		if dc.n.Kind != yaml.ScalarNode {
			dc.strictf("default must be a single value, found %s", kindName(dc.n))
		}
	}
	r.Min = c.get("min").floatPtr()
	r.Max = c.get("max").floatPtr()
	r.Precision = c.get("precision").intPtr()
	r.Options = c.get("options").strList()

	// The reference applies the template while decoding: an unknown template fails its
	// install. A rule without a template needs its own type.
	if r.UseTemplate != nil && *r.UseTemplate != "" {
		t, ok := parameterTemplates[*r.UseTemplate]
		if !ok {
			names := make([]string, 0, len(parameterTemplates))
			for n := range parameterTemplates {
				names = append(names, n)
			}
			slices.Sort(names)
			c.get("use_template").problem(false, "unknown use_template %q; expected one of %s", *r.UseTemplate, strings.Join(names, ", "))
		} else {
			r.Type = cmp.Or(r.Type, t.Type)
			if r.Default == nil {
				r.Default = t.Default
			}
			r.Min, r.Max, r.Precision = cmp.Or(r.Min, t.Min), cmp.Or(r.Max, t.Max), cmp.Or(r.Precision, t.Precision)
			r.Help = cmp.Or(r.Help, t.Help)
			if r.Options == nil {
				r.Options = slices.Clone(t.Options)
			}
		}
	} else if r.Type == nil {
		tc.strictf("is required when use_template is not set; expected one of %s", strings.Join(modelParamTypes, ", "))
	}
	if r.Label == nil || r.Label.EnUS == "" {
		r.Label = &I18n{EnUS: r.Name}
	}
	if r.Options == nil {
		r.Options = []string{}
	}
	return r
}

func credentialForms(c node) []CredentialFormSchema {
	out := []CredentialFormSchema{}
	if !c.isList() {
		return out
	}
	seen := map[string]bool{}
	for _, it := range c.items() {
		if !it.isMap() {
			continue
		}
		f := credentialForm(it)
		// The same variable may appear several times with different show_on conditions.
		if f.Variable != "" && len(f.ShowOn) == 0 {
			if seen[f.Variable] {
				it.get("variable").strictf("duplicate credential variable %q", f.Variable)
			}
			seen[f.Variable] = true
		}
		out = append(out, f)
	}
	return out
}

func credentialForm(c node) CredentialFormSchema {
	var f CredentialFormSchema
	f.Variable = c.reqStr("variable")
	maxLen(c.get("variable"), f.Variable, 255)
	f.Label = c.reqI18n("label")
	f.Type = c.reqStr("type")
	oneOf(c.get("type"), f.Type, modelFormTypes, "credential form type")
	f.Required = c.get("required").boolean()
	f.Default = c.get("default").strPtr()
	f.Options = []FormOption{}
	if oc := c.get("options"); oc.isList() {
		for _, o := range oc.items() {
			if !o.isMap() {
				continue
			}
			f.Options = append(f.Options, FormOption{Label: o.reqI18n("label"), Value: o.reqStr("value"), ShowOn: showOn(o.get("show_on"))})
		}
	}
	if (f.Type == "select" || f.Type == "radio") && len(f.Options) == 0 {
		c.get("options").strictf("a %s input needs options", f.Type)
	}
	f.Help = c.optI18n("help")
	f.URL = c.get("url").strPtr()
	f.Placeholder = c.optI18n("placeholder")
	var ml int64
	c.get("max_length").decodeScalar(&ml, "an integer")
	f.MaxLength = int(ml)
	f.ShowOn = showOn(c.get("show_on"))
	return f
}

func showOn(c node) []ShowOn {
	out := []ShowOn{}
	if !c.isList() {
		return out
	}
	for _, it := range c.items() {
		if it.isMap() {
			out = append(out, ShowOn{Variable: it.reqStr("variable"), Value: it.reqStr("value")})
		}
	}
	return out
}
