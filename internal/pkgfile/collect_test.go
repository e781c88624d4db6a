package pkgfile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCollectSymlinks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, outside string)
		wantErr error
		msg     string
		want    []string
	}{
		{
			name: "symlinked file inside is packaged as a file",
			setup: func(t *testing.T, dir, _ string) {
				writeFile(t, filepath.Join(dir, "real.txt"), "hello")
				symlink(t, "real.txt", filepath.Join(dir, "link.txt"))
			},
			want: []string{"link.txt", "real.txt"},
		},
		{
			name: "symlink leading outside",
			setup: func(t *testing.T, dir, outside string) {
				writeFile(t, filepath.Join(outside, "secret"), "s3cret")
				symlink(t, filepath.Join("..", filepath.Base(outside), "secret"), filepath.Join(dir, "leak"))
			},
			wantErr: ErrUnsafePath,
			msg:     `plugin folder entry "leak": symlink does not lead to a file inside the plugin folder`,
		},
		{
			name: "absolute symlink",
			setup: func(t *testing.T, dir, outside string) {
				writeFile(t, filepath.Join(outside, "secret"), "s3cret")
				symlink(t, filepath.Join(outside, "secret"), filepath.Join(dir, "abs"))
			},
			wantErr: ErrUnsafePath,
			msg:     `"abs": symlink does not lead`,
		},
		{
			name: "symlinked directory is refused",
			setup: func(t *testing.T, dir, _ string) {
				writeFile(t, filepath.Join(dir, "shared", "x.py"), "x")
				symlink(t, "shared", filepath.Join(dir, "alias"))
			},
			wantErr: ErrUnsupported,
			msg:     `"alias": symlinks to directories are not packaged`,
		},
		{
			name: "ignored symlinks are never looked at",
			setup: func(t *testing.T, dir, outside string) {
				writeFile(t, filepath.Join(dir, ".difyignore"), ".venv/\n")
				symlink(t, "/usr/bin", filepath.Join(dir, ".venv", "bin"))
				writeFile(t, filepath.Join(dir, "main.py"), "")
			},
			want: []string{".difyignore", "main.py"},
		},
		{
			name: "fifo",
			setup: func(t *testing.T, dir, _ string) {
				if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
					t.Skip(err)
				}
			},
			wantErr: ErrUnsupported,
			msg:     `"pipe": not a regular file`,
		},
		{
			name: "backslash in a kept name",
			setup: func(t *testing.T, dir, _ string) {
				writeFile(t, filepath.Join(dir, `a\b`), "")
			},
			wantErr: ErrUnsafePath,
			msg:     "backslash",
		},
		{
			name: "invalid UTF-8 name",
			setup: func(t *testing.T, dir, _ string) {
				writeFile(t, filepath.Join(dir, "bad\xff"), "")
			},
			wantErr: ErrUnsafePath,
			msg:     "not valid UTF-8",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dir, outside := filepath.Join(base, "plugin"), filepath.Join(base, "outside")
			os.Mkdir(dir, 0o755)
			os.Mkdir(outside, 0o755)
			tc.setup(t, dir, outside)
			tree, err := Collect(context.Background(), dir)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range tree.Entries() {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("kept %q, want %q", names, tc.want)
			}
		})
	}
}

func TestTreeFS(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []string{"manifest.yaml", "a/b/c.txt", "a/d.txt", "z"})
	writeFile(t, filepath.Join(dir, ".difyignore"), "z\n")
	tree, err := Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	tree.Add("requirements.txt", []byte("dify_plugin\n"))
	if err := fstest.TestFS(tree, ".difyignore", "manifest.yaml", "a/b/c.txt", "a/d.txt", "requirements.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Stat("z"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ignored file visible: %v", err)
	}
	data, err := tree.ReadFile("requirements.txt")
	if err != nil || string(data) != "dify_plugin\n" {
		t.Errorf("added file: %q, %v", data, err)
	}
}

