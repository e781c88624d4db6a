package pyenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Spec names the dependency file an environment is built from.
type Spec string

const (
	// SpecLock installs the versions pinned by uv.lock (with pyproject.toml beside it).
	SpecLock Spec = "uv.lock"
	// SpecRequirements installs requirements.txt.
	SpecRequirements Spec = "requirements.txt"
	// SpecPyproject installs pyproject.toml's [project] dependencies, resolved afresh.
	SpecPyproject Spec = "pyproject.toml"
)

// keyVersion changes whenever the way environments are built changes in a way that makes
// old builds wrong, so that they are rebuilt rather than reused. It covers the old-SDK
// fixes too.
const keyVersion = "plugd-pyenv/1"

// plan is what Ensure decided for one plugin folder before building anything.
type plan struct {
	key       string
	pluginDir string
	spec      Spec
	tc        *toolchain
}

// chooseSpec decides which dependency file to install. The rules, in order:
//
//  1. pyproject.toml with uv.lock is used when uv is available, the lock is not ignored,
//     the interpreter satisfies requires-python, and requirements.txt (if any) does not name
//     a package source of its own. The lock is exported to pinned requirements and installed
//     with `uv pip install`, so it is honoured with a mirror or a wheelhouse too — unlike
//     the reference, which drops the lock as soon as a mirror is set.
//  2. Otherwise requirements.txt, when present. This is also what runs packages made for
//     offline use (their requirements.txt starts with `--no-index --find-links ./wheels`),
//     and older plugins whose pyproject.toml demands a newer Python than the one we have.
//  3. Otherwise pyproject.toml's [project] dependencies, resolved afresh.
//
// Whenever pyproject.toml is used, its requires-python is checked first, so a mismatch is
// reported as such and not as a resolver failure.
func chooseSpec(dir string, tc *toolchain, s Settings) (Spec, error) {
	req, err := readOptional(filepath.Join(dir, "requirements.txt"))
	if err != nil {
		return "", err
	}
	pyproject, err := readOptional(filepath.Join(dir, "pyproject.toml"))
	if err != nil {
		return "", err
	}
	if req == nil && pyproject == nil {
		return "", fmt.Errorf("%w: %s", ErrNoSpec, dir)
	}
	pythonOK := true
	requires := ""
	if pyproject != nil {
		requires = requiresPython(pyproject)
		pythonOK = requires == "" || satisfiesRequiresPython(tc.info, requires)
	}
	hasLock := fileExists(filepath.Join(dir, "uv.lock"))
	switch {
	case pyproject != nil && hasLock && tc.uv != "" && !s.IgnoreUVLock && pythonOK &&
		(req == nil || !namesSource(req)):
		return SpecLock, nil
	case req != nil:
		return SpecRequirements, nil
	case !pythonOK:
		return "", fmt.Errorf("%w: plugin requires Python %s, %s is %d.%d.%d",
			ErrPythonVersion, requires, tc.python, tc.info[0], tc.info[1], tc.info[2])
	}
	return SpecPyproject, nil
}

// envKey is the SHA-256 of everything that decides what an environment contains: the
// normalised dependency files, the interpreter, and the settings that change what gets
// installed. Proxies, CA bundles, timeouts and the choice of installer are left out: they
// change how packages are fetched, not which ones.
func envKey(dir string, spec Spec, tc *toolchain, s Settings) (string, error) {
	h := sha256.New()
	field := func(name, value string) { fmt.Fprintf(h, "%s %d\n%s\n", name, len(value), value) }
	field("version", keyVersion)
	field("spec", string(spec))
	field("python", tc.python+"\n"+tc.version)
	field("index", redactURL(s.IndexURL))
	field("extra-index", redactURL(s.ExtraIndexURL))
	if s.Wheelhouse != "" {
		abs, _ := filepath.Abs(s.Wheelhouse)
		field("wheelhouse", abs)
	}
	field("args", strings.Join(s.ExtraArgs, "\x00"))

	local := false
	add := func(name string, norm func([]byte) []byte) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("pyenv: read %s: %w", name, err)
		}
		field("file "+name, string(norm(b)))
		return nil
	}
	switch spec {
	case SpecLock:
		if err := add("pyproject.toml", normalizePyproject); err != nil {
			return "", err
		}
		if err := add("uv.lock", normalizeLock); err != nil {
			return "", err
		}
	case SpecPyproject:
		if err := add("pyproject.toml", normalizePyproject); err != nil {
			return "", err
		}
	case SpecRequirements:
		files, isLocal, err := requirementFiles(dir, "requirements.txt")
		if err != nil {
			return "", err
		}
		for _, f := range files {
			field("file "+f.name, string(f.norm))
		}
		local = isLocal
	}
	// A requirement that points into the plugin folder (a bundled wheel, `-e .`) makes the
	// environment depend on that folder, whose path already names its content
	// (<name>-<version>@<checksum>), so the path stands in for it.
	if local {
		abs, _ := filepath.Abs(dir)
		field("plugin-dir", abs)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type reqFile struct {
	name string
	norm []byte
}

// requirementFiles returns requirements.txt normalised, followed by the files it includes
// with -r or -c, and whether any line refers to something in the plugin folder.
func requirementFiles(dir, name string) ([]reqFile, bool, error) {
	var (
		files []reqFile
		local bool
		seen  = map[string]bool{}
	)
	var walk func(name string, depth int) error
	walk = func(name string, depth int) error {
		if seen[name] || depth > 8 {
			return nil
		}
		seen[name] = true
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if depth > 0 && errors.Is(err, fs.ErrNotExist) {
				return nil // the installer will say which include is missing
			}
			return fmt.Errorf("pyenv: read %s: %w", name, err)
		}
		lines := requirementLines(b)
		files = append(files, reqFile{name, []byte(strings.Join(lines, "\n"))})
		for _, l := range lines {
			if include, ok := includedFile(l); ok {
				if !filepath.IsAbs(include) {
					include = filepath.Join(filepath.Dir(name), include)
				}
				if err := walk(include, depth+1); err != nil {
					return err
				}
				continue
			}
			local = local || refersToLocal(l)
		}
		return nil
	}
	err := walk(name, 0)
	return files, local, err
}

