package install

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/bundle"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/store"
)

// makeBundle writes a bundle holding pkgs (as package dependencies, in order) followed by
// the extra dependencies.
func makeBundle(t *testing.T, pkgs [][]byte, extra ...bundle.Dependency) []byte {
	t.Helper()
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Name: "set", Labels: bundle.Everywhere("set"), Description: bundle.Everywhere("a set"),
			Icon: "icon.svg", Version: "0.0.1", Author: "tester", Type: "bundle"},
		Assets: map[string][]byte{"icon.svg": []byte("<svg/>")},
	}
	for _, p := range pkgs {
		sum := checksumOf(t, p)
		b.Assets[sum] = p
		b.Manifest.Dependencies = append(b.Manifest.Dependencies, bundle.Dependency{Type: bundle.Package, Value: bundle.Value{Path: sum}})
	}
	b.Manifest.Dependencies = append(b.Manifest.Dependencies, extra...)
	var out bytes.Buffer
	if err := b.WriteZip(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func checksumOf(t *testing.T, p []byte) string {
	t.Helper()
	pkg, err := pkgfile.Read(bytes.NewReader(p), int64(len(p)), pkgfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pkg.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

var (
	marketDep = bundle.Dependency{Type: bundle.Marketplace, Value: bundle.Value{MarketplacePattern: "langgenius/maths:0.0.8"}}
	githubDep = bundle.Dependency{Type: bundle.Github, Value: bundle.Value{RepoPattern: "langgenius/foo:^1.0.0/foo.difypkg"}}
)

func TestUploadBundle(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	a, b := buildPackage(t, "alpha", "0.0.1"), buildPackage(t, "beta", "0.0.1")
	deps, err := m.UploadBundle(ctx, "t1", bytes.NewReader(makeBundle(t, [][]byte{a, b}, marketDep, githubDep)), false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(deps)
	if err != nil {
		t.Fatal(err)
	}
	// The same packages uploaded alone give the same identifiers and declarations.
	da, err := m.Upload(ctx, "t1", bytes.NewReader(a), false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := m.Upload(ctx, "t1", bytes.NewReader(b), false)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"package","value":{"manifest":` + string(da.Manifest) + `,"unique_identifier":"` + da.UniqueIdentifier + `"}},` +
		`{"type":"package","value":{"manifest":` + string(db.Manifest) + `,"unique_identifier":"` + db.UniqueIdentifier + `"}},` +
		`{"type":"marketplace","value":{"organization":"langgenius","plugin":"maths","version":"0.0.8"}},` +
		`{"type":"github","value":{"packages":"foo.difypkg","release":"^1.0.0","repo":"langgenius/foo","repo_address":"https://github.com/langgenius/foo"}}]`
	if string(raw) != want {
		t.Fatalf("answer\n%s\nwant\n%s", raw, want)
	}
	// Installable by identifier, as Dify then does.
	st, err := m.Install(ctx, "t1", []string{da.UniqueIdentifier}, "package", []json.RawMessage{json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if task := waitTask(t, e.store, "t1", st.TaskID); task.Status != store.TaskSuccess {
		t.Fatalf("install of a bundled package: %+v", task)
	}
}

// failingBlob fails the nth Put of a package.
type failingBlob struct {
	blob.Store
	puts, failAt int
}

func (f *failingBlob) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasPrefix(key, "packages/") {
		f.puts++
		if f.puts == f.failAt {
			return errors.New("disk full")
		}
	}
	return f.Store.Put(ctx, key, r, size)
}

// A failure while storing the second package removes the first one again, but not a package
// that was there before the bundle came.
func TestUploadBundleRollsBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b, c := buildPackage(t, "alpha", "0.0.1"), buildPackage(t, "beta", "0.0.1"), buildPackage(t, "gamma", "0.0.1")
	m := e.manager(t, nil)
	dc, err := m.Upload(ctx, "t1", bytes.NewReader(c), false)
	if err != nil {
		t.Fatal(err)
	}
	fb := &failingBlob{Store: e.blob, failAt: 2}
	m = e.manager(t, func(cfg *Config) { cfg.Blob = fb })
	_, err = m.UploadBundle(ctx, "t1", bytes.NewReader(makeBundle(t, [][]byte{c, a, b})), false)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "dependencies[2]") {
		t.Fatalf("error %v, want the failure of dependencies[2]", err)
	}
	uidA := "tester/alpha:0.0.1@" + checksumOf(t, a)
	if _, err := e.store.GetDeclaration(ctx, uidA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("declaration of the first package kept: %v", err)
	}
	idA, _ := ParseIdentifier(uidA)
	if _, err := e.blob.Stat(ctx, packageKey(idA)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("first package kept in storage: %v", err)
	}
	idC, _ := ParseIdentifier(dc.UniqueIdentifier)
	if _, err := e.store.GetDeclaration(ctx, dc.UniqueIdentifier); err != nil {
		t.Errorf("package uploaded before the bundle lost its declaration: %v", err)
	}
	if _, err := e.blob.Stat(ctx, packageKey(idC)); err != nil {
		t.Errorf("package uploaded before the bundle lost: %v", err)
	}
}

func TestUploadBundleRejects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := buildPackage(t, "alpha", "0.0.1")
	good := makeBundle(t, [][]byte{a})
	missing := makeBundle(t, nil, bundle.Dependency{Type: bundle.Package, Value: bundle.Value{Path: strings.Repeat("c", 64)}})
	badPattern := makeBundle(t, nil, bundle.Dependency{Type: bundle.Marketplace, Value: bundle.Value{MarketplacePattern: "maths"}})
	notPkg := &bundle.Bundle{Manifest: bundle.Manifest{Name: "x", Dependencies: []bundle.Dependency{{Type: bundle.Package, Value: bundle.Value{Path: "p"}}}},
		Assets: map[string][]byte{"p": []byte("not a zip")}}
	var notPkgZip bytes.Buffer
	if err := notPkg.WriteZip(ctx, &notPkgZip); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		body []byte
		want string
	}{
		{"garbage", nil, []byte("nope"), "dify_bundle: bundle: not a valid zip"},
		{"too large", func(c *Config) { c.MaxBundleSize = 100 }, good, "100-byte limit (MAX_BUNDLE_PACKAGE_SIZE)"},
		{"missing package", nil, missing, "dependencies[0]: value.path: _assets/" + strings.Repeat("c", 64) + " is not in the bundle"},
		{"bad pattern", nil, badPattern, "dependencies[0]: value.marketplace_pattern"},
		{"not a package", nil, notPkgZip.Bytes(), "dependencies[0] (_assets/p): difypkg: not a valid zip"},
		{"unsigned when forced", func(c *Config) { c.ForceSignature = true }, good, "not signed"},
		{"unsigned langgenius package", func(c *Config) { c.EnforceLanggeniusSignatures = true },
			makeBundle(t, [][]byte{a, buildPackageBy(t, "langgenius", "beta", "0.0.1")}), "only packages signed by langgenius may use that author (ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES=true)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := e.manager(t, tc.mod)
			_, err := m.UploadBundle(ctx, "t1", bytes.NewReader(tc.body), false)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%T), want an InputError containing %q", err, err, tc.want)
			}
		})
	}
	if _, err := e.store.GetDeclaration(ctx, "tester/alpha:0.0.1@"+checksumOf(t, a)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused bundle left a declaration: %v", err)
	}
	m := e.manager(t, nil)
	if _, err := m.UploadBundle(ctx, "t1", bytes.NewReader(good), true); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("verify_signature=true with an unsigned package: %v", err)
	}
}

// TestUploadReferenceBundle: a bundle written by the reference's own bundle packager uploads,
// and the answer is what the reference's upload/bundle route builds for it.
func TestUploadReferenceBundle(t *testing.T) {
	data, err := os.ReadFile("../../testdata/vectors/derived/reference-bundle.difybndl")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	deps, err := m.UploadBundle(ctx, "t1", bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(deps)
	if err != nil {
		t.Fatal(err)
	}
	vec1, err := os.ReadFile("../../testdata/vectors/vec1.difypkg")
	if err != nil {
		t.Fatal(err)
	}
	single, err := m.Upload(ctx, "t1", bytes.NewReader(vec1), false)
	if err != nil {
		t.Fatal(err)
	}
	const uid = "test/echo:0.0.1@20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5"
	want := `[{"type":"package","value":{"manifest":` + string(single.Manifest) + `,"unique_identifier":"` + uid + `"}},` +
		`{"type":"marketplace","value":{"organization":"langgenius","plugin":"agent","version":"0.0.14"}},` +
		`{"type":"github","value":{"packages":"e2etool.difypkg","release":"^1.0.0","repo":"langgenius/e2etool","repo_address":"https://github.com/langgenius/e2etool"}}]`
	if single.UniqueIdentifier != uid || string(raw) != want {
		t.Fatalf("answer\n%s\nwant\n%s", raw, want)
	}
}
