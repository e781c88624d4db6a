package manifest

import "go.yaml.in/yaml/v3"

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
	for _, it := range list.items() {
		if it.n.Kind == yaml.ScalarNode {
			e.EndpointFiles = append(e.EndpointFiles, it.n.Value)
		}
	}
	routes := newNames("route")
	l.subFiles(list, "endpoint", func(n node) {
		ep := l.endpoint(n)
		routes.add(n.get("path"), ep.Method+" "+ep.Path)
		e.Endpoints = append(e.Endpoints, ep)
	})
	if len(e.Endpoints) == 0 && len(e.EndpointFiles) == 0 {
		list.strictf("declares no endpoints")
	}
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
