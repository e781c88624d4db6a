package manifest

// TriggerProvider is a trigger provider file (plugins.triggers) with its events resolved.
type TriggerProvider struct {
	Identity                ProviderIdentity         `json:"identity"`
	SubscriptionSchema      []ProviderConfig         `json:"subscription_schema"`
	SubscriptionConstructor *SubscriptionConstructor `json:"subscription_constructor"`
	Events                  []Event                  `json:"events"`
	// EventFiles are the event files as listed in the provider file.
	EventFiles []string `json:"-"`
	Source     string   `json:"-"`
}

// SubscriptionConstructor describes how Dify creates a subscription itself (through an API
// key or OAuth) instead of the user pasting a webhook.
type SubscriptionConstructor struct {
	Parameters        []EventParameter `json:"parameters"`
	CredentialsSchema []ProviderConfig `json:"credentials_schema"`
	OAuthSchema       *OAuthSchema     `json:"oauth_schema,omitempty"`
}

// Event is one event a trigger provider emits.
type Event struct {
	Identity     Identity         `json:"identity"`
	Parameters   []EventParameter `json:"parameters"`
	Description  I18n             `json:"description"`
	OutputSchema map[string]any   `json:"output_schema,omitempty"`
	Source       string           `json:"-"`
}

// EventParameter is one parameter of an event or a subscription constructor.
type EventParameter struct {
	Name         string        `json:"name"`
	Label        I18n          `json:"label"`
	Type         string        `json:"type"`
	AutoGenerate *AutoGenerate `json:"auto_generate,omitempty"`
	Template     *Template     `json:"template,omitempty"`
	Scope        *string       `json:"scope,omitempty"`
	Required     bool          `json:"required"`
	Multiple     bool          `json:"multiple,omitempty"`
	Default      any           `json:"default,omitempty"`
	Min          *float64      `json:"min,omitempty"`
	Max          *float64      `json:"max,omitempty"`
	Precision    *int          `json:"precision,omitempty"`
	Options      []EventOption `json:"options,omitempty"`
	Description  *I18n         `json:"description,omitempty"`
}

// EventOption is an option of a select event parameter; its value may be any scalar.
type EventOption struct {
	Label I18n `json:"label"`
	Value any  `json:"value"`
}

func (l *loader) triggerProvider(f *yamlFile) *TriggerProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	t := &TriggerProvider{Events: []Event{}}
	idc := c.get("identity")
	t.Identity = providerIdentity(idc)
	l.icon(idc.get("icon"), t.Identity.Icon)
	l.icon(idc.get("icon_dark"), t.Identity.IconDark)
	t.SubscriptionSchema = orEmpty(providerConfigs(c.get("subscription_schema"), mapExclusive))
	if sc := c.get("subscription_constructor"); sc.isMap() {
		t.SubscriptionConstructor = &SubscriptionConstructor{
			Parameters:        eventParameters(sc.get("parameters")),
			CredentialsSchema: orEmpty(providerConfigs(sc.get("credentials_schema"), mapExclusive)),
			OAuthSchema:       oauthSchema(sc.get("oauth_schema")),
		}
	}
	list := c.get("events")
	dup := newNames("event name")
	t.EventFiles = l.subFiles(list, "event", "events", func(n node) {
		e := l.event(n)
		dup.add(n.get("identity").get("name"), e.Identity.Name)
		t.Events = append(t.Events, e)
	})
	t.Source = l.pythonSource(c, "source", true)
	return t
}

func (l *loader) event(c node) Event {
	var e Event
	e.Identity = identity(c.get("identity"))
	e.Parameters = eventParameters(c.get("parameters"))
	e.Description = c.reqI18n("description")
	e.OutputSchema = c.get("output_schema").object()
	e.Source = l.pythonSource(c, "source", true)
	return e
}

func eventParameters(c node) []EventParameter {
	return orEmpty(namedList(c, "parameter name", eventParameter, func(p EventParameter) string { return p.Name }))
}

func eventParameter(c node) EventParameter {
	var p EventParameter
	p.Name = c.reqStr("name")
	p.Label = c.reqI18n("label")
	p.Type = c.reqStr("type")
	oneOf(c.get("type"), p.Type, eventParamTypes, "parameter type")
	p.AutoGenerate = autoGenerate(c.get("auto_generate"))
	p.Template = template(c.get("template"))
	p.Scope = c.get("scope").strPtr()
	checkScope(c.get("scope"), p.Type, p.Scope)
	p.Required = c.get("required").boolean()
	p.Multiple = c.get("multiple").boolean()
	p.Default = c.get("default").value()
	p.Min = c.get("min").floatPtr()
	p.Max = c.get("max").floatPtr()
	p.Precision = c.get("precision").intPtr()
	if oc := c.get("options"); oc.isList() {
		for _, o := range oc.items() {
			if o.isMap() {
				vc := o.get("value")
				if vc.isNull() {
					vc.strictf("is required")
				}
				p.Options = append(p.Options, EventOption{Label: o.reqI18n("label"), Value: vc.value()})
			}
		}
	}
	if (p.Type == "select" || p.Type == "checkbox") && len(p.Options) == 0 {
		c.get("options").strictf("a %s parameter needs options", p.Type)
	}
	p.Description = c.optI18n("description")
	return p
}
