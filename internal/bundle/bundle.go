// Package bundle reads, checks, edits and writes Dify plugin bundles (.difybndl): a zip
// holding manifest.yaml, which lists dependencies (packages in the bundle, Marketplace
// plugins, GitHub release assets), the packages themselves under _assets/ named by their
// checksum, and README files. The format is the reference CLI's; the daemon answers
// install/upload/bundle from what Read returns, and `plugd bundle` edits bundles with Load.
//
// Bundles come from uploads, so Read reuses the safe zip reader of pkgfile (names, sizes,
// ratios, entry counts) and manifest's YAML limits; nothing in a bundle is trusted before
// it is checked.
package bundle

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// I18n is a text in the languages the reference keeps. Its field order is the reference's,
// which is the order the manifest is written in.
type I18n struct {
	EnUS   string `json:"en_US" yaml:"en_US"`
	JaJP   string `json:"ja_JP,omitempty" yaml:"ja_JP,omitempty"`
	ZhHans string `json:"zh_Hans,omitempty" yaml:"zh_Hans,omitempty"`
	PtBR   string `json:"pt_BR,omitempty" yaml:"pt_BR,omitempty"`
}

// Everywhere sets the same text in every language, as the reference's `bundle init` does.
func Everywhere(s string) I18n { return I18n{EnUS: s, JaJP: s, ZhHans: s, PtBR: s} }

// Manifest is a bundle's manifest.yaml. Fields are in the reference's order so a manifest
// written here is byte-identical to one the reference CLI writes.
type Manifest struct {
	Name         string       `json:"name" yaml:"name"`
	Labels       I18n         `json:"labels" yaml:"labels"`
	Description  I18n         `json:"description" yaml:"description"`
	Icon         string       `json:"icon" yaml:"icon"`
	Version      string       `json:"version" yaml:"version"`
	Author       string       `json:"author" yaml:"author"`
	Type         string       `json:"type" yaml:"type"`
	Dependencies []Dependency `json:"dependencies" yaml:"dependencies"`
	Tags         []string     `json:"tags" yaml:"tags"`
}

// DependencyType says where a dependency comes from; the values are also Dify's
// installation sources.
type DependencyType string

const (
	Github      DependencyType = "github"
	Marketplace DependencyType = "marketplace"
	Package     DependencyType = "package"
)

// Dependency is one entry of the manifest's dependencies. Value holds the one field its
// type uses: repo_pattern (github), marketplace_pattern (marketplace) or path (package: the
// package's checksum, its file name under _assets/).
type Dependency struct {
	Type  DependencyType `json:"type" yaml:"type"`
	Value Value          `json:"value" yaml:"value"`
}

// Value is a dependency's value; see Dependency.
type Value struct {
	RepoPattern        string `json:"repo_pattern,omitempty" yaml:"repo_pattern,omitempty"`
	MarketplacePattern string `json:"marketplace_pattern,omitempty" yaml:"marketplace_pattern,omitempty"`
	Path               string `json:"path,omitempty" yaml:"path,omitempty"`
}

// Pattern returns the string that identifies the dependency: its pattern or its path.
func (d Dependency) Pattern() string {
	switch d.Type {
	case Github:
		return d.Value.RepoPattern
	case Marketplace:
		return d.Value.MarketplacePattern
	}
	return d.Value.Path
}

// Version patterns, as the reference writes them: an exact version (optionally with ^ or ~),
// an x-version (1.x.x), or a range "a.b.c-d.e.f".
const (
	versionPattern  = `\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?`
	versionXPattern = `(\d{1,4}|[xX])`
	rangePattern    = `([~^]?` + versionPattern + `|` + versionXPattern + `(\.` + versionXPattern + `){2}|` + versionPattern + `-` + versionPattern + `)`
)

