package manifest

import (
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Plugin is a plugin declaration: manifest.yaml with the provider files it names resolved.
// Its JSON form is the reference daemon's PluginDeclaration, which Dify reads.
type Plugin struct {
	Version     string     `json:"version"`
	Type        string     `json:"type"`
	Author      string     `json:"author"`
	Name        string     `json:"name"`
	Label       I18n       `json:"label"`
	Description I18n       `json:"description"`
	Icon        string     `json:"icon"`
	IconDark    string     `json:"icon_dark"`
	Resource    Resource   `json:"resource"`
	Plugins     Extensions `json:"plugins"`
	Meta        Meta       `json:"meta"`
	Tags        []string   `json:"tags"`
	CreatedAt   time.Time  `json:"created_at"`
	Privacy     *string    `json:"privacy,omitempty"`
	Repo        *string    `json:"repo,omitempty"`
	// Verified is set by whoever checks the package signature; Load leaves it false whatever
	// manifest.yaml says, as the reference does.
	Verified bool `json:"verified"`

	Endpoint      *EndpointProvider      `json:"endpoint,omitempty"`
	Model         *ModelProvider         `json:"model,omitempty"`
	Tool          *ToolProvider          `json:"tool,omitempty"`
	AgentStrategy *AgentStrategyProvider `json:"agent_strategy,omitempty"`
	Datasource    *DatasourceProvider    `json:"datasource,omitempty"`
	Trigger       *TriggerProvider       `json:"trigger,omitempty"`
}

// Resource is what the plugin needs from its host.
type Resource struct {
	Memory     int64       `json:"memory"` // bytes
	Permission *Permission `json:"permission,omitempty"`
}

// Permission lists what the plugin may call back into Dify for.
type Permission struct {
	Tool     *Switch            `json:"tool,omitempty"`
	Model    *ModelPermission   `json:"model,omitempty"`
	Node     *Switch            `json:"node,omitempty"`
	Endpoint *Switch            `json:"endpoint,omitempty"`
	App      *Switch            `json:"app,omitempty"`
	Storage  *StoragePermission `json:"storage,omitempty"`
}

// Switch is a permission that is only on or off.
type Switch struct {
	Enabled bool `json:"enabled"`
}

// ModelPermission says which kinds of models the plugin may invoke.
type ModelPermission struct {
	Enabled       bool `json:"enabled"`
	LLM           bool `json:"llm"`
	TextEmbedding bool `json:"text_embedding"`
	Rerank        bool `json:"rerank"`
	TTS           bool `json:"tts"`
	Speech2Text   bool `json:"speech2text"`
	Moderation    bool `json:"moderation"`
}

// StoragePermission grants a key-value storage of Size bytes.
type StoragePermission struct {
	Enabled bool   `json:"enabled"`
	Size    uint64 `json:"size"`
}

// Extensions lists the provider files of each kind, as written in manifest.yaml.
type Extensions struct {
	Tools           []string `json:"tools"`
	Models          []string `json:"models"`
	Endpoints       []string `json:"endpoints"`
	AgentStrategies []string `json:"agent_strategies"`
	Datasources     []string `json:"datasources"`
	Triggers        []string `json:"triggers"`
}

// Meta says how to run the plugin.
type Meta struct {
	Version            string   `json:"version"`
	Arch               []string `json:"arch"`
	Runner             Runner   `json:"runner"`
	MinimumDifyVersion *string  `json:"minimum_dify_version"`
}

// Runner is the plugin's language runtime and entry point.
type Runner struct {
	Language   string `json:"language"`
	Version    string `json:"version"`
	Entrypoint string `json:"entrypoint"`
}

// Categories, as Category returns them.
const (
	CategoryTool          = "tool"
	CategoryModel         = "model"
	CategoryExtension     = "extension"
	CategoryAgentStrategy = "agent-strategy"
	CategoryDatasource    = "datasource"
	CategoryTrigger       = "trigger"
)

// Category derives the plugin's category from what it declares, with the reference's
// precedence: tool > model > datasource > agent-strategy > trigger > extension.
func (p *Plugin) Category() string {
	switch {
	case p.Tool != nil || len(p.Plugins.Tools) > 0:
		return CategoryTool
	case p.Model != nil || len(p.Plugins.Models) > 0:
		return CategoryModel
	case p.Datasource != nil || len(p.Plugins.Datasources) > 0:
		return CategoryDatasource
	case p.AgentStrategy != nil || len(p.Plugins.AgentStrategies) > 0:
		return CategoryAgentStrategy
	case p.Trigger != nil || len(p.Plugins.Triggers) > 0:
		return CategoryTrigger
	}
	return CategoryExtension
}

// Identity is "author/name:version", or "name:version" without an author; with "@checksum"
// appended it is the plugin's unique identifier.
func (p *Plugin) Identity() string {
	if p.Author == "" {
		return p.Name + ":" + p.Version
	}
	return p.Author + "/" + p.Name + ":" + p.Version
}

// AssetFiles lists the files under _assets/ that the declaration refers to (icons), as paths
// inside the plugin, sorted and without duplicates, so that a daemon can serve them. Icons
// whose path would leave _assets/ are left out.
func (p *Plugin) AssetFiles() []string {
	var names []string
	p.eachIcon(func(s *string) {
		if *s != "" && fs.ValidPath(*s) {
			names = append(names, assetPath(*s))
		}
	})
	slices.Sort(names)
	return slices.Compact(names)
}

// RenameAssets replaces every icon reference (a file name under _assets/) with rename's
// answer: a daemon stores icons apart from the package and shows their new names.
func (p *Plugin) RenameAssets(rename func(name string) string) {
	p.eachIcon(func(s *string) {
		if *s != "" {
			*s = rename(*s)
		}
	})
}

// eachIcon calls fn with every field of the declaration that names an icon.
func (p *Plugin) eachIcon(fn func(*string)) {
	i18n := func(v *I18n) {
		if v != nil {
			fn(&v.EnUS)
			fn(&v.ZhHans)
			fn(&v.JaJP)
			fn(&v.PtBR)
		}
	}
	fn(&p.Icon)
	fn(&p.IconDark)
	if t := p.Tool; t != nil {
		fn(&t.Identity.Icon)
		fn(&t.Identity.IconDark)
	}
	if a := p.AgentStrategy; a != nil {
		fn(&a.Identity.Icon)
		fn(&a.Identity.IconDark)
	}
	if t := p.Trigger; t != nil {
		fn(&t.Identity.Icon)
		fn(&t.Identity.IconDark)
	}
	if d := p.Datasource; d != nil {
		fn(&d.Identity.Icon)
		for i := range d.Datasources {
			fn(&d.Datasources[i].Identity.Icon)
		}
	}
	if m := p.Model; m != nil {
		i18n(m.IconSmall)
		i18n(m.IconLarge)
		i18n(m.IconSmallDark)
		i18n(m.IconLargeDark)
	}
}

func assetPath(icon string) string { return "_assets/" + icon }

var (
	// manifestVersion is the version format the reference packager requires.
	manifestVersion = regexp.MustCompile(`^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$`)
	// identifierVersion is the version part of the unique-identifier pattern the daemon checks
	// at install: looser (2 to 4 parts) than manifestVersion.
	identifierVersion = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,4}){1,3}(-\w{1,16})?$`)
	authorPattern     = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	namePattern       = regexp.MustCompile(`^[a-z0-9_-]{1,128}$`)
	uuidPattern       = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$`)
)

