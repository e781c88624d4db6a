// Package scaffold creates new plugin folders for `plugd plugin init`: a manifest, the
// provider and implementation files of one category, and the files every plugin needs
// (README, privacy policy, ignore lists, Python entry point and dependencies).
//
// Unlike the reference CLI, every generated folder validates, packages and starts under the
// dify-plugin SDK as it is written, user text is never HTML-escaped, and an existing folder
// is never overwritten.
package scaffold

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Category is the kind of plugin to create. The daemon derives a plugin's category from
// what its manifest declares; here it selects the files to generate.
type Category string

// The categories `plugin init` can create, with the names the reference CLI accepts.
const (
	Tool          Category = "tool"
	Trigger       Category = "trigger"
	Extension     Category = "extension" // endpoints only
	LLM           Category = "llm"
	TextEmbedding Category = "text-embedding"
	Rerank        Category = "rerank"
	TTS           Category = "tts"
	Speech2Text   Category = "speech2text"
	Moderation    Category = "moderation"
	AgentStrategy Category = "agent-strategy"
	Datasource    Category = "datasource"
)

// Categories returns every category in the order they are offered to users.
func Categories() []Category {
	return []Category{Tool, AgentStrategy, LLM, TextEmbedding, Rerank, TTS, Speech2Text,
		Moderation, Extension, Datasource, Trigger}
}

// Describe returns a one-line explanation of the category for prompts and help texts.
func (c Category) Describe() string {
	switch c {
	case Tool:
		return "tools that workflows, chatflows and agents can call"
	case Trigger:
		return "webhook events that start workflows"
	case Extension:
		return "HTTP endpoints served by Dify"
	case LLM:
		return "a large language model provider"
	case TextEmbedding:
		return "a text embedding model provider"
	case Rerank:
		return "a rerank model provider"
	case TTS:
		return "a text-to-speech model provider"
	case Speech2Text:
		return "a speech-to-text model provider"
	case Moderation:
		return "a content moderation model provider"
	case AgentStrategy:
		return "a reasoning strategy for agent nodes"
	case Datasource:
		return "a knowledge pipeline data source"
	}
	return ""
}

func (c Category) valid() bool {
	for _, k := range Categories() {
		if c == k {
			return true
		}
	}
	return false
}

// isModel reports whether the category is one of the model provider kinds.
func (c Category) isModel() bool {
	_, ok := modelKindOf(c)
	return ok
}

// Permissions are the backwards invocations the plugin asks for in resource.permission:
// what it may call in Dify. The daemon refuses any call the manifest does not allow.
type Permissions struct {
	Tool          bool
	Model         bool // any model; the fields below select which kinds
	LLM           bool
	TextEmbedding bool
	Rerank        bool
	TTS           bool
	Speech2Text   bool
	Moderation    bool
	Node          bool
	Endpoint      bool
	App           bool
	Storage       bool
	StorageSize   int64 // bytes of plugin key-value storage, 1024..1073741824; 0 means DefaultStorageSize
}

// Storage limits of resource.permission.storage.size, as the daemon and the SDK check them.
const (
	MinStorageSize     = 1024
	MaxStorageSize     = 1 << 30
	DefaultStorageSize = 1 << 20
)

// Options describe the plugin to create.
type Options struct {
	Name           string // ^[a-z0-9_-]{1,128}$; also the folder name
	Author         string // ^[a-z0-9_-]{1,64}$
	Description    string // English description, 1..1023 characters
	Repo           string // optional http(s) URL of the source repository
	Category       Category
	Language       string // only "python"; empty means python
	MinDifyVersion string // optional, e.g. 1.9.0
	Permissions    Permissions
	// I18nReadme lists extra README languages (zh_Hans, ja_JP, pt_BR) written as
	// readme/README_<lang>.md next to the English README.md.
	I18nReadme []string
	// CreatedAt becomes created_at in the manifest; zero means the time of Generate.
	CreatedAt time.Time
}

// FieldError is one invalid option. Field names the option as a flag would (name,
// min-dify-version, ...), so the command line can point at what to change.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9_-]{1,128}$`)
	authorRE     = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	versionRE    = regexp.MustCompile(`^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$`)
	pep440TailRE = regexp.MustCompile(`(?i)^((a|b|c|rc|alpha|beta|pre|preview)[._-]?\d*|(post|rev|r)[._-]?\d*|\d+|dev[._-]?\d*)$`)
)

// i18nReadmeLanguages returns the languages a README can be translated into besides
// English: the languages of the manifest's I18n objects.
func i18nReadmeLanguages() []string { return []string{"zh_Hans", "ja_JP", "pt_BR"} }

