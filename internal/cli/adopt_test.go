package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plugd adopt refuses to guess where the reference is, and names what is wrong in its
// settings; the adoption itself is tested end to end in internal/e2e (TestAdoptReferenceFixture).
func TestAdoptUsage(t *testing.T) {
	dir := t.TempDir()
	badEnv := filepath.Join(dir, "bad.env")
	os.WriteFile(badEnv, []byte("DB_HOST=db\nDB_PORT\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--from-env FILE"},
		{[]string{"--from", "DB_HOST"}, `--from "DB_HOST": want KEY=VALUE`},
		{[]string{"--from-env", badEnv}, "bad.env:2:"},
		{[]string{"--from-env", filepath.Join(dir, "missing.env")}, "--from-env"},
		{[]string{"--from", "DB_TYPE=oracle"}, `DB_TYPE="oracle"`},
		{[]string{"--from", "DB_PORT=x"}, `DB_PORT="x"`},
		{[]string{"--from", "PLUGIN_STORAGE_TYPE=azure"}, "needs AZURE_BLOB_STORAGE_CONTAINER_NAME"},
		{[]string{"--from", "PLUGIN_STORAGE_TYPE=floppy"}, `PLUGIN_STORAGE_TYPE="floppy"`},
	} {
		code, _, stderr := run(t, "plugd", append([]string{"adopt", "--data-dir", dir}, c.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("plugd adopt %v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, ExitUsage, c.want)
		}
	}
	// A reference that cannot be reached fails (exit 1) and says which database.
	code, _, stderr := run(t, "plugd", "adopt", "--data-dir", dir, "--from", "DB_HOST=127.0.0.1", "--from", "DB_PORT=1",
		"--from", "DB_DATABASE=refdb", "--from", "PLUGIN_STORAGE_LOCAL_ROOT="+dir)
	if code != ExitFailure || !strings.Contains(stderr, `reference database "refdb"`) {
		t.Errorf("unreachable reference: exit %d, %q", code, stderr)
	}
}