// requirementLines is a requirements file without what pip ignores: comments, blank lines,
// line continuations, CRLF and runs of spaces.
func requirementLines(b []byte) []string {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\\\n", "")
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.Index(l, "#"); i == 0 || i > 0 && (l[i-1] == ' ' || l[i-1] == '\t') {
			l = l[:i]
		}
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var includeRE = regexp.MustCompile(`^(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+|)(\S+)$`)

func includedFile(line string) (string, bool) {
	m := includeRE.FindStringSubmatch(line)
	if m == nil || strings.Contains(m[1], "://") {
		return "", false
	}
	return m[1], true
}

var sourceOptionRE = regexp.MustCompile(`^(?:-i|--index-url|--extra-index-url|--no-index|-f|--find-links)\b`)

// namesSource reports whether requirements.txt chooses where packages come from.
func namesSource(req []byte) bool {
	for _, l := range requirementLines(req) {
		if sourceOptionRE.MatchString(l) {
			return true
		}
	}
	return false
}

// refersToLocal reports whether a requirement line uses files of the plugin folder: a
// bundled wheel or source tree, `-e .`, or `--find-links ./wheels` as written by tools that
// repackage plugins for offline use.
func refersToLocal(line string) bool {
	if strings.Contains(line, "file:") || localURLRE.MatchString(line) {
		return true
	}
	fields := strings.Fields(line)
	for i, f := range fields {
		var val string
		switch {
		case f == "-e" || f == "--editable" || f == "-f" || f == "--find-links":
			if i+1 < len(fields) {
				val = fields[i+1]
			}
		case strings.HasPrefix(f, "--find-links="), strings.HasPrefix(f, "--editable="):
			_, val, _ = strings.Cut(f, "=")
		case strings.HasPrefix(f, "-f"), strings.HasPrefix(f, "-e"):
			val = strings.TrimPrefix(f[2:], "=")
		case i == 0:
			val = f
		}
		if strings.HasPrefix(val, ".") || strings.HasPrefix(val, "/") || strings.HasPrefix(val, "~") {
			return true
		}
	}
	return false
}

// localURLRE matches a direct reference to a path, as in "pkg @ ./pkg".
var localURLRE = regexp.MustCompile(`@\s*[./~]`)

// normalizePyproject drops comments, blank lines and the project's name, version and
// description, so that two plugins, or two versions of one, with the same dependencies get
// the same key.
func normalizePyproject(b []byte) []byte {
	var out []string
	table := ""
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(t, "[") {
			table = t
		} else if table == "[project]" && metadataKeyRE.MatchString(t) {
			continue
		}
		out = append(out, t)
	}
	return []byte(strings.Join(out, "\n"))
}

var metadataKeyRE = regexp.MustCompile(`^(?:name|version|description)\s*=\s*("[^"]*"|'[^']*')$`)

// normalizeLock drops the name and version of the plugin itself (the lock's "virtual"
// root package) for the same reason.
func normalizeLock(b []byte) []byte {
	blocks := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n[[package]]\n")
	for i, blk := range blocks {
		if !strings.Contains(blk, "\nsource = { virtual = \".\" }") &&
			!strings.Contains(blk, "\nsource = { editable = \".\" }") {
			continue
		}
		var keep []string
		for _, l := range strings.Split(blk, "\n") {
			if !strings.HasPrefix(l, "name = ") && !strings.HasPrefix(l, "version = ") {
				keep = append(keep, l)
			}
		}
		blocks[i] = strings.Join(keep, "\n")
	}
	return []byte(strings.Join(blocks, "\n[[package]]\n"))
}

var requiresPythonRE = regexp.MustCompile(`(?m)^\s*requires-python\s*=\s*["']([^"']*)["']`)

// requiresPython finds [project].requires-python. A line scan is enough: the key is a
// plain string in every pyproject.toml written by hand or by uv.
func requiresPython(pyproject []byte) string {
	table := ""
	for _, l := range strings.Split(string(pyproject), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			table = t
			continue
		}
		if table == "[project]" {
			if m := requiresPythonRE.FindStringSubmatch(t); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pyenv: %w", err)
	}
	return b, nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
