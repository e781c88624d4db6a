package manifest

import "go.yaml.in/yaml/v3"

// AgentStrategyProvider is an agent strategy provider file (plugins.agent_strategies) with
// its strategies resolved.
type AgentStrategyProvider struct {
	Identity   ProviderIdentity `json:"identity"`
	Strategies []AgentStrategy  `json:"strategies"`
	// StrategyFiles are the strategy files as listed in the provider file.
	StrategyFiles []string `json:"-"`
}

// AgentStrategy is one agent strategy.
type AgentStrategy struct {
	Identity     Identity         `json:"identity"`
	Description  I18n             `json:"description"`
	Parameters   []AgentParameter `json:"parameters"`
	OutputSchema map[string]any   `json:"output_schema"`
	Features     []string         `json:"features"`
	Source       string           `json:"-"`
}

// AgentParameter is one parameter of an agent strategy.
type AgentParameter struct {
	Name         string            `json:"name"`
	Label        I18n              `json:"label"`
	Help         I18n              `json:"help"`
	Type         string            `json:"type"`
	AutoGenerate *AutoGenerate     `json:"auto_generate"`
	Template     *Template         `json:"template"`
	Scope        *string           `json:"scope"`
	Required     bool              `json:"required"`
	Default      any               `json:"default"`
	Min          *float64          `json:"min"`
	Max          *float64          `json:"max"`
	Precision    *int              `json:"precision"`
	Options      []ParameterOption `json:"options"`
}

var agentFeatures = []string{"history-messages"}

func (l *loader) agentProvider(f *yamlFile) *AgentStrategyProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	a := &AgentStrategyProvider{Strategies: []AgentStrategy{}}
	idc := c.get("identity")
	a.Identity = providerIdentity(idc)
	if a.Identity.Tags == nil {
		a.Identity.Tags = []string{}
	}
	l.icon(idc.get("icon"), a.Identity.Icon)
	l.icon(idc.get("icon_dark"), a.Identity.IconDark)
	list := c.get("strategies")
	dup := newNames("strategy name")
	a.StrategyFiles = l.subFiles(list, "strategy", "strategies", func(n node) {
		s := l.agentStrategy(n)
		dup.add(n.get("identity").get("name"), s.Identity.Name)
		a.Strategies = append(a.Strategies, s)
	})
	// The SDK does not import a provider class for agent strategies, so extra.python.source
	// is optional here; when given it should still name a file.
	l.pythonSource(c, "source", false)
	return a
}

func (l *loader) agentStrategy(c node) AgentStrategy {
	var s AgentStrategy
	s.Identity = identity(c.get("identity"))
	s.Description = c.reqI18n("description")
	s.Parameters = orEmpty(namedList(c.get("parameters"), "parameter name", agentParameter, func(p AgentParameter) string { return p.Name }))
	s.OutputSchema = c.get("output_schema").object()
	fc := c.get("features")
	s.Features = fc.strList()
	for i, f := range s.Features {
		oneOf(fc.items()[i], f, agentFeatures, "agent strategy feature")
	}
	if s.Features == nil {
		s.Features = []string{}
	}
	s.Source = l.pythonSource(c, "source", true)
	return s
}

func agentParameter(c node) AgentParameter {
	var p AgentParameter
	p.Name = c.reqStr("name")
	maxLen(c.get("name"), p.Name, 1023)
	p.Label = c.reqI18n("label")
	p.Help = c.get("help").i18n()
	checkI18n(c.get("help"), p.Help, false)
	p.Type = c.reqStr("type")
	oneOf(c.get("type"), p.Type, agentParamTypes, "parameter type")
	p.AutoGenerate = autoGenerate(c.get("auto_generate"))
	p.Template = template(c.get("template"))
	p.Scope = c.get("scope").strPtr()
	checkScope(c.get("scope"), p.Type, p.Scope)
	p.Required = c.get("required").boolean()
	dc := c.get("default")
	p.Default = dc.value()
	if dc.present() && dc.n.Kind != yaml.ScalarNode {
		dc.strictf("default must be a single value (the SDK takes a number or a string), found %s", kindName(dc.n))
	}
	p.Min = c.get("min").floatPtr()
	p.Max = c.get("max").floatPtr()
	p.Precision = c.get("precision").intPtr()
	p.Options = parameterOptions(c.get("options"))
	if p.Type == "select" && len(p.Options) == 0 {
		c.get("options").strictf("a select parameter needs options")
	}
	return p
}
