package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/signature"
)

// KeySource gives the keys signatures are checked against at the moment of the check;
// *signature.TrustStore is the real one (it picks up trust-folder changes without a restart).
type KeySource interface {
	Keys() ([]signature.TrustedKey, error)
}

// staticKeys is a fixed key list as a KeySource.
type staticKeys []signature.TrustedKey

func (k staticKeys) Keys() ([]signature.TrustedKey, error) { return k, nil }

// SignaturePolicy is the daemon's one rule for which packages may come in. Every path that
// brings a package into the daemon (upload, bundles, adoption of another daemon's plugins,
// the Marketplace resolver) applies it through Check, so they cannot drift apart.
type SignaturePolicy struct {
	// Force refuses a package whose signature does not verify (FORCE_VERIFYING_SIGNATURE).
	Force bool
	// EnforceLanggenius refuses a package whose manifest author is "langgenius" (in any case)
	// unless a trusted key signed it with the langgenius category
	// (ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES). The reference applies this to bundles only;
	// plugd applies it everywhere (docs/compatibility.md).
	EnforceLanggenius bool
	Keys              KeySource
}

// Check verifies pkg's signature under the policy. author is the manifest's author; verify
// is the caller's own demand for a valid signature (Dify's verify_signature). It returns the
// signer's category, or nil for a package taken as unverified. Refusals are *InputError on
// field dify_pkg, with a message that says which rule refused and which setting controls it.
func (p SignaturePolicy) Check(ctx context.Context, pkg *pkgfile.Package, author string, verify bool) (*Verification, error) {
	var keys []signature.TrustedKey
	if p.Keys != nil {
		var err error
		if keys, err = p.Keys.Keys(); err != nil {
			return nil, fmt.Errorf("loading trusted keys: %w", err)
		}
	}
	require := p.Force || verify
	claimsOfficial := p.EnforceLanggenius && strings.EqualFold(author, string(signature.Langgenius))
	var ver *Verification
	res, err := signature.Verify(ctx, pkg, keys)
	switch {
	case err == nil:
		ver = &Verification{AuthorizedCategory: string(res.Category)}
	case require && errors.Is(err, signature.ErrUnsigned):
		return nil, &InputError{Field: "dify_pkg", Err: fmt.Errorf("%w, and this daemon only installs signed packages (FORCE_VERIFYING_SIGNATURE or verify_signature)", err)}
	case require:
		return nil, &InputError{Field: "dify_pkg", Err: err}
	case errors.Is(err, signature.ErrUnsigned), errors.Is(err, signature.ErrBadSignature):
		// Not required: the package is taken as unverified, as the reference does.
	default:
		return nil, err
	}
	if claimsOfficial && (ver == nil || ver.AuthorizedCategory != string(signature.Langgenius)) {
		how := "it is not signed by a trusted key"
		if ver != nil {
			how = "it is signed with the " + ver.AuthorizedCategory + " category, not langgenius"
		} else if err != nil && !errors.Is(err, signature.ErrUnsigned) {
			how = "its signature does not verify (" + err.Error() + ")"
		} else if errors.Is(err, signature.ErrUnsigned) {
			how = "it is not signed"
		}
		return nil, &InputError{Field: "dify_pkg", Err: fmt.Errorf(
			"the manifest's author is %q but %s: only packages signed by langgenius may use that author (ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES=true)",
			author, how)}
	}
	return ver, nil
}

// Policy is the manager's signature policy, for the paths outside Upload that bring
// packages in (bundles, adoption, the Marketplace resolver).
func (m *Manager) Policy() SignaturePolicy {
	keys := m.cfg.Keys
	if keys == nil {
		keys = staticKeys(m.cfg.TrustedKeys)
	}
	return SignaturePolicy{Force: m.cfg.ForceSignature, EnforceLanggenius: m.cfg.EnforceLanggeniusSignatures, Keys: keys}
}

// CheckPackage applies the daemon's signature policy to a package not yet uploaded: its
// manifest names the author the langgenius rule looks at. verify is the caller's own demand
// for a valid signature. Use it wherever a package enters other than through Upload.
func (m *Manager) CheckPackage(ctx context.Context, pkg *pkgfile.Package, verify bool) (*Verification, error) {
	plugin, problems := manifest.Load(pkg)
	if plugin == nil {
		return nil, &InputError{Field: "dify_pkg", Err: problems.Err()}
	}
	return m.Policy().Check(ctx, pkg, plugin.Author, verify)
}
