package manifest

// EndpointProvider is an endpoint group file (plugins.endpoints) with its endpoints resolved.
type EndpointProvider struct {
	Settings  []ProviderConfig `json:"settings"`
	Endpoints []Endpoint       `json:"endpoints"`
	// EndpointFiles are the endpoint files as listed in the group file.
	EndpointFiles []string `json:"-"`
}

// Endpoint is one HTTP route the plugin serves.
type Endpoint struct {
	Path   string `json:"path"`
	Method string `json:"method"`
	Hidden bool   `json:"hidden"`
	Source string `json:"-"`
}

var endpointMethods = []string{"HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS"}

func (l *loader) endpointProvider(f *yamlFile) *EndpointProvider {
	c, ok := f.fileRoot()
	if !ok {
		return nil
	}
	e := &EndpointProvider{Endpoints: []Endpoint{}}
	// Unlike credentials, the reference decodes settings as a list only.
	e.Settings = providerConfigs(c.get("settings"), listOnly)
	list := c.get("endpoints")
	routes := newNames("route")
	e.EndpointFiles = l.subFiles(list, "endpoint", "endpoints", func(n node) {
		ep := l.endpoint(n)
		routes.add(n.get("path"), ep.Method+" "+ep.Path)
		e.Endpoints = append(e.Endpoints, ep)
	})
	return e
}

func (l *loader) endpoint(c node) Endpoint {
	var e Endpoint
	e.Path = c.reqStr("path")
	e.Method = c.reqStr("method")
	oneOf(c.get("method"), e.Method, endpointMethods, "HTTP method")
	e.Hidden = c.get("hidden").boolean()
	e.Source = l.pythonSource(c, "source", true)
	return e
}
