package cli

import (
	"strings"
	"testing"
)

func TestMigrateCommand(t *testing.T) {
	data := t.TempDir()
	t.Setenv("PLUGD_CONFIG", "")
	code, out, errOut := run(t, "plugd", "migrate", "--data-dir", data, "--dry-run")
	if code != 0 || !strings.Contains(out, "pending 0001_init") {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "plugd", "migrate", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "applied 0001_init") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "plugd", "migrate", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
}

func TestServeSettings(t *testing.T) {
	data := t.TempDir()
	t.Setenv("PLUGD_CONFIG", "")
	t.Setenv("SERVER_KEY", "a-key-that-is-long-enough-1234")
	code, out, errOut := run(t, "plugd", "serve", "--data-dir", data, "--print-config")
	if code != 0 {
		t.Fatalf("print-config: %d %q", code, errOut)
	}
	for _, want := range []string{"SERVER_PORT", "5002", "DB_TYPE", "sqlite", "SERVER_KEY"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "a-key-that-is-long-enough-1234") {
		t.Error("print-config shows the server key")
	}
	t.Setenv("SERVER_PORT", "99999")
	if code, _, errOut := run(t, "plugd", "serve", "--data-dir", data); code != ExitUsage || !strings.Contains(errOut, "SERVER_PORT") {
		t.Errorf("bad port: exit %d, %q", code, errOut)
	}
	t.Setenv("SERVER_PORT", "5002")
	t.Setenv("SERVER_KEY", "plugin-api-key")
	if code, _, errOut := run(t, "plugd", "serve", "--data-dir", data); code != ExitFailure || !strings.Contains(errOut, "SERVER_KEY") {
		t.Errorf("default key: exit %d, %q", code, errOut)
	}
}

func TestGCCommand(t *testing.T) {
	data := t.TempDir()
	t.Setenv("PLUGD_CONFIG", "")
	code, out, errOut := run(t, "plugd", "gc", "--data-dir", data, "--json", "--dry-run")
	if code != 0 || !strings.Contains(out, `"dry_run": true`) {
		t.Fatalf("gc --json on an empty data folder: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "plugd", "gc", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "0 environments") {
		t.Fatalf("gc: %d %q %q", code, out, errOut)
	}
	t.Setenv("PLUGD_ENV_MAX_UNUSED_AGE", "0")
	if code, out, errOut := run(t, "plugd", "gc", "--data-dir", data); code != 0 || !strings.Contains(out, "(max unused age off, max size ") {
		t.Errorf("gc with the age rule off: %d %q %q", code, out, errOut)
	}
	t.Setenv("PLUGD_ENV_MAX_UNUSED_AGE", "a week")
	if code, _, errOut := run(t, "plugd", "gc", "--data-dir", data); code != ExitUsage || !strings.Contains(errOut, "PLUGD_ENV_MAX_UNUSED_AGE") {
		t.Errorf("bad age: exit %d, %q", code, errOut)
	}
}
