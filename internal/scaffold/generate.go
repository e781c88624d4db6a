package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// SDKRequirement is the dify_plugin requirement written to requirements.txt and
// pyproject.toml. 0.7.x is the newest line that installs on Python 3.11, 0.8 and later need
// 3.12; the generated code is written against the API common to 0.7 through 0.10, so pip
// or uv pick whichever line the interpreter supports.
const SDKRequirement = "dify_plugin>=0.7.0,<0.11.0"

// templates holds the text/template sources. text/template, not html/template: the
// generated files are YAML, Python and Markdown, and HTML escaping would corrupt user text
// (the reference writes &#39; into descriptions).
//
//go:embed templates
var templates embed.FS

// File is one generated file, its path relative to the plugin folder with forward slashes.
type File struct {
	Path    string
	Data    []byte
	Purpose string // one line for GUIDE.md and `init --json`
}

// modelKind is what differs between the six model categories.
type modelKind struct {
	Type      string // model_type and supported_model_types value
	Key       string // key under the provider's models: and folder name under models/
	Enum      string // member of the SDK's ModelType enum
	Model     string // name of the generated demo model
	Label     string
	Behaviour string // what the demo model does, for README.md
}

// modelKindOf returns what the model category c generates; ok is false for other categories.
func modelKindOf(c Category) (k modelKind, ok bool) {
	switch c {
	case LLM:
		return modelKind{"llm", "llm", "LLM", "echo-1", "Echo 1", "it answers with the last user message, streamed in small chunks."}, true
	case TextEmbedding:
		return modelKind{"text-embedding", "text_embedding", "TEXT_EMBEDDING", "hash-embed-1", "Hash Embed 1", "it turns each text into a 256-dimension vector by hashing its words."}, true
	case Rerank:
		return modelKind{"rerank", "rerank", "RERANK", "overlap-rerank-1", "Overlap Rerank 1", "it scores each document by the share of query words it contains."}, true
	case TTS:
		return modelKind{"tts", "tts", "TTS", "tone-tts-1", "Tone TTS 1", "it plays one short tone per word, as WAV audio."}, true
	case Speech2Text:
		return modelKind{"speech2text", "speech2text", "SPEECH2TEXT", "size-transcribe-1", "Size Transcribe 1", "it reports the size and format of the audio instead of a transcript."}, true
	case Moderation:
		return modelKind{"moderation", "moderation", "MODERATION", "wordlist-moderation-1", "Wordlist Moderation 1", "it flags texts that contain one of the blocked words set in the provider credentials."}, true
	}
	return modelKind{}, false
}

// data is what the templates see.
type data struct {
	Options
	Cat         string // Category as a plain string, for eq in templates
	Label       string // display name derived from Name
	Class       string // CamelCase prefix for Python class names
	Initial     string // letter drawn in the icons
	ProjectName string // PEP 508 project name for pyproject.toml
	SDK         string
	CreatedAt   string
	Kind        string // key under plugins: in the manifest
	Perm        Permissions
	Tags        []string
	Model       modelKind
	Lang        string // README translation being rendered
	Files       []File // every file, for GUIDE.md

	ProviderFile, ProviderPy     string
	ToolFile, ToolPy             string
	EventFile, EventPy           string
	EndpointFile, EndpointPy     string
	EndpointPath                 string
	StrategyFile, StrategyPy     string
	DatasourceFile, DatasourcePy string
}

// planned is a file before rendering: its output path, template and purpose, and for a
// README translation its language.
type planned struct {
	path, tmpl, purpose, lang string
}

// Render validates the options and renders every file of the plugin in memory, sorted by
// path. Nothing is written; see Write and Generate.
func Render(o Options) ([]File, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	d := newData(o)
	plan := planFiles(&d)
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	// GUIDE.md lists every file, so the list is known before anything is rendered.
	for _, p := range plan {
		d.Files = append(d.Files, File{Path: p.path, Purpose: p.purpose})
	}
	files := make([]File, 0, len(plan))
	for _, p := range plan {
		d.Lang = p.lang
		b, err := execute(t, p.tmpl, d)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: p.path, Data: b, Purpose: p.purpose})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// parseTemplates parses every embedded template, named by its path under templates/ so
// that the provider.yaml.tmpl of one category does not replace another's (ParseFS would
// name them all by their base name).
func parseTemplates() (*template.Template, error) {
	root := template.New("").Option("missingkey=error").Funcs(template.FuncMap{"q": quote})
	err := fs.WalkDir(templates, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = root.New(strings.TrimPrefix(p, "templates/")).Parse(string(b))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scaffold templates: %w", err)
	}
	return root, nil
}