var (
	arches        = []string{"amd64", "arm64"}
	languages     = []string{"python"}
	permissionSet = []string{"tool", "model", "node", "endpoint", "app", "storage"}
	modelPermSet  = []string{"enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"}
)

const (
	minStorage = 1024
	maxStorage = 1 << 30
)

func (l *loader) load() *Plugin {
	f := l.openYAML(manifestFile, nil, true)
	if f == nil {
		return nil
	}
	return l.decode(f)
}

// decode decodes and checks the manifest f and everything it refers to: the part of Load
// and FromRegistration that is the same for files and for registration messages.
func (l *loader) decode(f *yamlFile) *Plugin {
	root := f.top(true)
	if f.root != nil && f.root.Kind != yaml.MappingNode {
		root.problem(false, "manifest must be a mapping of fields, found %s", kindName(f.root))
		return nil
	}
	if f.root == nil {
		l.fileProblem(f.name, 0, true, "%s", f.emptyMessage())
	}
	root.isMap()
	p := &Plugin{}
	l.manifest(root, p)
	l.installChecks(root, p)
	l.providers(root, p)
	l.assets(root, p)
	if !l.remote {
		l.packageFiles(root, p)
	}
	for _, yf := range l.files {
		if yf != nil {
			yf.checkKeys()
		}
	}
	p.fillDefaults()
	return p
}

