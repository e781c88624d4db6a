package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/pkgfile"
)

func TestParseGithubPattern(t *testing.T) {
	good := map[string]GithubRef{
		"langgenius/foo:1.0.0/foo.difypkg":             {Packages: "foo.difypkg", Release: "1.0.0", Repo: "langgenius/foo", RepoAddress: "https://github.com/langgenius/foo"},
		"a-b/c_d:^1.2.3/x.difypkg":                     {Packages: "x.difypkg", Release: "^1.2.3", Repo: "a-b/c_d", RepoAddress: "https://github.com/a-b/c_d"},
		"o/r:~0.0.1-beta/p.difypkg":                    {Packages: "p.difypkg", Release: "~0.0.1-beta", Repo: "o/r", RepoAddress: "https://github.com/o/r"},
		"o/r:1.x.X/p.difypkg":                          {Packages: "p.difypkg", Release: "1.x.X", Repo: "o/r", RepoAddress: "https://github.com/o/r"},
		"o/r:1.0.0-2.0.0/p.difypkg":                    {Packages: "p.difypkg", Release: "1.0.0-2.0.0", Repo: "o/r", RepoAddress: "https://github.com/o/r"},
		"o/r:1.0.0/name with spaces:and colon.difypkg": {Packages: "name with spaces:and colon.difypkg", Release: "1.0.0", Repo: "o/r", RepoAddress: "https://github.com/o/r"},
	}
	for p, want := range good {
		got, err := ParseGithubPattern(p)
		if err != nil || got != want {
			t.Errorf("ParseGithubPattern(%q) = %+v, %v; want %+v", p, got, err, want)
		}
	}
	for _, p := range []string{"", "Org/repo:1.0.0/a", "o/r:1.0/a", "o/r:1.0.0", "o/r:1.0.0/", "o/r:1.0.0/a/b", "o/r/1.0.0/a", "o:1.0.0/a", "o/r:>1.0.0/a"} {
		if _, err := ParseGithubPattern(p); err == nil {
			t.Errorf("ParseGithubPattern(%q) accepted", p)
		}
	}
}

