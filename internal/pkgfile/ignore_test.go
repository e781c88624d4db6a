package pkgfile

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestIgnoreMatch(t *testing.T) {
	tests := []struct {
		patterns string
		path     string
		dir      bool
		want     bool
	}{
		{"*.log", "run.log", false, true},
		{"*.log", "a/b/run.log", false, true},
		{"*.log", "run.logx", false, false},
		{"# comment\n\n*.log", "x.log", false, true},
		{"#x.log", "#x.log", false, false},
		{`\#x.log`, "#x.log", false, true},
		{"build/", "build", true, true},
		{"build/", "build", false, false},
		{"build/", "src/build", true, true},
		{"/build", "build", false, true},
		{"/build", "src/build", false, false},
		{"src/build", "src/build", true, true},
		{"src/build", "x/src/build", true, false},
		{"*.md\n!README.md", "README.md", false, false},
		{"*.md\n!README.md", "GUIDE.md", false, true},
		{"!README.md\n*.md", "README.md", false, true},
		{`\!bang`, "!bang", false, true},
		{"foo ", "foo", false, true},
		{`foo\ `, "foo ", false, true},
		{`foo\ `, "foo", false, false},
		{"foo\t", "foo", false, false},
		{"foo\r", "foo", false, true},
		{"a?c", "abc", false, true},
		{"a?c", "a/c", false, false},
		{"a[bc]d", "acd", false, true},
		{"a[!bc]d", "acd", false, false},
		{"a[^bc]d", "aed", false, true},
		{"[a-c]x", "bx", false, true},
		{"[]]x", "]x", false, true},
		{"[[:digit:]]x", "7x", false, true},
		{"[[:digit:]]x", "ax", false, false},
		{"[[:bogus:]]x", "ax", false, false},
		{"[abc", "[abc", false, false},
		{`trailing\`, `trailing\`, false, false},
		{`\*`, "*", false, true},
		{`\*`, "x", false, false},
		{"**/foo", "foo", false, true},
		{"**/foo", "a/b/foo", false, true},
		{"a/**/b", "a/b", false, true},
		{"a/**/b", "a/x/y/b", false, true},
		{"a/**/b", "a/xb", false, false},
		{"a/**", "a/x/y", false, true},
		{"a/**", "a", true, false},
		{"a**b", "axxb", false, true},
		{"x/a**b", "x/ax/yb", false, false},
		{"a/*/c", "a/b/c", false, true},
		{"a/*/c", "a/b/x/c", false, false},
		{"*", "anything", false, true},
		{"a**/*", "ab", true, true}, // git's literal-prefix quirk, see compilePattern
		{"*a**/*", "aa", true, false},
		{"/", "x", true, false},
		{"", "x", false, false},
		{"\xef\xbb\xbf*.bom", "x.bom", false, true},
	}
	for _, tc := range tests {
		r := parseIgnore([]byte(tc.patterns))
		if got := r.ignored(tc.path, tc.dir); got != tc.want {
			t.Errorf("patterns %q, path %q (dir %v): ignored=%v, want %v", tc.patterns, tc.path, tc.dir, got, tc.want)
		}
	}
}

// TestCollectScenarios checks whole walks, including git's rule that a file inside an
// excluded directory stays excluded, against hand-written expectations and against git.
func TestCollectScenarios(t *testing.T) {
	tests := []struct {
		name   string
		ignore string // "" means no ignore file
		files  []string
		want   []string
	}{
		{
			name:   "negation works",
			ignore: "*.md\n!README.md\n",
			files:  []string{"README.md", "GUIDE.md", "main.py"},
			want:   []string{".difyignore", "README.md", "main.py"},
		},
		{
			name:   "excluded directory cannot be re-included",
			ignore: "build/\n!build/keep.txt\n",
			files:  []string{"build/keep.txt", "build/x.o", "main.py"},
			want:   []string{".difyignore", "main.py"},
		},
		{
			name:   "re-include through directory negation",
			ignore: "*\n!*/\n!*.py\n",
			files:  []string{"a/b.py", "a/c.txt", "d.py", "e.md"},
			want:   []string{"a/b.py", "d.py"},
		},
		{
			name:   "anchored",
			ignore: "/data\n",
			files:  []string{"data/x", "src/data/y"},
			want:   []string{".difyignore", "src/data/y"},
		},
		{
			name:  "no ignore file keeps everything but .git",
			files: []string{"a", "b/c", "sub/.git/config"},
			want:  []string{"a", "b/c"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			if tc.ignore != "" {
				writeFile(t, filepath.Join(dir, ".difyignore"), tc.ignore)
			}
			got := collectNames(t, dir)
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %q, want %q", got, tc.want)
			}
			if tc.ignore != "" {
				if g := gitKept(t, dir); !slices.Equal(g, tc.want) {
					t.Errorf("git keeps %q, want %q", g, tc.want)
				}
			}
		})
	}
}

func TestGitignoreFallback(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []string{"a.log", "b.txt", ".git/HEAD"})
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n")
	if got, want := collectNames(t, dir), []string{".gitignore", "b.txt"}; !slices.Equal(got, want) {
		t.Errorf("with .gitignore: %q, want %q", got, want)
	}
	// .difyignore wins over .gitignore; the two are never merged.
	writeFile(t, filepath.Join(dir, ".difyignore"), "*.txt\n")
	if got, want := collectNames(t, dir), []string{".difyignore", ".gitignore", "a.log"}; !slices.Equal(got, want) {
		t.Errorf("with .difyignore: %q, want %q", got, want)
	}
}

// TestIgnoreDifferential builds random trees and ignore files and compares what Collect
// keeps with what git lists as untracked and not ignored.
func TestIgnoreDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns git hundreds of times")
	}
	requireGit(t)
	rounds := 300
	for seed := range uint64(rounds) {
		rng := rand.New(rand.NewPCG(seed, 42))
		dir := t.TempDir()
		files := randomTree(rng)
		writeTree(t, dir, files)
		patterns := randomPatterns(rng)
		if seed%2 == 1 {
			patterns = soupPatterns(rng)
		}
		writeFile(t, filepath.Join(dir, ".difyignore"), patterns)
		got := collectNames(t, dir)
		want := gitKept(t, dir)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d\nfiles: %q\npatterns:\n%s\nCollect kept: %q\ngit kept:     %q", seed, files, patterns, got, want)
		}
	}
}

var namePool = []string{"a", "b", "ab", "ba", "a.py", "b.md", "x.txt", "foo", "Foo", "build", "dir.d",
	"[x]", "st*r", "q?m", "sp ace", "#h", "!bang", "é", "~t", "-", "a-b", "ab c", "aa", "]", "^a", "a:b", "b ", "!"}

func randomTree(rng *rand.Rand) []string {
	var files []string
	seen := map[string]bool{}
	for range 3 + rng.IntN(15) {
		var parts []string
		for range 1 + rng.IntN(3) {
			parts = append(parts, namePool[rng.IntN(len(namePool))])
		}
		name := strings.Join(parts, "/")
		// A path cannot be both a file and a directory.
		clash := false
		for f := range seen {
			if strings.HasPrefix(f, name+"/") || strings.HasPrefix(name, f+"/") || f == name {
				clash = true
			}
		}
		if !clash && name != ".difyignore" {
			seen[name] = true
			files = append(files, name)
		}
	}
	return files
}

var globPieces = []string{"*", "?", "**", "[ab]", "[!a]", "[a-c]", "*.py", "a*", `\*`, "[[:alpha:]]*",
	`\!bang`, "*a", "b?", "[]x]", "[^b]*", "st*r", "a**", "**b", "[[:punct:]]", "*[ ]*", "é",
	"aa**", `\a*`, "[a]**", "a*/", "?**", "***", "a-[", "[a-]"}

func randomPatterns(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(6) {
		switch rng.IntN(20) {
		case 0:
			b.WriteString("# comment\n")
			continue
		case 1:
			b.WriteString("\n")
			continue
		}
		if rng.IntN(4) == 0 {
			b.WriteString("!")
		}
		if rng.IntN(5) == 0 {
			b.WriteString("/")
		}
		var segs []string
		for range 1 + rng.IntN(3) {
			if rng.IntN(2) == 0 {
				segs = append(segs, namePool[rng.IntN(len(namePool))])
			} else {
				segs = append(segs, globPieces[rng.IntN(len(globPieces))])
			}
		}
		b.WriteString(strings.Join(segs, "/"))
		switch rng.IntN(10) {
		case 0, 1:
			b.WriteString("/")
		case 2:
			b.WriteString("  ")
		case 3:
			b.WriteString(`\ `)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// soupPatterns strings random pattern characters together, to reach the corners of the
// bracket and escape syntax that well-formed patterns never visit.
func soupPatterns(rng *rand.Rand) string {
	const alphabet = "aabb**?[]!^-:/\\ #"
	var b strings.Builder
	for range 1 + rng.IntN(4) {
		switch rng.IntN(4) {
		case 0:
			b.WriteString("[[:alpha:]")
		case 1:
			b.WriteString("*")
		}
		for range 1 + rng.IntN(7) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for the differential ignore tests")
	}
}

// gitKept lists the files git considers untracked and not ignored under dir's .difyignore,
// with no global or repository excludes.
func gitKept(t *testing.T, dir string) []string {
	t.Helper()
	run := func(args ...string) []byte {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return out
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		run("init", "-q")
		os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), nil, 0o644)
	}
	out := run("-c", "core.excludesFile=/dev/null", "-c", "core.quotePath=false", "ls-files", "-z", "--others",
		"--exclude-from="+filepath.Join(dir, ".difyignore"))
	var names []string
	for n := range bytes.SplitSeq(out, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	slices.Sort(names)
	return names
}

func collectNames(t *testing.T, dir string) []string {
	t.Helper()
	tree, err := Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tree.Entries() {
		names = append(names, e.Name)
	}
	return names
}

func writeTree(t *testing.T, dir string, files []string) {
	t.Helper()
	for _, f := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(f)), "content of "+f)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzIgnorePattern(f *testing.F) {
	for _, s := range []string{"*.log", "!a/**/b", "[a-", "[[:alpha:]", `\`, "**/", "a/**", "[!]]x", "*a*a*a*a*a*b", "foo\\ "} {
		f.Add(s, "a/b/c.log", false)
	}
	f.Fuzz(func(t *testing.T, patterns, path string, isDir bool) {
		r := parseIgnore([]byte(patterns))
		first := r.ignored(path, isDir)
		if again := parseIgnore([]byte(patterns)).ignored(path, isDir); again != first {
			t.Fatalf("not deterministic: %q on %q", patterns, path)
		}
		if r.ignored(path, isDir) != first {
			t.Fatalf("matcher has state: %q on %q", patterns, path)
		}
		_ = fmt.Sprint(first)
	})
}
