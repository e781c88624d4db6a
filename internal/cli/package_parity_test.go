package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// noReadmeVector is the package of echo-fixture without README.md, as the reference
// `dify plugin package` writes it. The reference CLI does not run in the tests, so the vector
// was made by the reference packager's own procedure (pkg/plugin_packager/packager at bdb5642a:
// validate manifest.yaml and the icons, walk the folder after .difyignore, sort the paths,
// then archive/zip's Create and Write for each file in that order, nothing else: no
// timestamps, no comment, no README check) applied to vec1.difypkg's files minus README.md.
// TestNoReadmeVectorFollowsTheReference checks that derivation against vec1, which the real
// reference CLI produced; the reference's packager built from source was seen to write the
// same bytes (testdata/vectors/README.md).
const noReadmeVector = vectors + "/derived/echo-noreadme.difypkg"

// TestPackageWithoutReadme: a folder the reference packages (no README.md) is packaged, to the
// reference's bytes, with a warning; --strict refuses it and writes nothing.
func TestPackageWithoutReadme(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	if err := os.Remove(filepath.Join(plugin, "README.md")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "echo.difypkg")
	code, stdout, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", out)
	if code != 0 {
		t.Fatalf("package: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "warning: README.md: README.md does not exist") || strings.Contains(stdout, "warning") {
		t.Errorf("the missing README.md is not a warning on stderr:\nstdout %q\nstderr %q", stdout, stderr)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile(noReadmeVector)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("package bytes (%d) differ from %s (%d)", len(got), noReadmeVector, len(want))
	}

	code, stdout, _ = run(t, "plugd", "plugin", "package", "--json", plugin, "-o", filepath.Join(t.TempDir(), "j.difypkg"))
	var res struct{ Warnings []string }
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "README.md: ") {
		t.Errorf("package --json: exit %d\n%s", code, stdout)
	}

	strictOut := filepath.Join(t.TempDir(), "strict.difypkg")
	code, _, stderr = run(t, "plugd", "plugin", "package", "--strict", plugin, "-o", strictOut)
	if code != 1 || !strings.Contains(stderr, "README.md: README.md does not exist") || !strings.Contains(stderr, "\n1 problem found; nothing was written") {
		t.Fatalf("package --strict: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(strictOut); !os.IsNotExist(err) {
		t.Fatalf("package --strict wrote %s: %v", strictOut, err)
	}

	// validate agrees: valid with a warning, invalid with --strict.
	code, stdout, stderr = run(t, "plugd", "plugin", "validate", plugin)
	if code != 0 || !strings.HasPrefix(stdout, "ok: ") || !strings.Contains(stderr, "warning: README.md") {
		t.Errorf("validate: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "plugd", "plugin", "validate", "--json", plugin)
	var v struct {
		Valid    bool
		Problems []json.RawMessage
		Warnings []struct {
			File     string
			Advisory bool
		}
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || !v.Valid || len(v.Problems) != 0 ||
		len(v.Warnings) != 1 || v.Warnings[0].File != "README.md" || !v.Warnings[0].Advisory {
		t.Errorf("validate --json: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "plugd", "plugin", "validate", "--strict", plugin)
	if code != 1 || !strings.Contains(stdout, "README.md: README.md does not exist") {
		t.Errorf("validate --strict: exit %d\n%s", code, stdout)
	}
}

// TestNoReadmeVectorFollowsTheReference checks that noReadmeVector is what the reference
// packager writes for echo-fixture minus README.md, using vec1.difypkg (written by the real
// reference CLI from the full folder) as the anchor:
//   - the entries are vec1's minus README.md, in the same (sorted) order;
//   - every entry's header fields and compressed bytes are vec1's own, so nothing depends on
//     the compressor of the Go release running this test;
//   - the framing (local headers, data descriptors, central directory, end record) is
//     archive/zip's, rebuilt here from vec1's raw entries, which is all the reference adds.
func TestNoReadmeVectorFollowsTheReference(t *testing.T) {
	vec1, err := zip.OpenReader(filepath.Join(vectors, "vec1.difypkg"))
	if err != nil {
		t.Fatal(err)
	}
	defer vec1.Close()
	derived, err := zip.OpenReader(noReadmeVector)
	if err != nil {
		t.Fatal(err)
	}
	defer derived.Close()

	var kept []*zip.File
	for _, f := range vec1.File {
		if f.Name != "README.md" {
			kept = append(kept, f)
		}
	}
	if len(kept) != len(vec1.File)-1 || len(derived.File) != len(kept) {
		t.Fatalf("vec1 has %d entries, the vector %d; want vec1's minus README.md", len(vec1.File), len(derived.File))
	}
	names := func(fs []*zip.File) (out []string) {
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	if !slices.IsSorted(names(derived.File)) || !slices.Equal(names(derived.File), names(kept)) {
		t.Fatalf("entries %v, want %v", names(derived.File), names(kept))
	}
	if derived.Comment != "" {
		t.Errorf("the reference packager writes no comment, the vector has %q", derived.Comment)
	}

	raw := func(f *zip.File) []byte {
		r, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var rebuilt bytes.Buffer
	zw := zip.NewWriter(&rebuilt)
	for i, f := range derived.File {
		ref := kept[i]
		if f.FileHeader.Method != ref.Method || f.Flags != ref.Flags || f.CRC32 != ref.CRC32 ||
			f.CompressedSize64 != ref.CompressedSize64 || f.UncompressedSize64 != ref.UncompressedSize64 ||
			f.ModifiedTime != ref.ModifiedTime || f.ModifiedDate != ref.ModifiedDate ||
			f.CreatorVersion != ref.CreatorVersion || f.ReaderVersion != ref.ReaderVersion ||
			f.ExternalAttrs != ref.ExternalAttrs || !bytes.Equal(f.Extra, ref.Extra) {
			t.Errorf("%s: header %+v differs from vec1's %+v", f.Name, f.FileHeader, ref.FileHeader)
		}
		if !bytes.Equal(raw(f), raw(ref)) {
			t.Errorf("%s: compressed bytes differ from vec1's", f.Name)
		}
		h := ref.FileHeader
		w, err := zw.CreateRaw(&h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(raw(ref))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(noReadmeVector)
	if !bytes.Equal(rebuilt.Bytes(), want) {
		t.Fatalf("vec1's entries minus README.md, framed by archive/zip, give %d bytes that differ from the vector's %d", rebuilt.Len(), len(want))
	}
}

// TestPackageWarnsWhereTheReferenceDiffers: where plugd's ignore rules deliberately differ
// from the reference's (a "!" rule, a .git folder no rule excludes), package says so.
func TestPackageWarnsWhereTheReferenceDiffers(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	if code, _, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", filepath.Join(t.TempDir(), "a.difypkg")); code != 0 || strings.Contains(stderr, "reference CLI") {
		t.Fatalf("the fixture packages as the reference does, yet: exit %d\n%s", code, stderr)
	}
	ignore := filepath.Join(plugin, ".difyignore")
	data, _ := os.ReadFile(ignore)
	os.WriteFile(ignore, append(data, "*.json\n!data/nested/config.json\n"...), 0o644)
	os.MkdirAll(filepath.Join(plugin, ".git"), 0o755)
	os.WriteFile(filepath.Join(plugin, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	out := filepath.Join(t.TempDir(), "b.difypkg")
	code, _, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		`warning: data/nested/config.json: kept by a "!" rule, which the reference CLI ignores: it leaves this out`,
		"warning: .git: the reference CLI packages it (plugd never packages .git)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "data/nested/config.json") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ".git/") }) {
		t.Errorf("entries %v: want the re-included file and no .git", names)
	}
}