var (
	githubPatternRE      = regexp.MustCompile(`^[a-z0-9_-]{1,64}/[a-z0-9_-]{1,128}:` + rangePattern + `/[^/]+$`)
	marketplacePatternRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}/[a-z0-9_-]{1,128}:` + rangePattern + `$`)
	versionRE            = regexp.MustCompile(`^` + versionPattern + `$`)
	nameRE               = regexp.MustCompile(`^[a-z0-9_-]{1,128}$`)
	authorRE             = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	checksumRE           = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// GithubRef is how the daemon reports a github dependency: the reference's field names, in
// the order its JSON encoder writes them (alphabetical).
type GithubRef struct {
	Packages    string `json:"packages"` // the release asset, e.g. plugin.difypkg
	Release     string `json:"release"`  // the version pattern
	Repo        string `json:"repo"`     // owner/repo
	RepoAddress string `json:"repo_address"`
}

// MarketplaceRef is how the daemon reports a marketplace dependency.
type MarketplaceRef struct {
	Organization string `json:"organization"`
	Plugin       string `json:"plugin"`
	Version      string `json:"version"`
}

// ParseGithubPattern checks "owner/repo:version/asset" and splits it.
func ParseGithubPattern(p string) (GithubRef, error) {
	if !githubPatternRE.MatchString(p) {
		return GithubRef{}, fmt.Errorf("github pattern %q is not owner/repo:version/asset (lowercase owner and repo; version exact, ^ or ~ prefixed, 1.x.x or a range a.b.c-d.e.f)", p)
	}
	repo, rest, _ := strings.Cut(p, ":")
	release, asset, _ := strings.Cut(rest, "/")
	return GithubRef{Packages: asset, Release: release, Repo: repo, RepoAddress: "https://github.com/" + repo}, nil
}

// ParseMarketplacePattern checks "organization/plugin:version" and splits it.
func ParseMarketplacePattern(p string) (MarketplaceRef, error) {
	if !marketplacePatternRE.MatchString(p) {
		return MarketplaceRef{}, fmt.Errorf("marketplace pattern %q is not organization/plugin:version (lowercase names; version exact, ^ or ~ prefixed, 1.x.x or a range a.b.c-d.e.f)", p)
	}
	repo, version, _ := strings.Cut(p, ":")
	org, plugin, _ := strings.Cut(repo, "/")
	return MarketplaceRef{Organization: org, Plugin: plugin, Version: version}, nil
}

// CheckVersion checks a bundle version (1.2.3 or 1.2.3-beta).
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q is not a version like 1.2.3 or 1.2.3-beta", v)
	}
	return nil
}

// CheckName checks a bundle name as the reference's init does.
func CheckName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("name %q must be 1-128 lowercase letters, digits, - and _", s)
	}
	return nil
}

// CheckAuthor checks an author name as the reference's init does.
func CheckAuthor(s string) error {
	if !authorRE.MatchString(s) {
		return fmt.Errorf("author %q must be 1-64 lowercase letters, digits, - and _", s)
	}
	return nil
}

// Problem is something wrong in a manifest. Blocking problems make a dependency impossible
// to install (an unknown type, a malformed pattern, a package missing from the bundle); the
// others are warnings about metadata the reference does not check either.
type Problem struct {
	Field    string `json:"field"`
	Message  string `json:"message"`
	Blocking bool   `json:"blocking"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Check returns the manifest's problems. hasAsset says whether a package path is in the
// bundle's _assets folder.
func (m *Manifest) Check(hasAsset func(name string) bool) []Problem {
	var probs []Problem
	warn := func(field, format string, args ...any) {
		probs = append(probs, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if err := CheckName(m.Name); err != nil {
		warn("name", "%v", err)
	}
	if err := CheckAuthor(m.Author); err != nil {
		warn("author", "%v", err)
	}
	if err := CheckVersion(m.Version); err != nil {
		warn("version", "%v", err)
	}
	if m.Type != "bundle" {
		warn("type", "is %q; a bundle's type is \"bundle\"", m.Type)
	}
	if m.Labels.EnUS == "" {
		warn("labels.en_US", "is required")
	}
	if m.Description.EnUS == "" {
		warn("description.en_US", "is required")
	}
	if m.Icon == "" {
		warn("icon", "is required (a file under _assets/)")
	} else if hasAsset != nil && !hasAsset(m.Icon) {
		warn("icon", "_assets/%s is not in the bundle", m.Icon)
	}
	for i, d := range m.Dependencies {
		field := fmt.Sprintf("dependencies[%d]", i)
		if p, ok := d.problem(hasAsset); !ok {
			probs = append(probs, Problem{Field: field, Message: p, Blocking: true})
		}
	}
	return probs
}

// problem says why a dependency cannot be installed.
func (d Dependency) problem(hasAsset func(string) bool) (string, bool) {
	switch d.Type {
	case Github:
		if _, err := ParseGithubPattern(d.Value.RepoPattern); err != nil {
			return "value.repo_pattern: " + err.Error(), false
		}
	case Marketplace:
		if _, err := ParseMarketplacePattern(d.Value.MarketplacePattern); err != nil {
			return "value.marketplace_pattern: " + err.Error(), false
		}
	case Package:
		p := d.Value.Path
		switch {
		case p == "":
			return "value.path is required: the package's file name under _assets/", false
		case strings.ContainsAny(p, "/\\") || p == "." || p == "..":
			return fmt.Sprintf("value.path %q must be a file name under _assets/", p), false
		case hasAsset != nil && !hasAsset(p):
			return fmt.Sprintf("value.path: _assets/%s is not in the bundle", p), false
		}
	case "":
		return "type is missing (github, marketplace or package)", false
	default:
		return fmt.Sprintf("type %q is not github, marketplace or package", d.Type), false
	}
	return "", true
}

// Blocking returns the blocking problems of probs.
func Blocking(probs []Problem) []Problem {
	var out []Problem
	for _, p := range probs {
		if p.Blocking {
			out = append(out, p)
		}
	}
	return out
}

// Marshal writes the manifest as the reference writes it when it saves a bundle: yaml.v3
// with its default four-space indentation.
func (m *Manifest) Marshal() ([]byte, error) { return m.marshal(4) }

func (m *Manifest) marshal(indent int) ([]byte, error) {
	c := *m
	if c.Dependencies == nil {
		c.Dependencies = []Dependency{}
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("writing the bundle manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
