package e2e

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rezip rewrites a package: edit may change any file's content (by name) and add files;
// stored names are written uncompressed so that a test can corrupt their bytes afterwards.
func rezip(t *testing.T, pkg []byte, edit func(files map[string][]byte), stored ...string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
		order = append(order, f.Name)
	}
	edit(files)
	for name := range files {
		if !bytes.Contains([]byte(strings.Join(order, "\x00")+"\x00"), []byte(name+"\x00")) {
			order = append(order, name)
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		data, ok := files[name]
		if !ok {
			continue
		}
		method := zip.Deflate
		for _, s := range stored {
			if s == name {
				method = zip.Store
			}
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// appendToManifest adds YAML at the end of manifest.yaml.
func appendToManifest(extra string) func(map[string][]byte) {
	return func(files map[string][]byte) {
		files["manifest.yaml"] = append(append([]byte{}, files["manifest.yaml"]...), extra...)
	}
}

// hostileLaughs is the classic exponential-alias document: 10^9 values from a few lines.
func hostileLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// TestHostilePackagesRefusedAlike builds the hostile packages of issue 16 and checks that
// `plugd plugin validate PKG` and the daemon's upload both refuse each, with the same
// message, and that a refused upload leaves nothing behind.
func TestHostilePackagesRefusedAlike(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	bin := binary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, daemonOptions{DataDir: dataDir})
	c := d.client(newTenant())

	const marker = "crc-marker-0123456789"
	badCRC := rezip(t, pk.V1.Data, func(files map[string][]byte) {
		files["README.md"] = append(append([]byte{}, files["README.md"]...), "\n"+marker+"\n"...)
	}, "README.md")
	badCRC = bytes.Replace(badCRC, []byte(marker), []byte(strings.ToUpper(marker)), 1)

	cases := []struct {
		name string
		pkg  []byte
		want string // part of the message both must give
	}{
		{"billion laughs", rezip(t, pk.V1.Data, appendToManifest(hostileLaughs())), "document expands to more than 1000000 nodes"},
		{"nesting deeper than 100", rezip(t, pk.V1.Data, appendToManifest("deep: "+strings.Repeat("[", 150)+strings.Repeat("]", 150)+"\n")), "nesting deeper than 100 levels"},
		{"icon outside the package", rezip(t, pk.V1.Data, func(files map[string][]byte) {
			files["manifest.yaml"] = bytes.Replace(files["manifest.yaml"], []byte("icon: icon.svg"), []byte("icon: ../../../../etc/passwd"), 1)
		}), `icon "../../../../etc/passwd" points outside _assets/`},
		{"300-byte file name", rezip(t, pk.V1.Data, func(files map[string][]byte) {
			files["data/"+strings.Repeat("n", 300)+".txt"] = []byte("x")
		}), "a path element is 304 bytes"},
		{"bad CRC", badCRC, `"README.md"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hostile.difypkg")
			if err := os.WriteFile(path, tc.pkg, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "plugin", "validate", path).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("validate: %v, want exit 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("validate says:\n%s\nwant %q", out, tc.want)
			}
			status, body := uploadRaw(t, c, formBody{
				files:  map[string]formFile{"dify_pkg": {name: "hostile.difypkg", data: tc.pkg}},
				fields: map[string]string{"verify_signature": "false"},
			})
			_, _, msg := errorEnvelope(t, "upload of "+tc.name, body)
			if status != 200 || msg == "" {
				t.Fatalf("upload: HTTP %d %.300s", status, body)
			}
			// Every line validate printed about the package is in the daemon's answer,
			// word for word.
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				line = strings.TrimPrefix(line, "error: ")
				if strings.HasSuffix(line, " found in "+path) { // the summary line
					continue
				}
				if !strings.Contains(msg, line) {
					t.Errorf("validate printed %q; the upload's message lacks it:\n%s", line, msg)
				}
			}
		})
	}
	// Nothing of the refused uploads stays: no temporary file, no package, no declaration.
	for _, sub := range []string{"tmp", "storage/packages", "storage/assets"} {
		entries, _ := os.ReadDir(filepath.Join(dataDir, sub))
		if len(entries) != 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s/ holds %v after refused uploads", sub, names)
		}
	}
}
