package manifest

// DatasourceProvider is a datasource provider file (plugins.datasources) with its
// datasources resolved.
type DatasourceProvider struct {
	Identity          DatasourceProviderIdentity `json:"identity"`
	CredentialsSchema []ProviderConfig           `json:"credentials_schema"`
	OAuthSchema       *OAuthSchema               `json:"oauth_schema"`
	ProviderType      string                     `json:"provider_type"`
	Datasources       []Datasource               `json:"datasources"`
	// DatasourceFiles are the datasource files as listed in the provider file.
	DatasourceFiles []string `json:"-"`
	Source          string   `json:"-"`
}

// DatasourceProviderIdentity identifies a datasource provider.
type DatasourceProviderIdentity struct {
	Author      string   `json:"author"`
	Name        string   `json:"name"`
	Description I18n     `json:"description"`
	Icon        string   `json:"icon"`
	Label       I18n     `json:"label"`
	Tags        []string `json:"tags"`
}

// Datasource is one datasource of a provider.
type Datasource struct {
	Identity     DatasourceIdentity    `json:"identity"`
	Parameters   []DatasourceParameter `json:"parameters"`
	Description  I18n                  `json:"description"`
	OutputSchema map[string]any        `json:"output_schema,omitempty"`
	Source       string                `json:"-"`
}

// DatasourceIdentity identifies a datasource inside its provider.
type DatasourceIdentity struct {
	Author string `json:"author"`
	Name   string `json:"name"`
	Label  I18n   `json:"label"`
	Icon   string `json:"icon"`
}

// DatasourceParameter is one parameter of a datasource.
type DatasourceParameter struct {
	Name         string            `json:"name"`
	Label        I18n              `json:"label"`
	Type         string            `json:"type"`
	Scope        *string           `json:"scope"`
	Required     bool              `json:"required"`
	AutoGenerate *AutoGenerate     `json:"auto_generate"`
	Template     *Template         `json:"template"`
	Default      any               `json:"default"`
	Min          *float64          `json:"min"`
	Max          *float64          `json:"max"`
	Precision    *int              `json:"precision"`
	Options      []ParameterOption `json:"options"`
	Description  I18n              `json:"description"`
}

var datasourceTypes = []string{"website_crawl", "online_document", "online_drive"}

func (l *loader) datasourceProvider(f *yamlFile) *DatasourceProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	d := &DatasourceProvider{Datasources: []Datasource{}}
	idc := c.get("identity")
	if idc.isMap() {
		id := &d.Identity
		id.Author = idc.reqStr("author")
		id.Name = idc.reqStr("name")
		checkIdentityName(idc.get("name"), id.Name)
		id.Description = idc.reqI18n("description")
		id.Icon = idc.reqStr("icon")
		l.icon(idc.get("icon"), id.Icon)
		id.Label = idc.reqI18n("label")
		id.Tags = idc.get("tags").strList()
		checkTags(idc.get("tags"), id.Tags)
	} else if idc.isNull() {
		idc.strictf("is required")
	}
	if d.Identity.Tags == nil {
		d.Identity.Tags = []string{}
	}
	d.CredentialsSchema = orEmpty(providerConfigs(c.get("credentials_schema"), mapLenient))
	d.OAuthSchema = oauthSchema(c.get("oauth_schema"))
	d.ProviderType = c.reqStr("provider_type")
	oneOf(c.get("provider_type"), d.ProviderType, datasourceTypes, "provider_type")
	list := c.get("datasources")
	dup := newNames("datasource name")
	d.DatasourceFiles = l.subFiles(list, "datasource", "datasources", func(n node) {
		ds := l.datasource(n)
		dup.add(n.get("identity").get("name"), ds.Identity.Name)
		d.Datasources = append(d.Datasources, ds)
	})
	d.Source = l.pythonSource(c, "source", true)
	return d
}

func (l *loader) datasource(c node) Datasource {
	var d Datasource
	idc := c.get("identity")
	if idc.isMap() {
		d.Identity.Author = idc.reqStr("author")
		d.Identity.Name = idc.reqStr("name")
		checkIdentityName(idc.get("name"), d.Identity.Name)
		d.Identity.Label = idc.reqI18n("label")
		d.Identity.Icon = idc.get("icon").str()
		l.icon(idc.get("icon"), d.Identity.Icon)
	} else if idc.isNull() {
		idc.strictf("is required")
	}
	d.Parameters = namedList(c.get("parameters"), "parameter name", datasourceParameter, func(p DatasourceParameter) string { return p.Name })
	d.Description = c.reqI18n("description")
	d.OutputSchema = c.get("output_schema").object()
	d.Source = l.pythonSource(c, "source", true)
	return d
}

func datasourceParameter(c node) DatasourceParameter {
	var p DatasourceParameter
	p.Name = c.reqStr("name")
	maxLen(c.get("name"), p.Name, 1023)
	p.Label = c.reqI18n("label")
	p.Type = c.reqStr("type")
	oneOf(c.get("type"), p.Type, datasourceParamTypes, "parameter type")
	p.Scope = c.get("scope").strPtr()
	p.Required = c.get("required").boolean()
	p.AutoGenerate = autoGenerate(c.get("auto_generate"))
	p.Template = template(c.get("template"))
	p.Default = c.get("default").value()
	p.Min = c.get("min").floatPtr()
	p.Max = c.get("max").floatPtr()
	p.Precision = c.get("precision").intPtr()
	p.Options = parameterOptions(c.get("options"))
	if p.Type == "select" && len(p.Options) == 0 {
		c.get("options").strictf("a select parameter needs options")
	}
	if len(p.Options) == 0 && c.f.l.remote {
		p.Options = nil // the SDK sends [] where the YAML has none, which a package serves as null
	}
	p.Description = c.reqI18n("description")
	return p
}