// checkName, checkAuthor, ... validate one option each; Ask uses them to re-ask a question
// with the reason, Validate to report every problem at once.
func checkName(s string) error {
	if !nameRE.MatchString(s) {
		return &FieldError{"name", s, "use 1 to 128 lowercase letters, digits, _ or - (^[a-z0-9_-]{1,128}$)"}
	}
	return nil
}

func checkAuthor(s string) error {
	if !authorRE.MatchString(s) {
		return &FieldError{"author", s, "use 1 to 64 lowercase letters, digits, _ or - (^[a-z0-9_-]{1,64}$)"}
	}
	return nil
}

func checkDescription(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return &FieldError{"description", "", "must not be empty"}
	case !utf8.ValidString(s):
		return &FieldError{"description", "", "is not valid UTF-8"}
	case utf8.RuneCountInString(s) > 1023:
		return &FieldError{"description", "", fmt.Sprintf("has %d characters, at most 1023 are allowed", utf8.RuneCountInString(s))}
	}
	return nil
}

func checkRepo(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &FieldError{"repo", s, "must be an http(s) URL such as https://github.com/you/plugin"}
	}
	return nil
}

func checkCategory(c Category) error {
	if !c.valid() {
		names := make([]string, 0, len(Categories()))
		for _, k := range Categories() {
			names = append(names, string(k))
		}
		return &FieldError{"category", string(c), "must be one of " + strings.Join(names, ", ")}
	}
	return nil
}

func checkLanguage(s string) error {
	if s != "" && s != "python" {
		return &FieldError{"language", s, "only python is supported"}
	}
	return nil
}

// checkMinDifyVersion accepts the manifest's version syntax, restricted to what the Python
// SDK can also parse (PEP 440): the SDK refuses to start a plugin whose
// meta.minimum_dify_version it cannot parse, and the manifest regex alone allows e.g. 1.0.0-foo.
func checkMinDifyVersion(s string) error {
	if s == "" {
		return nil
	}
	if !versionRE.MatchString(s) {
		return &FieldError{"min-dify-version", s, "use major.minor.patch with an optional -suffix, e.g. 1.9.0"}
	}
	if i := strings.IndexByte(s, '-'); i >= 0 && !pep440TailRE.MatchString(s[i+1:]) {
		return &FieldError{"min-dify-version", s, "the suffix must be a PEP 440 tag the plugin SDK understands (e.g. -beta1, -rc2, -post1, -dev3)"}
	}
	return nil
}

func checkStorageSize(n int64) error {
	if n < MinStorageSize || n > MaxStorageSize {
		return &FieldError{"storage-size", fmt.Sprint(n), fmt.Sprintf("must be between %d and %d bytes", MinStorageSize, MaxStorageSize)}
	}
	return nil
}

func checkI18nReadme(langs []string) error {
	for _, l := range langs {
		ok := false
		for _, k := range i18nReadmeLanguages() {
			ok = ok || l == k
		}
		if !ok {
			return &FieldError{"i18n-readme", l, "must be one of " + strings.Join(i18nReadmeLanguages(), ", ")}
		}
	}
	return nil
}

// Validate checks every option and returns all problems joined (each a *FieldError), or
// nil. It also fills in the defaults that cannot be wrong: language python, and a storage
// size of DefaultStorageSize when storage is allowed without a size (the reference writes 0,
// which no daemon accepts).
func (o *Options) Validate() error {
	if o.Language == "" {
		o.Language = "python"
	}
	if o.Permissions.Storage && o.Permissions.StorageSize == 0 {
		o.Permissions.StorageSize = DefaultStorageSize
	}
	errs := []error{
		checkName(o.Name),
		checkAuthor(o.Author),
		checkDescription(o.Description),
		checkRepo(o.Repo),
		checkCategory(o.Category),
		checkLanguage(o.Language),
		checkMinDifyVersion(o.MinDifyVersion),
		checkI18nReadme(o.I18nReadme),
	}
	if o.Permissions.Storage {
		errs = append(errs, checkStorageSize(o.Permissions.StorageSize))
	}
	return errors.Join(errs...)
}

// effectivePermissions adds what the category cannot work without (an agent strategy calls
// tools and LLMs, an extension serves endpoints) and turns the model switch on when a model
// kind is asked for, since the daemon checks both.
func (o *Options) effectivePermissions() Permissions {
	p := o.Permissions
	switch o.Category {
	case AgentStrategy:
		p.Tool, p.Model, p.LLM = true, true, true
	case Extension:
		p.Endpoint = true
	}
	if p.LLM || p.TextEmbedding || p.Rerank || p.TTS || p.Speech2Text || p.Moderation {
		p.Model = true
	}
	if p.Storage && p.StorageSize == 0 {
		p.StorageSize = DefaultStorageSize
	}
	return p
}
