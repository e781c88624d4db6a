package daemon

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestEnsureServerKeyFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	c := Config{DataDir: dir, ServerKey: "a-long-enough-random-key"}
	var out bytes.Buffer
	generated, err := EnsureServerKey(&c, &out)
	if err != nil || generated {
		t.Fatalf("generated %v, err %v", generated, err)
	}
	if c.ServerKey != "a-long-enough-random-key" || out.Len() != 0 {
		t.Fatalf("key %q, printed %q", c.ServerKey, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was written although SERVER_KEY is set: %v", err)
	}
}

func TestEnsureServerKeyRefusesWeakKeys(t *testing.T) {
	for _, key := range []string{
		"plugin-api-key",
		"lYkiYYT6owG+71oLerGzA7GXCgOT++6ovaezWAjpCjf+Sjc3ZtU+qUEi",
		"difyai123456",
		"fifteen-chars!!",
	} {
		c := Config{DataDir: t.TempDir(), ServerKey: key}
		_, err := EnsureServerKey(&c, &bytes.Buffer{})
		var weak *WeakKeyError
		if !errors.As(err, &weak) {
			t.Fatalf("%q: error %v, want a *WeakKeyError", key, err)
		}
		for _, w := range []string{"SERVER_KEY", "PLUGIN_DAEMON_KEY", "unset SERVER_KEY"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", key, err, w)
			}
		}
		if len(key) >= MinServerKeyLen && !strings.Contains(err.Error(), "published default") {
			t.Errorf("%q: error %q does not say why", key, err)
		}
		if len(key) < MinServerKeyLen && strings.Contains(err.Error(), key) {
			t.Errorf("error echoes the key: %q", err)
		}
	}
}

func TestEnsureServerKeyGeneratesOnce(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "new", "plugd")
	c := Config{DataDir: dataDir, ServerKeyFile: filepath.Join(dataDir, "server.key")}
	var out bytes.Buffer
	generated, err := EnsureServerKey(&c, &out)
	if err != nil || !generated {
		t.Fatalf("generated %v, err %v", generated, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.ServerKey)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key %q is not 32 bytes of base64url: %v", c.ServerKey, err)
	}
	printed := out.String()
	if strings.Count(printed, "\n") != 1 || !strings.Contains(printed, c.ServerKey) || !strings.Contains(printed, "PLUGIN_DAEMON_KEY") {
		t.Fatalf("printed %q", printed)
	}
	data, err := os.ReadFile(c.ServerKeyFile)
	if err != nil || strings.TrimSpace(string(data)) != c.ServerKey {
		t.Fatalf("key file %q, %v", data, err)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(c.ServerKeyFile); st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %04o", st.Mode().Perm())
		}
		if st, _ := os.Stat(dataDir); st.Mode().Perm() != 0o700 {
			t.Fatalf("data folder mode %04o", st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}

	// The next start reads the same key and prints nothing.
	again := Config{DataDir: dataDir}
	out.Reset()
	generated, err = EnsureServerKey(&again, &out)
	if err != nil || generated || again.ServerKey != c.ServerKey || out.Len() != 0 {
		t.Fatalf("second run: generated %v key %q printed %q err %v", generated, again.ServerKey, out.String(), err)
	}
	if again.ServerKeyFile != c.ServerKeyFile {
		t.Fatalf("ServerKeyFile %q", again.ServerKeyFile)
	}
}

func TestEnsureServerKeyFileProblems(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"too open", "a-good-and-long-random-key\n", 0o644, "chmod 600"},
		{"group readable", "a-good-and-long-random-key\n", 0o640, "0640"},
		{"empty", "\n", 0o600, "shorter than"},
		{"published default", "lYkiYYT6owG+71oLerGzA7GXCgOT++6ovaezWAjpCjf+Sjc3ZtU+qUEi\n", 0o600, "published default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "server.key")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			c := Config{DataDir: dir}
			var out bytes.Buffer
			generated, err := EnsureServerKey(&c, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and %q", err, path, tt.want)
			}
			if generated || out.Len() != 0 || c.ServerKey != "" {
				t.Fatalf("generated %v, printed %q, key %q", generated, out.String(), c.ServerKey)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Fatal("the refused key file was changed")
			}
		})
	}
}

func TestEnsureServerKeyFolderIsFile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "data")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{DataDir: blocker}
	if _, err := EnsureServerKey(&c, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("error %v", err)
	}
	if c.ServerKey != "" {
		t.Fatal("key set although it was not saved")
	}
}