func execute(t *template.Template, name string, d data) ([]byte, error) {
	var buf bytes.Buffer
	tt := t.Lookup(name)
	if tt == nil {
		return nil, fmt.Errorf("scaffold: no template %s", name)
	}
	if err := tt.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("scaffold: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// newData derives the names the templates need from the validated options: a display
// label and Python class prefix from the plugin name, the effective permissions and tags.
func newData(o Options) data {
	parts := strings.FieldsFunc(o.Name, func(r rune) bool { return r == '_' || r == '-' })
	var label, class []string
	for _, p := range parts {
		c := strings.ToUpper(p[:1]) + p[1:]
		label = append(label, c)
		class = append(class, c)
	}
	d := data{
		Options:     o,
		Cat:         string(o.Category),
		Label:       strings.Join(label, " "),
		Class:       strings.Join(class, ""),
		Initial:     "P",
		ProjectName: strings.Trim(o.Name, "_-"),
		SDK:         SDKRequirement,
		CreatedAt:   o.CreatedAt.UTC().Format(time.RFC3339),
		Perm:        o.effectivePermissions(),
	}
	d.Model, _ = modelKindOf(o.Category)
	if d.Label == "" {
		d.Label = o.Name
	}
	if d.Class == "" || unicode.IsDigit(rune(d.Class[0])) {
		d.Class = "Plugin" + d.Class
	}
	if len(parts) > 0 {
		d.Initial = strings.ToUpper(parts[0][:1])
	}
	if d.ProjectName == "" {
		d.ProjectName = "dify-plugin"
	}
	switch o.Category {
	case Tool:
		d.Tags = []string{"utilities"}
	case Trigger:
		d.Tags = []string{"trigger"}
	case Extension:
		d.Tags = []string{"utilities"}
	case AgentStrategy:
		d.Tags = []string{"agent"}
	case Datasource:
		d.Tags = []string{"rag"}
	}
	return d
}

// planFiles lists the files of the category and fills in the paths the templates refer to.
func planFiles(d *data) []planned {
	n := d.Name
	d.ProviderFile, d.ProviderPy = "provider/"+n+".yaml", "provider/"+n+".py"
	plan := []planned{
		{"manifest.yaml", "common/manifest.yaml.tmpl", "plugin manifest: identity, permissions, declarations", ""},
		{"_assets/icon.svg", "common/icon.svg.tmpl", "icon", ""},
		{"_assets/icon-dark.svg", "common/icon-dark.svg.tmpl", "icon for dark mode", ""},
		{"README.md", "common/README.md.tmpl", "what users read in the Marketplace", ""},
		{"PRIVACY.md", "common/PRIVACY.md.tmpl", "privacy policy (rewrite before publishing)", ""},
		{"GUIDE.md", "common/GUIDE.md.tmpl", "this guide", ""},
		{".env.example", "common/env.example.tmpl", "remote debugging settings, copy to .env", ""},
		{".difyignore", "common/difyignore.tmpl", "paths left out of the package", ""},
		{".gitignore", "common/gitignore.tmpl", "paths left out of git", ""},
		{"main.py", "common/main.py.tmpl", "entry point the daemon runs (python -m main)", ""},
		{"requirements.txt", "common/requirements.txt.tmpl", "Python dependencies", ""},
		{"pyproject.toml", "common/pyproject.toml.tmpl", "Python project and dependencies (uv)", ""},
	}
	for _, lang := range d.I18nReadme {
		plan = append(plan, planned{"readme/README_" + lang + ".md", "common/README_i18n.md.tmpl", "README translation (" + lang + ")", lang})
	}
	add := func(p, tmpl, purpose string) { plan = append(plan, planned{p, tmpl, purpose, ""}) }
	switch c := d.Category; {
	case c == Tool:
		d.Kind = "tools"
		d.ToolFile, d.ToolPy = "tools/"+n+".yaml", "tools/"+n+".py"
		add(d.ProviderFile, "tool/provider.yaml.tmpl", "tool provider: identity, credentials, tools")
		add(d.ProviderPy, "tool/provider.py.tmpl", "credential check")
		add(d.ToolFile, "tool/tool.yaml.tmpl", "tool declaration: description, parameters")
		add(d.ToolPy, "tool/tool.py.tmpl", "tool implementation")
	case c == Trigger:
		d.Kind = "triggers"
		d.EventFile, d.EventPy = "events/payload_received.yaml", "events/payload_received.py"
		add(d.ProviderFile, "trigger/provider.yaml.tmpl", "trigger provider: subscription settings, events")
		add(d.ProviderPy, "trigger/provider.py.tmpl", "webhook check and dispatch, subscription constructor")
		add(d.EventFile, "trigger/event.yaml.tmpl", "event declaration: parameters, output variables")
		add(d.EventPy, "trigger/event.py.tmpl", "event implementation")
	case c == Extension:
		d.Kind = "endpoints"
		d.ProviderFile, d.ProviderPy = "group/"+n+".yaml", ""
		d.EndpointFile, d.EndpointPy = "endpoints/"+n+".yaml", "endpoints/"+n+".py"
		d.EndpointPath = "/" + n
		add(d.ProviderFile, "extension/group.yaml.tmpl", "endpoint group: settings, endpoints")
		add(d.EndpointFile, "extension/endpoint.yaml.tmpl", "endpoint declaration: path, method")
		add(d.EndpointPy, "extension/endpoint.py.tmpl", "endpoint implementation")
	case c == AgentStrategy:
		d.Kind = "agent_strategies"
		d.StrategyFile, d.StrategyPy = "strategies/"+n+".yaml", "strategies/"+n+".py"
		add(d.ProviderFile, "agent/provider.yaml.tmpl", "agent strategy provider: identity, strategies")
		add(d.ProviderPy, "agent/provider.py.tmpl", "provider class")
		add(d.StrategyFile, "agent/strategy.yaml.tmpl", "strategy declaration: parameters")
		add(d.StrategyPy, "agent/strategy.py.tmpl", "strategy implementation (function calling)")
	case c == Datasource:
		d.Kind = "datasources"
		d.DatasourceFile, d.DatasourcePy = "datasources/"+n+".yaml", "datasources/"+n+".py"
		add(d.ProviderFile, "datasource/provider.yaml.tmpl", "datasource provider: type, credentials")
		add(d.ProviderPy, "datasource/provider.py.tmpl", "credential check")
		add(d.DatasourceFile, "datasource/datasource.yaml.tmpl", "datasource declaration: parameters, output")
		add(d.DatasourcePy, "datasource/datasource.py.tmpl", "datasource implementation")
	case c.isModel():
		d.Kind = "models"
		k := d.Model.Key
		add(d.ProviderFile, "model/provider.yaml.tmpl", "model provider: model types, credentials, models")
		add(d.ProviderPy, "model/provider.py.tmpl", "credential check")
		add("models/"+k+"/_position.yaml", "model/position.yaml.tmpl", "order of the models")
		add("models/"+k+"/"+d.Model.Model+".yaml", "model/"+k+".yaml.tmpl", "model declaration: properties, parameters")
		add("models/"+k+"/"+k+".py", "model/"+k+".py.tmpl", "model implementation")
	}
	return plan
}

// Write creates dir and writes files into it. dir must not exist or be an empty folder:
// Write never overwrites anything. If writing fails, it removes what it created (the folder
// itself if it made it) and leaves everything that was there before.
func Write(dir string, files []File) (err error) {
	// created lists every file and folder Write made, in order; on failure they are removed
	// in reverse, so nothing that existed before is touched.
	created, err := prepareDir(dir)
	defer func() {
		if err == nil {
			return
		}
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}()
	if err != nil {
		return err
	}
	for _, f := range files {
		if !fs.ValidPath(f.Path) || f.Path == "." {
			return fmt.Errorf("scaffold: invalid file path %q", f.Path)
		}
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		parts := strings.Split(path.Dir(f.Path), "/")
		for i := range parts {
			if parts[0] == "." {
				break
			}
			sub := filepath.Join(dir, filepath.FromSlash(strings.Join(parts[:i+1], "/")))
			if err := os.Mkdir(sub, 0o755); err == nil {
				created = append(created, sub)
			} else if !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		fh, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		created = append(created, target)
		_, werr := fh.Write(f.Data)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", target, werr)
		}
	}
	return nil
}

// ErrNotEmpty is returned when the target folder already holds files.
var ErrNotEmpty = errors.New("folder exists and is not empty")

// prepareDir makes sure dir is a new or empty folder. It returns the folders it created
// (dir and any missing parents), outermost first.
func prepareDir(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		var missing []string
		for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
			if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
				break
			}
			missing = append(missing, d)
		}
		var created []string
		for i := len(missing) - 1; i >= 0; i-- {
			if err := os.Mkdir(missing[i], 0o755); err != nil {
				return created, err
			}
			created = append(created, missing[i])
		}
		return created, nil
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("%s exists and is not a folder", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("%s: %w; choose another name or remove it first", dir, ErrNotEmpty)
	}
	return nil, nil
}

// Generate validates o and writes a new plugin folder at dir (see Write for the rules).
func Generate(dir string, o Options) error {
	files, err := Render(o)
	if err != nil {
		return err
	}
	return Write(dir, files)
}

// quote returns s as a double-quoted scalar that reads back as exactly s in YAML (1.1 and
// 1.2) and in TOML. Every user-given value goes through it: plain YAML scalars would turn
// "yes", "1.0", "null", ": " or "#" into something else.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f,
			// line and paragraph separators are line breaks to YAML 1.1 readers (PyYAML)
			r == 0x2028, r == 0x2029, r == 0xfeff, r == 0xfffe, r == 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
