package pyenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{line: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"Resol", "ved 3 packages\r\nDownloading x\n\n   \n", "50%\r100%\r", "tail without newline"} {
		w.Write([]byte(chunk))
	}
	w.Write([]byte(strings.Repeat("x", 9*maxLine)))
	w.flush()
	want := []string{"Resolved 3 packages", "Downloading x", "50%", "100%", "tail without newline" + strings.Repeat("x", 9*maxLine)[:maxLine-len("tail without newline")]}
	if len(got) != 5 || !slices.Equal(got[:4], want[:4]) {
		t.Fatalf("got %q", got[:min(len(got), 4)])
	}
	if last := got[4]; len(last) != maxLine+len("…") || !strings.HasPrefix(last, "tail without newline") {
		t.Errorf("long line: %d bytes", len(last))
	}
}

func TestPhaseOf(t *testing.T) {
	for line, want := range map[string]Phase{
		"Resolved 38 packages in 1.28s":                 "",
		"Collecting six==1.17.0":                        "",
		"Downloading gevent (6.4MiB)":                   PhaseDownloading,
		"  Downloading six-1.17.0-py2.py3-none-any.whl": PhaseDownloading,
		" Downloaded gevent":                            PhaseDownloading,
		"Prepared 38 packages in 1.81s":                 PhaseInstalling,
		"Installing collected packages: six":            PhaseInstalling,
		"Successfully installed six-1.17.0":             PhaseInstalling,
	} {
		if got := phaseOf(line); got != want {
			t.Errorf("phaseOf(%q) = %q, want %q", line, got, want)
		}
	}
	if later(PhaseInstalling, PhaseDownloading) != PhaseInstalling || later(PhaseResolving, "") != PhaseResolving {
		t.Error("phases move backwards")
	}
}

func TestRedactArgs(t *testing.T) {
	got := redactArgs([]string{"pip", "--index-url", "https://user:secret@m.example/simple", "--extra-index-url=https://token@x.example/", "six"})
	if s := strings.Join(got, " "); strings.Contains(s, "secret") || strings.Contains(s, "token") || !strings.Contains(s, "m.example/simple") {
		t.Errorf("redactArgs = %q", got)
	}
}

func TestInstallerEnvIsAllowListed(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "leak")
	t.Setenv("DB_PASSWORD", "leak")
	t.Setenv("PIP_INDEX_URL", "https://leak.example/simple")
	t.Setenv("UV_INDEX_URL", "https://leak.example/simple")
	t.Setenv("HTTPS_PROXY", "http://leak:1")
	b := NewBuilder(t.TempDir(), Settings{HTTPSProxy: "http://proxy:3128", CABundle: "/etc/my-ca.pem", CacheDir: "/c"})
	env := b.installerEnv()
	joined := strings.Join(env, "\n")
	if strings.Contains(joined, "leak") {
		t.Errorf("daemon environment leaked:\n%s", joined)
	}
	for _, want := range []string{"HTTPS_PROXY=http://proxy:3128", "https_proxy=http://proxy:3128", "SSL_CERT_FILE=/etc/my-ca.pem",
		"PIP_CERT=/etc/my-ca.pem", "UV_CACHE_DIR=/c/uv", "PIP_CACHE_DIR=/c/pip", "PIP_CONFIG_FILE=" + os.DevNull, "UV_NO_CONFIG=1"} {
		if !slices.Contains(env, want) {
			t.Errorf("missing %s in\n%s", want, joined)
		}
	}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR"}, name) &&
			!strings.HasPrefix(name, "UV_") && !strings.HasPrefix(name, "PIP_") && !strings.HasPrefix(strings.ToUpper(name), "HTTP") &&
			!slices.Contains([]string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PYTHONNOUSERSITE"}, name) {
			t.Errorf("unexpected variable %s", name)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	vars := map[string]string{
		"PYTHON_INTERPRETER_PATH": "/opt/py/bin/python3.12", "UV_PATH": "/opt/uv", "PIP_MIRROR_URL": "https://m.example/simple",
		"PIP_EXTRA_ARGS": "--pre  --no-build-isolation", "https_proxy": "http://p:1", "PLUGIN_IGNORE_UV_LOCK": "true",
		"PLUGD_PYTHON_INSTALLER": "PIP", "PLUGD_PYTHON_ENV_TIMEOUT": "90", "PLUGD_PYTHON_WHEELHOUSE": "/wheels",
	}
	s := SettingsFromEnv(func(k string) string { return vars[k] })
	if s.Python != "/opt/py/bin/python3.12" || s.UV != "/opt/uv" || s.IndexURL != "https://m.example/simple" ||
		!slices.Equal(s.ExtraArgs, []string{"--pre", "--no-build-isolation"}) || s.HTTPSProxy != "http://p:1" ||
		!s.IgnoreUVLock || s.Installer != InstallerPip || s.Timeout != 90*time.Second || s.Wheelhouse != "/wheels" {
		t.Errorf("%+v", s)
	}
	if SettingsFromEnv(func(k string) string { return map[string]string{"PLUGD_PYTHON_INSTALLER": "conda"}[k] }).Installer != InstallerAuto {
		t.Error("unknown installer not read as auto")
	}
}

func TestLockPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks", "k.lock")
	unlock, err := lockPath(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := lockPath(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock: %v, want deadline exceeded", err)
	}

	// A waiter blocked on a lock file that its holder removes locks the new file instead.
	got := make(chan error, 1)
	go func() {
		u, err := lockPath(context.Background(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	os.Remove(path)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never got the lock")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("lock file not recreated: %v", err)
	}
}

func TestRemoveRejectsBadKeys(t *testing.T) {
	b := NewBuilder(t.TempDir(), Settings{})
	for _, key := range []string{"", "..", "../../etc", strings.Repeat("g", 64)} {
		if err := b.Remove(context.Background(), key); err == nil {
			t.Errorf("Remove(%q) accepted", key)
		}
	}
	if envs, err := b.List(); err != nil || envs != nil {
		t.Errorf("List on an empty folder = %v, %v", envs, err)
	}
}