// manifest decodes the fields of manifest.yaml and applies the packager's checks to them.
func (l *loader) manifest(c node, p *Plugin) {
	vc := c.get("version")
	p.Version = vc.str()
	switch {
	case p.Version == "":
		vc.problem(false, "is required")
	case !identifierVersion.MatchString(p.Version):
		vc.problem(false, "version %q is not valid; expected major.minor.patch, e.g. 0.0.1", p.Version)
	case !manifestVersion.MatchString(p.Version):
		vc.strictf("version %q is not valid; expected major.minor.patch with at most 4 digits each and an optional -suffix, e.g. 1.2.3-beta", p.Version)
	}
	p.Type = c.reqStr("type")
	if p.Type != "" && p.Type != "plugin" {
		c.get("type").strictf("must be %q, found %q", "plugin", p.Type)
	}
	p.Author = c.get("author").str()
	p.Name = c.get("name").str()
	p.Label = c.reqI18n("label")
	p.Description = c.reqI18n("description")
	p.Icon = c.reqStr("icon")
	maxLen(c.get("icon"), p.Icon, 128)
	p.IconDark = c.get("icon_dark").str()
	maxLen(c.get("icon_dark"), p.IconDark, 128)
	l.resource(c.get("resource"), p)
	l.meta(c.get("meta"), p)

	tc := c.get("tags")
	p.Tags = tc.strList()
	checkTags(tc, p.Tags)

	l.createdAt(c.get("created_at"), p)
	p.Privacy = c.get("privacy").strPtr()
	rc := c.get("repo")
	p.Repo = rc.strPtr()
	if p.Repo != nil && *p.Repo != "" && !isURL(*p.Repo) {
		rc.strictf("%q is not a URL", *p.Repo)
	}
	c.get("verified").boolean() // decoded by the reference, then overwritten

	pc := c.get("plugins")
	if pc.isMap() {
		p.Plugins = Extensions{
			Tools:           pluginFiles(pc.get("tools")),
			Models:          pluginFiles(pc.get("models")),
			Endpoints:       pluginFiles(pc.get("endpoints")),
			AgentStrategies: pluginFiles(pc.get("agent_strategies")),
			Datasources:     pluginFiles(pc.get("datasources")),
			Triggers:        pluginFiles(pc.get("triggers")),
		}
		if l.remote {
			// The SDK sends [] for each list manifest.yaml leaves out, which a package's
			// declaration serves as null.
			for _, list := range []*[]string{&p.Plugins.Tools, &p.Plugins.Models, &p.Plugins.Endpoints,
				&p.Plugins.AgentStrategies, &p.Plugins.Datasources, &p.Plugins.Triggers} {
				if len(*list) == 0 {
					*list = nil
				}
			}
		}
	}
}

