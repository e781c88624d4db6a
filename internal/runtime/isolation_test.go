package runtime

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/sandbox"
)

// TestIsolationRequiredWhereNoneStarts: where no sandbox starts (here: an init binary that
// exits without confining anything, as on a host without namespaces), "required" refuses
// every plugin start with the reason and the setting that overrides it, "auto" runs plugins
// unconfined and says so, and "off" says plugins see what the daemon sees.
func TestIsolationRequiredWhereNoneStarts(t *testing.T) {
	tmp := t.TempDir()
	base := Isolation{
		UIDs: sandbox.NewAllocator(filepath.Join(tmp, "uids.json"), 300000, 1000),
		Self: "/bin/true", // no sandbox init: every probe fails
		Root: filepath.Join(tmp, "root"),
	}
	for _, setting := range []string{"required", "uid", "userns"} {
		iso, how := ChooseIsolation(setting, base)
		if iso.Refused == nil || iso.Confines() || !strings.HasPrefix(how, "refused: plugin isolation is required") ||
			!strings.Contains(how, "set PLUGD_ISOLATION=off") {
			t.Errorf("PLUGD_ISOLATION=%q without a sandbox: refused %v, log %q", setting, iso.Refused, how)
		}
	}
	if iso, how := ChooseIsolation("auto", base); iso.Refused != nil || iso.Confines() || !strings.HasPrefix(how, "none: no sandbox starts here") {
		t.Errorf("auto without a sandbox: refused %v, log %q", iso.Refused, how)
	}
	if iso, how := ChooseIsolation("off", base); iso.Refused != nil || iso.Confines() || !strings.Contains(how, "see what it sees") {
		t.Errorf("off: refused %v, log %q", iso.Refused, how)
	}

	// A plugin under the refused isolation does not start, and says why.
	iso, _ := ChooseIsolation("required", base)
	cfg := testConfig(t, "sandbox")
	cfg.Isolation = iso
	cfg.Zygotes = nil // a refusal holds for the zygote path too; test the plain one
	l := start(t, cfg)
	err := l.Start(testCtx(t, 30*time.Second))
	if err == nil || !errors.Is(err, ErrSpawn) || !strings.Contains(err.Error(), "plugin isolation is required") {
		t.Fatalf("start under a refused isolation: %v", err)
	}
	if st := l.Status(); st.PID != 0 {
		t.Errorf("a process %d started under a refused isolation", st.PID)
	}
}
