package manifest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads manifest.yaml from fsys and every file it references, and validates all of it.
// It never stops at the first problem: all problems are returned, sorted by file then line.
// A nil *Plugin is returned only when manifest.yaml itself cannot be read or parsed at all.
//
// fsys holds the plugin's files: a directory after its ignore rules, or an opened package
// (*zip.Reader implements fs.FS). Problems that are not Strict are the ones that make the
// reference daemon refuse an install; see Problem.Strict.
//
// The returned Plugin is resolved the way the reference daemon serves it: provider files are
// read into Tool, Model, ... and empty provider descriptions and tags are filled from the
// manifest. Verified is always false: only a signature check can set it.
func Load(fsys fs.FS) (*Plugin, Problems) {
	l := &loader{fsys: fsys}
	p := l.load()
	slices.SortStableFunc(l.problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
	return p, l.problems
}

const manifestFile = "manifest.yaml"

// loader holds the state of one Load call.
type loader struct {
	fsys     fs.FS
	problems Problems
	read     int64                // bytes read so far, against maxYAMLTotalSize (maxRegistrationSize)
	files    map[string]*yamlFile // parsed declaration files by path, so each is read once
	walked   []string             // every file path in fsys, for model globs; nil until needed
	// modelFiles are the model files decoded so far (nil when unusable), so that a file two
	// globs match is decoded once.
	modelFiles map[string]*Model
	icons      []iconRef // icons named by provider files, checked against _assets/

	// remote is set for a registration (FromRegistration): there is no fsys, the provider
	// declarations come resolved in declarations (by kind), and of the plugin's files only
	// assets are known: received holds their paths ("_assets/icon.svg").
	remote       bool
	declarations map[string]json.RawMessage
	received     map[string]bool
}

// iconRef is an icon named in a provider file.
type iconRef struct {
	at   node
	name string
}

func (l *loader) icon(c node, name string) {
	if name != "" {
		l.icons = append(l.icons, iconRef{at: c, name: name})
	}
}

func (l *loader) add(p Problem) { l.problems = append(l.problems, p) }

// fileProblem records a problem about a whole file (or a line of it).
func (l *loader) fileProblem(name string, line int, strict bool, format string, args ...any) {
	l.add(Problem{File: name, Line: line, Message: fmt.Sprintf(format, args...), Strict: strict})
}

// openYAML reads and parses a declaration file. It returns nil when the file cannot be used;
// the reason is recorded against ref (the referencing value) when the file cannot be read,
// and against the file itself when its content is not valid YAML. refReads says whether the
// reference daemon reads this file too, making those problems fatal to an install.
func (l *loader) openYAML(name string, ref *node, refReads bool) *yamlFile {
	if f, ok := l.files[name]; ok {
		return f
	}
	data, ok := l.readFile(name, maxYAMLFileSize, ref, refReads)
	if !ok {
		return nil
	}
	if l.files == nil {
		l.files = map[string]*yamlFile{}
	}
	root, probs := parseYAML(data)
	usable := true
	for _, p := range probs {
		l.fileProblem(name, p.line, p.strict || !refReads, "%s", p.message)
		usable = usable && p.strict
	}
	if !usable {
		l.files[name] = nil // reported once, however often it is referenced
		return nil
	}
	f := &yamlFile{l: l, name: name, root: root, typed: map[*yaml.Node]bool{}}
	l.files[name] = f
	return f
}

// readFile reads a file of fsys, refusing files over max bytes and reads past the total
// budget. Problems point at ref, the value that named the file, when there is one.
func (l *loader) readFile(name string, max int64, ref *node, refReads bool) ([]byte, bool) {
	fail := func(format string, args ...any) ([]byte, bool) {
		if ref != nil {
			ref.problem(!refReads, format, args...)
		} else {
			l.fileProblem(name, 0, !refReads, format, args...)
		}
		return nil, false
	}
	info, err := fs.Stat(l.fsys, name)
	switch {
	case err != nil:
		return fail("file %q does not exist", name)
	case info.IsDir():
		return fail("%q is a directory, not a file", name)
	case info.Size() > max:
		return fail("file %q is %d bytes; declaration files are limited to %d bytes", name, info.Size(), max)
	case l.read+info.Size() > maxYAMLTotalSize:
		return fail("file %q would take the declaration files past %d bytes in total", name, maxYAMLTotalSize)
	}
	file, err := l.fsys.Open(name)
	if err != nil {
		return fail("cannot open %q: %v", name, err)
	}
	defer file.Close()
	// Read at most max+1 bytes: the size from Stat is a claim, not a promise.
	data, err := io.ReadAll(io.LimitReader(file, max+1))
	switch {
	case err != nil:
		return fail("cannot read %q: %v", name, err)
	case int64(len(data)) > max:
		return fail("file %q is larger than %d bytes", name, max)
	}
	l.read += int64(len(data))
	return data, true
}

// refPath checks a path written in a declaration (a provider file, a tool file, a Python
// source, an icon). Packages are zips, and the reference opens zip entries by exactly the
// name written, so only clean relative paths ("tools/a.yaml", not "./tools/a.yaml") work;
// paths leaving the plugin are never followed.
func refPath(c node, p string, strict bool) bool {
	switch {
	case p == "":
		c.problem(strict, "file path is empty")
		return false
	// A path leaving the plugin is hostile, not sloppy: refused at install too (not strict).
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':'):
		c.problem(false, "file path %q is absolute; it must be relative to the plugin root", p)
		return false
	case !fs.ValidPath(p):
		clean := path.Clean(p)
		if clean == ".." || strings.HasPrefix(clean, "../") {
			c.problem(false, "file path %q points outside the plugin", p)
		} else {
			c.problem(strict, "file path %q is not in clean form; write %q", p, clean)
		}
		return false
	}
	return true
}

// exists reports whether name is a regular file of the plugin. For a registration only the
// assets are known.
func (l *loader) exists(name string) bool {
	if l.remote {
		return l.received[name]
	}
	info, err := fs.Stat(l.fsys, name)
	return err == nil && !info.IsDir()
}

// needFile reports a strict problem when a file the Python SDK or the packager needs is
// missing: the reference daemon installs such a plugin, which then fails at run time.
func (l *loader) needFile(c node, p, what string) {
	if c.isNull() {
		return
	}
	if !refPath(c, p, true) || l.remote {
		return
	}
	if !l.exists(p) {
		c.strictf("%s %q does not exist", what, p)
	}
}

// maxWalkedFiles bounds the files model globs are matched against. A plugin with more files
// than this is not a plugin; the bound keeps globs x files small.
const maxWalkedFiles = 100_000

// allFiles lists every file of the plugin in lexical order, as fs.WalkDir visits them.
func (l *loader) allFiles() []string {
	if l.walked != nil {
		return l.walked
	}
	l.walked = []string{}
	_ = fs.WalkDir(l.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case len(l.walked) >= maxWalkedFiles:
			l.fileProblem(".", 0, false, "the plugin has more than %d files; model globs were matched against the first %d only", maxWalkedFiles, maxWalkedFiles)
			return fs.SkipAll
		case err == nil && !d.IsDir():
			l.walked = append(l.walked, p)
		}
		return nil
	})
	return l.walked
}