func pluginFiles(c node) []string {
	files := c.strList()
	for i, f := range files {
		maxLen(c.items()[i], f, 128)
	}
	return files
}

func (l *loader) resource(c node, p *Plugin) {
	if !c.isMap() {
		if c.isNull() {
			c.strictf("is required (with memory)")
		}
		return
	}
	mc := c.get("memory")
	decoded := mc.decodeScalar(&p.Resource.Memory, "an integer")
	if p.Resource.Memory <= 0 && (decoded || mc.isNull()) {
		mc.strictf("must be a number of bytes greater than 0")
	}
	pc := c.get("permission")
	if !pc.isMap() {
		return
	}
	perm := &Permission{}
	p.Resource.Permission = perm
	for _, e := range pc.entries() {
		if !slices.Contains(permissionSet, e.key) {
			e.val.advisoryf("unknown permission %q; expected one of %s", e.key, strings.Join(permissionSet, ", "))
		}
	}
	sw := func(c node) *Switch {
		if !c.isMap() {
			return nil
		}
		unknownKeys(c, []string{"enabled"}, "key")
		return &Switch{Enabled: c.get("enabled").boolean()}
	}
	perm.Tool = sw(pc.get("tool"))
	perm.Node = sw(pc.get("node"))
	perm.Endpoint = sw(pc.get("endpoint"))
	perm.App = sw(pc.get("app"))
	if m := pc.get("model"); m.isMap() {
		unknownKeys(m, modelPermSet, "model permission")
		perm.Model = &ModelPermission{
			Enabled:       m.get("enabled").boolean(),
			LLM:           m.get("llm").boolean(),
			TextEmbedding: m.get("text_embedding").boolean(),
			Rerank:        m.get("rerank").boolean(),
			TTS:           m.get("tts").boolean(),
			Speech2Text:   m.get("speech2text").boolean(),
			Moderation:    m.get("moderation").boolean(),
		}
	}
	if s := pc.get("storage"); s.isMap() {
		unknownKeys(s, []string{"enabled", "size"}, "key")
		perm.Storage = &StoragePermission{Enabled: s.get("enabled").boolean(), Size: s.get("size").uint64()}
		if perm.Storage.Enabled && (perm.Storage.Size < minStorage || perm.Storage.Size > maxStorage) {
			s.get("size").strictf("storage size %d is out of range; expected %d to %d bytes", perm.Storage.Size, minStorage, maxStorage)
		}
	}
}

// unknownKeys reports keys of a closed mapping (the permission tree) that mean nothing: most
// likely a typo that silently withholds a permission.
func unknownKeys(c node, known []string, what string) {
	for _, e := range c.entries() {
		if !slices.Contains(known, e.key) {
			e.val.advisoryf("unknown %s %q; expected one of %s", what, e.key, strings.Join(known, ", "))
		}
	}
}

func (l *loader) meta(c node, p *Plugin) {
	if !c.isMap() {
		if c.isNull() {
			c.strictf("is required (with version, arch and runner)")
		}
		return
	}
	m := &p.Meta
	vc := c.get("version")
	m.Version = c.reqStr("version")
	if m.Version != "" && !manifestVersion.MatchString(m.Version) {
		vc.strictf("version %q is not valid; expected major.minor.patch, e.g. 0.0.1", m.Version)
	}
	ac := c.get("arch")
	m.Arch = ac.strList()
	if len(m.Arch) == 0 && (ac.isNull() || ac.n.Kind == yaml.SequenceNode) {
		ac.strictf("is required: list amd64, arm64 or both")
	}
	for i, a := range m.Arch {
		oneOf(ac.items()[i], a, arches, "arch")
	}
	rc := c.get("runner")
	if rc.isMap() {
		m.Runner.Language = rc.reqStr("language")
		oneOf(rc.get("language"), m.Runner.Language, languages, "runner language")
		m.Runner.Version = rc.reqStr("version")
		maxLen(rc.get("version"), m.Runner.Version, 128)
		m.Runner.Entrypoint = rc.reqStr("entrypoint")
		maxLen(rc.get("entrypoint"), m.Runner.Entrypoint, 256)
		l.entrypoint(rc.get("entrypoint"), m.Runner)
	} else if rc.isNull() {
		rc.strictf("is required (with language, version and entrypoint)")
	}
	mc := c.get("minimum_dify_version")
	m.MinimumDifyVersion = mc.strPtr()
	if v := m.MinimumDifyVersion; v != nil && *v != "" && !manifestVersion.MatchString(*v) {
		// The reference validates nothing here and the plugin runs: only advisory.
		mc.advisoryf("version %q is not valid; expected major.minor.patch, e.g. 1.9.0", *v)
	}
}