func TestTreeAddAndSize(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pyproject.toml"), "[project]\n")
	writeFile(t, filepath.Join(dir, "uv.lock"), "version = 1\n")
	writeFile(t, filepath.Join(dir, "big.bin"), strings.Repeat("x", 1000))
	tree, err := Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tree.NeedsRequirementsExport() {
		t.Error("pyproject.toml + uv.lock without requirements.txt should need an export")
	}
	sumBefore, _ := tree.Checksum(context.Background())
	tree.Add("requirements.txt", []byte("requests\n"))
	if tree.NeedsRequirementsExport() {
		t.Error("export still needed after Add")
	}
	if sumAfter, _ := tree.Checksum(context.Background()); sumAfter == sumBefore {
		t.Error("an added file must change the checksum, as in the reference")
	}
	if got := tree.TotalSize(); got != 10+12+1000+9 {
		t.Errorf("TotalSize %d", got)
	}
	if err := tree.CheckSize(2000); err != nil {
		t.Errorf("CheckSize under the limit: %v", err)
	}
	err = tree.CheckSize(100)
	var se *SizeError
	if !errors.As(err, &se) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CheckSize: %v", err)
	}
	if se.Largest[0].Name != "big.bin" || len(se.Largest) != 4 || !strings.Contains(err.Error(), "1. big.bin (1000 bytes)") {
		t.Errorf("SizeError: %v", err)
	}
	tree.Add("../evil", nil)
	if err := tree.WriteZip(context.Background(), new(bytes.Buffer), nil); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("bad added name: %v", err)
	}
}

func TestExportRequirements(t *testing.T) {
	ctx := context.Background()
	bin := t.TempDir()
	// A stand-in for uv that prints its arguments and working directory.
	fake := filepath.Join(bin, "uv")
	writeFile(t, fake, "#!/bin/sh\necho \"$@\"\npwd\n")
	os.Chmod(fake, 0o755)
	plugin := t.TempDir()

	out, err := ExportRequirements(ctx, plugin, fake)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := "export --frozen --format requirements.txt --no-group dev --no-emit-project --no-hashes --no-header --no-annotate\n"
	if !strings.HasPrefix(string(out), wantArgs) || !strings.Contains(string(out), plugin) {
		t.Errorf("uv ran as %q", out)
	}

	t.Setenv("UV_PATH", fake)
	if _, err := ExportRequirements(ctx, plugin, ""); err != nil {
		t.Errorf("UV_PATH: %v", err)
	}

	t.Setenv("UV_PATH", "")
	t.Setenv("PATH", t.TempDir())
	_, err = ExportRequirements(ctx, plugin, "")
	checkErr(t, err, ErrUVNotFound, "pip install uv")

	// Recent uv fails on --no-group dev when there is no dev group; we retry without it.
	strict := filepath.Join(bin, "uv-strict")
	writeFile(t, strict, "#!/bin/sh\ncase \"$*\" in *--no-group*) echo 'error: Group `dev` is not defined' >&2; exit 2;; esac\necho ok\n")
	os.Chmod(strict, 0o755)
	if out, err := ExportRequirements(ctx, plugin, strict); err != nil || string(out) != "ok\n" {
		t.Errorf("retry without --no-group: %q, %v", out, err)
	}

	failing := filepath.Join(bin, "uv-fail")
	writeFile(t, failing, "#!/bin/sh\necho 'lock file out of date' >&2\nexit 2\n")
	os.Chmod(failing, 0o755)
	if _, err := ExportRequirements(ctx, plugin, failing); err == nil || !strings.Contains(err.Error(), "lock file out of date") {
		t.Errorf("failing uv: %v", err)
	}
}

// TestExportRequirementsRealUV runs the real uv when scripts/test-deps.sh provided one.
func TestExportRequirementsRealUV(t *testing.T) {
	uv := os.Getenv("PLUGD_TEST_UV")
	if uv == "" {
		t.Skip("PLUGD_TEST_UV not set (see scripts/test-deps.sh)")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pyproject.toml"), "[project]\nname = \"p\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = []\n")
	if out, err := runIn(dir, uv, "lock", "--offline"); err != nil {
		t.Skipf("uv lock: %v\n%s", err, out)
	}
	out, err := ExportRequirements(context.Background(), dir, uv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "#") {
		t.Errorf("--no-header should drop comments: %q", out)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func checkErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v containing %q", kind, msg)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
}

func runIn(dir, exe string, args ...string) ([]byte, error) {
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}
