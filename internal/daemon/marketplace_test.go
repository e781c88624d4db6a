package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

// The daemon's resolver hands out the official package under the default policy and
// refuses it, cached or not, once the official key is no longer trusted.
func TestMarketplaceFetcherAppliesThePolicy(t *testing.T) {
	ctx := context.Background()
	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	c := Config{DataDir: t.TempDir(), TrustDir: t.TempDir(), MaxPackageSize: 50 << 20,
		ForceVerifyingSignature: true, EnforceLanggeniusSignatures: true, TrustOfficialKey: true,
		Marketplace: MarketplaceConfig{Enabled: true, URL: mp.URL}}
	fetcher := func(c Config) func(ref string) (string, error) {
		ts, err := trustStore(c)
		if err != nil {
			t.Fatal(err)
		}
		mgr := install.New(install.Config{ForceSignature: c.ForceVerifyingSignature, EnforceLanggeniusSignatures: c.EnforceLanggeniusSignatures, Keys: ts})
		t.Cleanup(mgr.Close)
		f, err := NewMarketplaceFetcher(c, mgr, "test")
		if err != nil || f == nil {
			t.Fatalf("fetcher: %v, %v", f, err)
		}
		return func(ref string) (string, error) {
			got, err := f.Fetch(ctx, ref, nil)
			return got.UniqueIdentifier, err
		}
	}
	if uid, err := fetcher(c)("langgenius/agent"); err != nil || uid != marketplacetest.AgentUID {
		t.Fatalf("default policy: %q, %v", uid, err)
	}
	c.TrustOfficialKey = false
	if _, err := fetcher(c)("langgenius/agent:0.0.14"); err == nil || !strings.Contains(err.Error(), "no trusted keys") {
		t.Fatalf("without the official key: %v", err)
	}
	c.TrustOfficialKey, c.ForceVerifyingSignature = false, false
	if _, err := fetcher(c)("langgenius/agent"); err == nil || !strings.Contains(err.Error(), "ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES") {
		t.Fatalf("author langgenius without the official key, not forced: %v", err)
	}
	c.Marketplace.Enabled = false
	if f, err := NewMarketplaceFetcher(c, nil, "test"); f != nil || err != nil {
		t.Fatalf("disabled: %v, %v", f, err)
	}
}
