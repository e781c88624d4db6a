package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/client/clienttest"
	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

func TestMarketplaceCommands(t *testing.T) {
	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	t.Setenv("MARKETPLACE_API_URL", mp.URL)
	t.Setenv("PLUGD_DATA_DIR", t.TempDir())

	code, stdout, stderr := run(t, "plugd", "marketplace", "versions", "langgenius/agent")
	if code != 0 || !strings.Contains(stdout, "0.0.14") || !strings.Contains(stdout, marketplacetest.AgentUID) {
		t.Fatalf("versions: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "plugd", "marketplace", "versions", "not-an-id"); code != 2 || !strings.Contains(stderr, "org/name") {
		t.Fatalf("versions of a bad id: exit %d, %q", code, stderr)
	}
	code, stdout, _ = run(t, "plugd", "marketplace", "search", "zzz", "--json")
	if code != 0 || strings.TrimSpace(stdout) != `{
  "plugins": [],
  "total": 0
}` {
		t.Fatalf("empty search --json: exit %d, %q", code, stdout)
	}
	if code, stdout, _ := run(t, "plugd", "marketplace", "search", "zzz"); code != 0 || !strings.Contains(stdout, "no plugin matches") {
		t.Fatalf("empty search: exit %d, %q", code, stdout)
	}

	// Installing through a daemon: the package is uploaded and installed with source
	// marketplace (the fake daemon names uploads its own way, so only the source is checked).
	fake := clienttest.New(t, fakeKey)
	code, stdout, stderr = runRemote(t, fake, "install", "langgenius/agent:0.0.14", "--poll-interval", "1ms", "--json")
	if code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "downloaded langgenius/agent:0.0.14 from "+mp.URL) {
		t.Errorf("install: stderr %q does not say what was downloaded from where", stderr)
	}
	code, stdout, _ = runRemote(t, fake, "list", "--json")
	var items []struct {
		UniqueIdentifier string `json:"plugin_unique_identifier"`
		Source           string `json:"source"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &items) != nil || len(items) != 1 || items[0].Source != "marketplace" {
		t.Fatalf("list after install: exit %d, %s", code, stdout)
	}

	t.Setenv("MARKETPLACE_ENABLED", "false")
	if code, _, stderr := runRemote(t, fake, "install", "langgenius/agent"); code != 1 || !strings.Contains(stderr, "MARKETPLACE_ENABLED=false") {
		t.Fatalf("install with the Marketplace off: exit %d, %q", code, stderr)
	}
}