func TestParseMarketplacePattern(t *testing.T) {
	got, err := ParseMarketplacePattern("langgenius/maths:0.0.8")
	if want := (MarketplaceRef{Organization: "langgenius", Plugin: "maths", Version: "0.0.8"}); err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	for _, p := range []string{"langgenius/maths:^1.2.3", "a/b:1.x.x", "a/b:1.0.0-2.0.0", "a/b:0.0.1-rc1"} {
		if _, err := ParseMarketplacePattern(p); err != nil {
			t.Errorf("ParseMarketplacePattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"langgenius/maths", "langgenius/maths:0.0.8/x", "maths:0.0.8", "a/b:latest", "A/b:1.0.0", "a/b:1.0.0@abc"} {
		if _, err := ParseMarketplacePattern(p); err == nil {
			t.Errorf("ParseMarketplacePattern(%q) accepted", p)
		}
	}
}

// The manifest is written as the reference writes it: yaml.v3, the reference's field
// order, four-space indentation on save, two on init, empty lists as [].
func TestManifestMarshal(t *testing.T) {
	m := Manifest{
		Name: "mybundle", Labels: Everywhere("mybundle"), Description: I18n{EnUS: "Tools"},
		Icon: "icon.svg", Version: "0.0.2", Author: "tester", Type: "bundle",
		Dependencies: []Dependency{
			{Type: Package, Value: Value{Path: strings.Repeat("a", 64)}},
			{Type: Marketplace, Value: Value{MarketplacePattern: "langgenius/maths:0.0.8"}},
			{Type: Github, Value: Value{RepoPattern: "langgenius/foo:1.0.0/foo.difypkg"}},
		},
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "manifest.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("manifest:\n%s\nwant:\n%s", got, want)
	}
	back, err := ParseManifest(got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Dependencies, m.Dependencies) || back.Name != m.Name || back.Labels != m.Labels {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestCheck(t *testing.T) {
	m := Manifest{Name: "Bad Name", Type: "plugin", Version: "1", Dependencies: []Dependency{
		{Type: "npm", Value: Value{Path: "x"}},
		{Type: Package, Value: Value{Path: "../x"}},
		{Type: Package, Value: Value{Path: "missing"}},
		{Type: Marketplace, Value: Value{MarketplacePattern: "x"}},
		{Type: Github, Value: Value{RepoPattern: "a/b:1.0.0/c"}},
	}}
	probs := m.Check(func(string) bool { return false })
	var blocking []string
	for _, p := range Blocking(probs) {
		blocking = append(blocking, p.String())
	}
	if len(blocking) != 4 || !strings.HasPrefix(blocking[0], "dependencies[0]: type \"npm\"") ||
		!strings.Contains(blocking[1], "must be a file name") || !strings.Contains(blocking[2], "_assets/missing is not in the bundle") ||
		!strings.HasPrefix(blocking[3], "dependencies[3]: value.marketplace_pattern") {
		t.Fatalf("blocking problems: %q", blocking)
	}
	if n := len(probs) - len(blocking); n != 7 { // name, author, version, type, labels, description, icon
		t.Fatalf("%d warnings, want 7: %v", n, probs)
	}
}

// testPackage writes a small but valid .difypkg and returns its path and checksum.
func testPackage(t *testing.T, dir, version string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	files := []pkgfile.File{
		{Name: "manifest.yaml", Data: []byte("version: " + version + "\nname: demo\n")},
		{Name: "main.py", Data: []byte("print('hi')\n")},
	}
	if err := pkgfile.WriteFiles(context.Background(), &b, files); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "demo-"+version+".difypkg")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg, err := pkgfile.Read(bytes.NewReader(b.Bytes()), int64(b.Len()), pkgfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pkg.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, sum
}

// A bundle made by Init, edited, packaged, loaded from the package and packaged again gives
// the same bytes; the archive lists what was appended and serves the package unchanged.
func TestEditPackageRead(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "mybundle")
	files, err := Init(dir, "mybundle", "tester", "Some tools", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"manifest.yaml", "README.md", "_assets/icon.svg"}) {
		t.Fatalf("files %q", files)
	}
	if st, err := os.Stat(filepath.Join(dir, ".github", "workflows")); err != nil || !st.IsDir() {
		t.Fatalf(".github/workflows: %v", err)
	}
	if _, err := Init(dir, "mybundle", "tester", "again", time.Now()); err == nil {
		t.Fatal("Init over a non-empty folder succeeded")
	}
	pkgPath, sum := testPackage(t, tmp, "0.0.1")
	pkgData, _ := os.ReadFile(pkgPath)
	otherPath, otherSum := testPackage(t, tmp, "0.0.2")

	b, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if probs := b.Check(); len(probs) != 0 {
		t.Fatalf("fresh bundle has problems: %v", probs)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.AppendPackage(ctx, pkgPath)
	must(err)
	if got != sum {
		t.Fatalf("checksum %s, want %s", got, sum)
	}
	_, err = b.AppendPackage(ctx, otherPath)
	must(err)
	must(b.AppendMarketplace("langgenius/maths:0.0.8"))
	must(b.AppendGithub("langgenius/foo:1.0.0/foo.difypkg"))
	if err := b.AppendGithub("not a pattern"); err == nil {
		t.Fatal("bad github pattern accepted")
	}
	if _, err := b.Remove(4); err == nil {
		t.Fatal("Remove(4) of 4 dependencies succeeded")
	}
	if _, err := b.Remove(1); err != nil {
		t.Fatal(err)
	}
	must(b.Bump("0.1.0"))
	if err := b.Bump("1.0"); err == nil {
		t.Fatal("bad version accepted")
	}
	must(b.Save(ctx))
	if _, err := os.Stat(filepath.Join(dir, "_assets", otherSum)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed package still in the folder: %v", err)
	}

	b, err = Load(ctx, dir)
	must(err)
	var z1 bytes.Buffer
	must(b.WriteZip(ctx, &z1))
	out := filepath.Join(tmp, "mybundle.difybndl")
	must(os.WriteFile(out, z1.Bytes(), 0o644))
	b2, err := Load(ctx, out)
	must(err)
	var z2 bytes.Buffer
	must(b2.WriteZip(ctx, &z2))
	if !bytes.Equal(z1.Bytes(), z2.Bytes()) {
		t.Fatal("packaging a loaded package changed its bytes")
	}
	zr, err := zip.NewReader(bytes.NewReader(z1.Bytes()), int64(z1.Len()))
	must(err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.IsZero() && f.Modified.Year() > 1980 {
			t.Errorf("%s has a time %v", f.Name, f.Modified)
		}
	}
	if want := []string{"manifest.yaml", "_assets/" + sum, "_assets/icon.svg", "README.md"}; !slices.Equal(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}

	a, err := Read(bytes.NewReader(z1.Bytes()), int64(z1.Len()), 0)
	must(err)
	if a.Manifest.Version != "0.1.0" || len(a.Manifest.Dependencies) != 3 || a.Manifest.Dependencies[0] != (Dependency{Type: Package, Value: Value{Path: sum}}) {
		t.Fatalf("manifest %+v", a.Manifest)
	}
	if probs := a.Check(); len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	rc, n, err := a.OpenAsset(sum)
	must(err)
	var asset bytes.Buffer
	_, err = asset.ReadFrom(rc)
	rc.Close()
	must(err)
	if n != int64(len(pkgData)) || !bytes.Equal(asset.Bytes(), pkgData) {
		t.Fatal("the package in the bundle differs from the one appended")
	}

	// Editing the .difybndl file in place works the same way.
	_, err = b2.Remove(0)
	must(err)
	must(b2.Save(ctx))
	b3, err := Load(ctx, out)
	must(err)
	if len(b3.Manifest.Dependencies) != 2 || len(b3.Assets) != 1 {
		t.Fatalf("after removing from the file: %d dependencies, assets %v", len(b3.Manifest.Dependencies), len(b3.Assets))
	}
}

// zipOf writes entries with archive/zip, for bundles that plugd would never write.
func zipOf(t testing.TB, entries ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i+1 < len(entries); i += 2 {
		w, err := zw.Create(entries[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(entries[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadRefuses(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		laughs += string(i) + ": &" + string(i) + " [*" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + ", *" + string(i-1) + "]\n"
	}
	cases := []struct {
		name string
		data []byte
		max  int64
		want string
	}{
		{"not a zip", []byte("hello"), 0, "not a valid zip"},
		{"no manifest", zipOf(t, "README.md", "x"), 0, "no manifest.yaml"},
		{"bad yaml", zipOf(t, "manifest.yaml", "name: [unclosed\n"), 0, "manifest.yaml: line"},
		{"wrong shape", zipOf(t, "manifest.yaml", "dependencies: 5\n"), 0, "manifest.yaml"},
		{"alias bomb", zipOf(t, "manifest.yaml", laughs), 0, "expands"},
		{"escaping name", zipOf(t, "manifest.yaml", "name: x\n", "../evil", "x"), 0, `bundle entry "../evil"`},
		{"too large", zipOf(t, "manifest.yaml", "name: x\n"), 10, "limit"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.data), int64(len(c.data)), c.max)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// A manifest written by hand the way the reference documents it decodes, unknown keys and
// all.
func TestParseManifestReferenceShape(t *testing.T) {
	m, err := ParseManifest([]byte(`name: mybundle
labels: {en_US: My bundle}
description: {en_US: Tools}
icon: icon.svg
version: 0.0.1
author: tester
type: bundle
dependencies:
  - {type: package, value: {path: ` + strings.Repeat("b", 64) + `}}
  - {type: marketplace, value: {marketplace_pattern: "langgenius/maths:0.0.8"}}
  - {type: github, value: {repo_pattern: "langgenius/foo:1.0.0/foo.difypkg"}}
tags: []
extra: ignored
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Dependencies) != 3 || m.Dependencies[1].Pattern() != "langgenius/maths:0.0.8" || m.Labels.EnUS != "My bundle" {
		t.Fatalf("%+v", m)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(zipOf(f, "manifest.yaml", "name: x\ndependencies:\n  - {type: package, value: {path: abc}}\n", "_assets/abc", "PK"))
	f.Add(zipOf(f, "manifest.yaml", "dependencies: [{type: github, value: {repo_pattern: 'a/b:1.0.0/c'}}]", "README.md", "hi"))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data), int64(len(data)), 1<<20)
		if err != nil {
			return
		}
		a.Check()
		for _, d := range a.Manifest.Dependencies {
			if d.Type == Package {
				if rc, _, err := a.OpenAsset(d.Value.Path); err == nil {
					var buf bytes.Buffer
					buf.ReadFrom(rc)
					rc.Close()
				}
			}
		}
		if _, _, err := a.files(); err != nil {
			return
		}
		if _, err := a.Manifest.Marshal(); err != nil {
			t.Fatalf("a decoded manifest does not marshal: %v", err)
		}
	})
}

// Init writes its first manifest with the two-space indent of the reference's init.
func TestInitManifest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := Init(dir, "b", "me", "Tools", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "name: b\nlabels:\n  en_US: b\n  ja_JP: b\n  zh_Hans: b\n  pt_BR: b\ndescription:\n  en_US: Tools\n  ja_JP: Tools\n  zh_Hans: Tools\n  pt_BR: Tools\n" +
		"icon: icon.svg\nversion: 0.0.1\nauthor: me\ntype: bundle\ndependencies: []\ntags: []\n"
	if string(got) != want {
		t.Fatalf("manifest.yaml:\n%s\nwant:\n%s", got, want)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(readme), "**Author:** me") || !strings.Contains(string(readme), "**Date:** 2026-01-02") {
		t.Fatalf("README.md:\n%s", readme)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("name: x\ndependencies:\n  - {type: github, value: {repo_pattern: 'a/b:1.0.0/c'}}\n"))
	f.Add([]byte("a: &a [1]\nb: [*a, *a]\n"))
	f.Add([]byte("dependencies: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		m.Check(func(string) bool { return true })
		out, err := m.Marshal()
		if err != nil {
			return // yaml.v3 refuses some strings it decoded (invalid UTF-8 in keys is checked before)
		}
		if _, err := ParseManifest(out); err != nil {
			t.Fatalf("a marshalled manifest does not parse again: %v\n%s", err, out)
		}
	})
}

// TestReadReferenceBundle reads a bundle written by the reference's own bundle packager
// (testdata/vectors/derived/reference-bundle.difybndl, see the vectors' README): its manifest,
// its three kinds of dependency and the package inside, which is vec1.difypkg byte for byte.
func TestReadReferenceBundle(t *testing.T) {
	data, err := os.ReadFile("../../testdata/vectors/derived/reference-bundle.difybndl")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Read(bytes.NewReader(data), int64(len(data)), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := a.Manifest
	const sum = "20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5"
	want := []Dependency{
		{Type: Package, Value: Value{Path: sum}},
		{Type: Marketplace, Value: Value{MarketplacePattern: "langgenius/agent:0.0.14"}},
		{Type: Github, Value: Value{RepoPattern: "langgenius/e2etool:^1.0.0/e2etool.difypkg"}},
	}
	if m.Name != "b2" || m.Author != "me" || m.Version != "0.0.1" || m.Type != "bundle" || !slices.Equal(m.Dependencies, want) {
		t.Fatalf("manifest %+v", m)
	}
	if probs := a.Check(); len(Blocking(probs)) != 0 {
		t.Errorf("problems in the reference's bundle: %v", probs)
	}
	rc, _, err := a.OpenAsset(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	vec1, err := os.ReadFile("../../testdata/vectors/vec1.difypkg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, vec1) {
		t.Errorf("the bundled package (%d bytes) is not vec1.difypkg (%d bytes)", len(got), len(vec1))
	}
}