// entrypoint checks that the module the runner starts (python -m <entrypoint>) exists.
func (l *loader) entrypoint(c node, r Runner) {
	if r.Language != "python" || r.Entrypoint == "" {
		return
	}
	mod := strings.ReplaceAll(r.Entrypoint, ".", "/")
	if !refPath(c, mod+".py", true) || l.remote {
		return
	}
	if !l.exists(mod+".py") && !l.exists(mod+"/__main__.py") {
		c.strictf("entry point %q does not exist (python -m %s needs %s)", mod+".py", r.Entrypoint, mod+".py")
	}
}

func (l *loader) createdAt(c node, p *Plugin) {
	if c.isNull() {
		c.strictf("is required: the creation time in RFC 3339 form, e.g. 2024-09-20T08:03:44Z")
		return
	}
	// The SDK sends a time written without a zone (such as "2024-09-20" or
	// "2024-09-20 08:03:44", which Load takes as UTC, as yaml.v3 does) in ISO form without
	// one; taken alike, it gets the same warning.
	if c.f.json && c.n.Kind == yaml.ScalarNode && c.n.ShortTag() == "!!str" {
		if t, err := time.Parse("2006-01-02T15:04:05.999999999", c.n.Value); err == nil {
			p.CreatedAt = t
			c.strictf("%q is not an RFC 3339 time, e.g. 2024-09-20T08:03:44Z", c.n.Value)
			return
		}
	}
	// The reference decodes it into a time.Time with yaml.v3, which also takes forms such as
	// "2024-09-20" or "2024-09-20 08:03:44"; anything else fails its install.
	if !c.decodeScalar(&p.CreatedAt, "a time, e.g. 2024-09-20T08:03:44Z") {
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, c.n.Value); err != nil {
		c.strictf("%q is not an RFC 3339 time, e.g. 2024-09-20T08:03:44Z", c.n.Value)
	}
}

// isURL follows the reference validator's url rule: a scheme, and a host, fragment or opaque
// part (file: URLs need only their scheme).
func isURL(s string) bool {
	s = strings.ToLower(s)
	if strings.HasPrefix(s, "file:") {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return false
	}
	return u.Host != "" || u.Fragment != "" || u.Opaque != ""
}

// installChecks are the checks the reference daemon makes on every install
// (ManifestValidate and the unique identifier); failing any refuses the plugin.
func (l *loader) installChecks(c node, p *Plugin) {
	ac := c.get("author")
	switch {
	case !authorPattern.MatchString(p.Author):
		ac.problem(false, "author %q is not valid: 1 to 64 characters from a-z, 0-9, _ and -", p.Author)
	case uuidPattern.MatchString(p.Author):
		ac.problem(false, "author %q is a UUID, which the daemon reserves for plugins under remote debugging", p.Author)
	}
	if !namePattern.MatchString(p.Name) {
		c.get("name").problem(false, "name %q is not valid: 1 to 128 characters from a-z, 0-9, _ and -", p.Name)
	}

	pc := c.get("plugins")
	declared := p.declaredKinds()
	if len(declared) == 0 {
		pc.problem(false, "declares no provider: at least one of tools, models, endpoints, agent_strategies, datasources or triggers is needed")
		return
	}
	if len(declared) > 1 && !slices.Equal(declared, []string{"tools", "endpoints"}) {
		pc.problem(false, "declares %s; only tools and endpoints can be combined (models, agent_strategies, datasources and triggers must each stand alone)",
			strings.Join(declared, " and "))
	}
}

