package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

const vectors = "../../testdata/vectors"

// run executes the real command tree in-process, as the binary named argv0 would.
func run(t *testing.T, argv0 string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{
		Args:    append([]string{argv0}, args...),
		Stdin:   strings.NewReader(""),
		Stdout:  &out,
		Stderr:  &errb,
		Version: "0.1.0",
	})
	return code, out.String(), errb.String()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

const (
	vec1Bytes    = "926b4f079f00aa82c1c6e58220ea7b1527a35ba7b8fd9d782d8eee5cd436d8b6"
	vec1Checksum = "20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5"
)

func TestPackageReproducesVec1(t *testing.T) {
	out := filepath.Join(t.TempDir(), "echo.difypkg")
	code, stdout, stderr := run(t, "plugd", "plugin", "package", filepath.Join(vectors, "echo-fixture"), "-o", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if got := sha256File(t, out); got != vec1Bytes {
		t.Fatalf("package bytes differ from vec1.difypkg: sha256 %s", got)
	}
	if !strings.Contains(stdout, "test/echo:0.0.1@"+vec1Checksum) {
		t.Fatalf("output lacks the unique identifier:\n%s", stdout)
	}
}

func TestChecksumFolderAndPackageAgree(t *testing.T) {
	for _, path := range []string{filepath.Join(vectors, "echo-fixture"), filepath.Join(vectors, "vec1.difypkg")} {
		code, stdout, stderr := run(t, "plugd", "plugin", "checksum", path)
		if code != 0 || strings.TrimSpace(stdout) != vec1Checksum {
			t.Fatalf("checksum %s: exit %d, stdout %q, stderr %q", path, code, stdout, stderr)
		}
		code, stdout, _ = run(t, "plugd", "plugin", "checksum", "--json", path)
		var res struct {
			Checksum         string
			UniqueIdentifier string `json:"unique_identifier"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil {
			t.Fatalf("checksum --json %s: exit %d, %q", path, code, stdout)
		}
		if res.UniqueIdentifier != "test/echo:0.0.1@"+vec1Checksum {
			t.Fatalf("unique identifier %q", res.UniqueIdentifier)
		}
	}
	official := filepath.Join(vectors, "official", "langgenius-agent_0.0.14.difypkg")
	if code, stdout, stderr := run(t, "plugd", "plugin", "checksum", official); code != 0 || strings.TrimSpace(stdout) != "26958a0e80a10655ce73812bdb7c35a66ce7b16f5ac346d298bda17ff85efd1e" {
		t.Fatalf("official checksum: exit %d %q %q", code, stdout, stderr)
	}
}

func TestChecksumMissingPathFails(t *testing.T) {
	if code, _, stderr := run(t, "plugd", "plugin", "checksum", "/nonexistent/x.difypkg"); code == 0 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVerifyVectors(t *testing.T) {
	testKey := filepath.Join(vectors, "testkey.public.pem")
	trust := t.TempDir()
	for _, key := range []string{testKey, filepath.Join(vectors, "official", "langgenius_public_key.pem")} {
		data, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(trust, filepath.Base(key)), data, 0o644)
	}
	cases := []struct {
		name, pkg, key string
		code           int
		want           string
	}{
		{"signed", "vec1.signed.difypkg", testKey, 0, "community"},
		{"tampered", "vec1.tampered.difypkg", testKey, 1, "verification failed"},
		{"unsigned", "vec1.difypkg", testKey, 1, "not signed"},
		{"official", "official/langgenius-agent_0.0.14.difypkg", filepath.Join(vectors, "official", "langgenius_public_key.pem"), 0, "langgenius"},
		{"official with the wrong key", "official/langgenius-agent_0.0.14.difypkg", testKey, 1, "testkey.public.pem"},
		{"trust folder", "vec1.signed.difypkg", trust, 0, "testkey.public.pem"},
		{"trust folder, official", "official/langgenius-agent_0.0.14.difypkg", trust, 0, "langgenius_public_key.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "plugd", "signature", "verify", filepath.Join(vectors, tc.pkg), "-p", tc.key)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
	// Without -p the official key is used, as the reference CLI does.
	if code, _, stderr := run(t, "plugd", "signature", "verify", filepath.Join(vectors, "vec1.signed.difypkg")); code != 1 || !strings.Contains(stderr, "official") {
		t.Fatalf("verify of a test-signed package without a key: exit %d, %q", code, stderr)
	}
	official := filepath.Join(t.TempDir(), "langgenius-agent_0.0.14.difypkg")
	if err := os.WriteFile(official, marketplacetest.AgentPackage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run(t, "plugd", "signature", "verify", official); code != 0 || !strings.Contains(stdout, "authorized category langgenius") {
		t.Fatalf("verify of the official package without a key: exit %d, %q %q", code, stdout, stderr)
	}
	code, stdout, _ := run(t, "plugd", "signature", "verify", "--json", filepath.Join(vectors, "vec1.tampered.difypkg"), "-p", testKey)
	var res struct {
		Verified bool
		Error    string
	}
	if code != 1 || json.Unmarshal([]byte(stdout), &res) != nil || res.Verified || res.Error == "" {
		t.Fatalf("verify --json tampered: exit %d, %q", code, stdout)
	}
}

func TestGenerateSignVerifyResign(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "k")
	if code, stdout, stderr := run(t, "plugd", "signature", "generate", "-f", prefix, "--bits", "2048"); code != 0 {
		t.Fatalf("generate: %d %s %s", code, stdout, stderr)
	}
	if st, err := os.Stat(prefix + ".private.pem"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", st.Mode(), err)
	}
	pkg := filepath.Join(dir, "vec1.difypkg")
	data, _ := os.ReadFile(filepath.Join(vectors, "vec1.difypkg"))
	os.WriteFile(pkg, data, 0o644)
	if code, stdout, stderr := run(t, "plugd", "signature", "sign", pkg, "-p", prefix+".private.pem", "-c", "partner"); code != 0 {
		t.Fatalf("sign: %d %s %s", code, stdout, stderr)
	}
	signed := filepath.Join(dir, "vec1.signed.difypkg")
	if code, stdout, stderr := run(t, "plugd", "signature", "verify", signed, "-p", prefix+".public.pem"); code != 0 || !strings.Contains(stdout, "partner") {
		t.Fatalf("verify: %d %s %s", code, stdout, stderr)
	}
	// Signing the signed package again must give one that verifies, with one verification file.
	if code, stdout, stderr := run(t, "plugd", "signature", "sign", signed, "-p", prefix+".private.pem", "-c", "community", "-o", filepath.Join(dir, "again.difypkg")); code != 0 {
		t.Fatalf("re-sign: %d %s %s", code, stdout, stderr)
	}
	again := filepath.Join(dir, "again.difypkg")
	if code, stdout, stderr := run(t, "plugd", "signature", "verify", again, "-p", prefix+".public.pem"); code != 0 || !strings.Contains(stdout, "community") {
		t.Fatalf("verify re-signed: %d %s %s", code, stdout, stderr)
	}
	zr, err := zip.OpenReader(again)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	n := 0
	for _, f := range zr.File {
		if f.Name == ".verification.dify.json" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d verification files in a re-signed package", n)
	}
	if code, _, stderr := run(t, "plugd", "signature", "sign", pkg, "-p", prefix+".private.pem", "-c", "nobody"); code != 2 || !strings.Contains(stderr, "nobody") {
		t.Fatalf("bad category: exit %d %q", code, stderr)
	}
}

func TestInvalidPluginFailsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "bad")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	manifest := filepath.Join(plugin, "manifest.yaml")
	data, _ := os.ReadFile(manifest)
	data = bytes.Replace(data, []byte("author: test"), []byte("author: Not Valid"), 1)
	data = bytes.Replace(data, []byte("language: python"), []byte("language: cobol"), 1)
	os.WriteFile(manifest, data, 0o644)

	code, stdout, _ := run(t, "plugd", "plugin", "validate", "--json", plugin)
	var v struct {
		Valid    bool
		Problems []struct {
			File, Field, Message string
			Line                 int
		}
	}
	if code != 1 || json.Unmarshal([]byte(stdout), &v) != nil || v.Valid || len(v.Problems) < 2 {
		t.Fatalf("validate: exit %d\n%s", code, stdout)
	}
	for _, p := range v.Problems {
		if p.File != "manifest.yaml" || p.Line == 0 {
			t.Errorf("problem without file and line: %+v", p)
		}
	}
	out := filepath.Join(dir, "bad.difypkg")
	code, _, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", out)
	if code != 1 || !strings.Contains(stderr, "manifest.yaml:") || !strings.Contains(stderr, "nothing was written") {
		t.Fatalf("package: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an invalid plugin was packaged: %v", err)
	}
}

func TestValidateValid(t *testing.T) {
	for _, path := range []string{filepath.Join(vectors, "echo-fixture"), filepath.Join(vectors, "vec1.signed.difypkg"), filepath.Join(vectors, "official", "langgenius-agent_0.0.14.difypkg")} {
		if code, stdout, stderr := run(t, "plugd", "plugin", "validate", path); code != 0 || !strings.HasPrefix(stdout, "ok: ") {
			t.Errorf("validate %s: exit %d\n%s%s", path, code, stdout, stderr)
		}
	}
}

func TestPackageSizeLimit(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "big")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	os.WriteFile(filepath.Join(plugin, "data", "blob.bin"), bytes.Repeat([]byte("x"), 2<<20), 0o644)
	code, _, stderr := run(t, "plugd", "plugin", "package", plugin, "--max-size", "1", "-o", filepath.Join(t.TempDir(), "o.difypkg"))
	if code != 1 || !strings.Contains(stderr, "data/blob.bin") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestPackageExportsRequirementsWithUV(t *testing.T) {
	uv := os.Getenv("PLUGD_TEST_UV")
	if uv == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatal("PLUGD_TEST_UV is not set: run the tests through scripts/test.sh")
	}
	plugin := filepath.Join(t.TempDir(), "uvplugin")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	os.Remove(filepath.Join(plugin, "requirements.txt"))
	os.WriteFile(filepath.Join(plugin, "pyproject.toml"), []byte("[project]\nname = \"uvplugin\"\nversion = \"0.0.1\"\nrequires-python = \">=3.11\"\ndependencies = []\n"), 0o644)
	lock := exec.Command(uv, "lock", "--offline")
	lock.Dir = plugin
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("uv lock: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "uv.difypkg")
	if code, stdout, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", out, "--uv", uv); code != 0 {
		t.Fatalf("package: %d %s %s", code, stdout, stderr)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	found := false
	for _, f := range zr.File {
		found = found || f.Name == "requirements.txt"
	}
	if !found {
		t.Fatal("no requirements.txt in the package")
	}
	// The folder's checksum includes the exported file too, so folder and package agree.
	_, a, _ := run(t, "plugd", "plugin", "checksum", plugin, "--uv", uv)
	_, b, _ := run(t, "plugd", "plugin", "checksum", out)
	if a != b {
		t.Fatalf("folder checksum %q, package checksum %q", a, b)
	}
	// Without uv the error says what to install.
	t.Setenv("PATH", t.TempDir())
	t.Setenv("UV_PATH", "")
	code, _, stderr := run(t, "plugd", "plugin", "package", plugin, "-o", out)
	if code != 1 || !strings.Contains(stderr, "uv") || !strings.Contains(stderr, "requirements.txt") {
		t.Fatalf("without uv: exit %d, %q", code, stderr)
	}
}

func TestDifyNameAnswersTheSameTree(t *testing.T) {
	for _, argv0 := range []string{"/usr/local/bin/dify", "dify-plugin-linux-amd64"} {
		code, stdout, stderr := run(t, argv0, "plugin", "checksum", filepath.Join(vectors, "vec1.difypkg"))
		if code != 0 || strings.TrimSpace(stdout) != vec1Checksum {
			t.Fatalf("%s: exit %d %q %q", argv0, code, stdout, stderr)
		}
		if _, stdout, _ := run(t, argv0, "--help"); !strings.Contains(stdout, filepath.Base(argv0)+" [command]") {
			t.Fatalf("%s --help does not use its name:\n%s", argv0, stdout)
		}
	}
	if code, stdout, _ := run(t, "dify", "version"); code != 0 || strings.TrimSpace(stdout) != "0.1.0" {
		t.Fatalf("version: %d %q", code, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"plugin", "package"}, {"plugin", "nosuch"}, {"plugin", "checksum", "--bogus", "x"}} {
		if code, _, stderr := run(t, "plugd", args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