// declaredKinds lists the kinds of provider manifest.yaml declares, in manifest order.
func (p *Plugin) declaredKinds() []string {
	var kinds []string
	for _, k := range []struct {
		name  string
		files []string
	}{
		{"tools", p.Plugins.Tools}, {"models", p.Plugins.Models}, {"endpoints", p.Plugins.Endpoints},
		{"agent_strategies", p.Plugins.AgentStrategies}, {"datasources", p.Plugins.Datasources}, {"triggers", p.Plugins.Triggers},
	} {
		if len(k.files) > 0 {
			kinds = append(kinds, k.name)
		}
	}
	return kinds
}

// providers reads every provider file listed under plugins.
func (l *loader) providers(c node, p *Plugin) {
	pc := c.get("plugins")
	kinds := []struct {
		key  string
		what string
		load func(*yamlFile)
	}{
		{"tools", "tool provider", func(f *yamlFile) { p.Tool = l.toolProvider(f) }},
		{"models", "model provider", func(f *yamlFile) { p.Model = l.modelProvider(f) }},
		{"endpoints", "endpoint group", func(f *yamlFile) { p.Endpoint = l.endpointProvider(f) }},
		{"agent_strategies", "agent strategy provider", func(f *yamlFile) { p.AgentStrategy = l.agentProvider(f) }},
		{"datasources", "datasource provider", func(f *yamlFile) { p.Datasource = l.datasourceProvider(f) }},
		{"triggers", "trigger provider", func(f *yamlFile) { p.Trigger = l.triggerProvider(f) }},
	}
	for _, k := range kinds {
		list := pc.get(k.key)
		items := list.items()
		if len(items) > 1 {
			list.strictf("lists %d files; a plugin has one %s (the reference daemon keeps only the last)", len(items), k.what)
		}
		if l.remote {
			l.remoteProvider(k.key, list, k.load)
			continue
		}
		for _, it := range items {
			name := it.str()
			if it.n.Kind != yaml.ScalarNode || !refPath(it, name, false) {
				continue
			}
			if f := l.openYAML(name, &it, true); f != nil {
				k.load(f)
			}
		}
	}
}

// providerFile reads a file named by a provider (a tool, an endpoint, a strategy, ...) and
// checks it is a mapping: the reference decodes each into a struct.
func (l *loader) providerFile(ref node) *yamlFile {
	name := ref.str()
	if !refPath(ref, name, false) {
		return nil
	}
	return l.openYAML(name, &ref, true)
}

// fileRoot returns the root of a declaration file, checking it is a mapping. An empty file
// decodes to an empty declaration in the reference; it is reported once, not field by field.
func (f *yamlFile) fileRoot() (node, bool) {
	root := f.top(true)
	if f.root == nil {
		f.l.fileProblem(f.name, 0, true, "%s", f.emptyMessage())
		return root, false
	}
	if f.root.Kind != yaml.MappingNode {
		root.problem(false, "expected a mapping of fields, found %s", kindName(f.root))
		return root, false
	}
	root.isMap()
	return root, true
}

// subFiles walks the list of nested declarations of a provider (tools, endpoints, strategies,
// datasources, events). The reference reads scalars as file paths and mappings as inline
// declarations; the Python SDK accepts only file paths. It returns the paths as listed and
// reports a provider that declares none (plural names them in that message).
func (l *loader) subFiles(list node, what, plural string, decode func(n node)) (files []string) {
	declared := 0
	defer func() {
		if declared == 0 {
			list.strictf("declares no %s", plural)
		}
	}()
	if list.isNull() {
		return nil
	}
	if list.n.Kind != yaml.SequenceNode {
		// The reference ignores anything but a list here.
		form := "files"
		if l.remote {
			form = "declarations"
		}
		list.strictf("expected a list of %s %s, found %s", what, form, kindName(list.n))
		return nil
	}
	for _, it := range list.items() {
		switch it.n.Kind {
		case yaml.ScalarNode:
			if l.remote {
				// The SDK sends every declaration resolved: a path here names nothing sent.
				it.problem(false, "expected the %s declaration itself, found %s; a registration carries no files", what, kindName(it.n))
				continue
			}
			files = append(files, it.n.Value)
			declared++
			f := l.providerFile(it)
			if f == nil {
				continue
			}
			if root, ok := f.fileRoot(); ok {
				decode(root)
			}
		case yaml.MappingNode:
			if !l.remote {
				it.strictf("inline %s declarations are not loaded by the Python SDK; put it in a file and list its path", what)
			}
			declared++
			decode(it)
		default:
			it.strictf("expected a %s file path, found %s", what, kindName(it.n))
		}
	}
	return files
}

// assets checks that every icon the declaration names exists under _assets/, as the
// reference packager does (the daemon does not check them at install).
func (l *loader) assets(c node, p *Plugin) {
	check := func(c node, icon string) {
		if icon == "" {
			return
		}
		if clean := path.Clean(icon); path.IsAbs(icon) || strings.HasPrefix(icon, `\`) || clean == ".." || strings.HasPrefix(clean, "../") {
			// Hostile rather than sloppy: refused at install too (not strict).
			c.problem(false, "icon %q points outside _assets/", icon)
			return
		}
		if !fs.ValidPath(icon) {
			c.strictf("icon %q must be a clean relative path inside _assets/", icon)
			return
		}
		switch {
		case l.remote && !l.exists(assetPath(icon)):
			c.strictf("icon %q is not among the files received from _assets/", icon)
		case !l.exists(assetPath(icon)):
			c.strictf("icon %q not found in _assets/", icon)
		}
	}
	check(c.get("icon"), p.Icon)
	check(c.get("icon_dark"), p.IconDark)
	for _, ic := range l.icons {
		check(ic.at, ic.name)
	}
}

// packageFiles checks files that no declaration names but that a working plugin needs.
func (l *loader) packageFiles(c node, p *Plugin) {
	// The daemon's readme service and the Marketplace require an English README.md; the
	// packager does not check it and the plugin installs and runs without it (a private
	// plugin needs no Marketplace page), so it is only advisory.
	if !l.exists("README.md") {
		l.add(Problem{File: "README.md", Message: "README.md does not exist; the daemon's readme service and the Marketplace need it", Strict: true, Advisory: true})
	}
	// The daemon builds the Python environment from one of these and fails the install
	// without either.
	if p.Meta.Runner.Language == "python" && !l.exists("requirements.txt") && !l.exists("pyproject.toml") {
		c.get("meta").get("runner").get("language").strictf("neither requirements.txt nor pyproject.toml exists; the daemon cannot install the Python dependencies")
	}
}

// fillDefaults copies the manifest's description and tags into provider identities that lack
// them, as the reference does before serving JSON. Lists the reference leaves null when
// absent stay nil, so that the JSON is the same.
func (p *Plugin) fillDefaults() {
	if p.Tags == nil {
		p.Tags = []string{}
	}
	fill := func(id *ProviderIdentity) {
		if id.Description.EnUS == "" {
			id.Description = p.Description
		}
		if len(id.Tags) == 0 {
			id.Tags = slices.Clone(p.Tags)
		}
	}
	if p.Tool != nil {
		fill(&p.Tool.Identity)
	}
	if p.Trigger != nil {
		fill(&p.Trigger.Identity)
	}
	if p.Model != nil && p.Model.Description == nil {
		d := p.Description
		p.Model.Description = &d
	}
}
