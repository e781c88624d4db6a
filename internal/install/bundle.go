package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/plugd/plugd/internal/bundle"
)

// BundleDependency is one entry of the answer to install/upload/bundle, the reference's
// {type, value}: value is a bundle.GithubRef, a bundle.MarketplaceRef or a BundlePackage.
// Dify reads the list as [PluginBundleDependency] and installs each entry from its source.
type BundleDependency struct {
	Type  bundle.DependencyType `json:"type"`
	Value any                   `json:"value"`
}

// BundlePackage is a package dependency once uploaded: Dify installs it by its unique
// identifier through install/identifiers. Fields in the order the reference writes them.
type BundlePackage struct {
	Manifest         json.RawMessage `json:"manifest"`
	UniqueIdentifier string          `json:"unique_identifier"`
}

// UploadBundle reads a bundle (at most MaxBundleSize bytes), uploads each package it holds as
// Upload would (same checks, same signature policy) and answers its dependencies in order:
// marketplace and github ones as the reference reports them (Dify fetches those itself),
// package ones by their unique identifier and declaration. Every package is checked before
// any is stored, and if storing one fails those stored before it are removed again, so a
// bundle is uploaded whole or not at all.
func (m *Manager) UploadBundle(ctx context.Context, tenantID string, r io.Reader, verify bool) ([]BundleDependency, error) {
	tmp, err := os.CreateTemp(m.cfg.TempDir, "plugd-upload-*.difybndl")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, io.LimitReader(r, m.cfg.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the upload: %w", err)
	}
	if n > m.cfg.MaxBundleSize {
		return nil, inputErr("dify_bundle", "bundle is larger than the %d-byte limit (MAX_BUNDLE_PACKAGE_SIZE)", m.cfg.MaxBundleSize)
	}
	arc, err := bundle.Read(tmp, n, m.cfg.MaxBundleSize)
	if err != nil {
		return nil, &InputError{Field: "dify_bundle", Err: err}
	}
	if blocking := bundle.Blocking(arc.Check()); len(blocking) > 0 {
		errs := make([]error, len(blocking))
		for i, p := range blocking {
			errs[i] = errors.New(p.String())
		}
		return nil, &InputError{Field: "dify_bundle", Err: fmt.Errorf("%w: %w", bundle.ErrInvalid, errors.Join(errs...))}
	}

	answer := make([]BundleDependency, len(arc.Manifest.Dependencies))
	type bundled struct {
		*staged
		index int // in the manifest's dependencies and the answer
	}
	var packages []bundled
	defer func() {
		for _, s := range packages {
			s.close()
		}
	}()
	for i, d := range arc.Manifest.Dependencies {
		switch d.Type {
		case bundle.Github:
			ref, _ := bundle.ParseGithubPattern(d.Value.RepoPattern) // checked above
			answer[i] = BundleDependency{Type: d.Type, Value: ref}
		case bundle.Marketplace:
			ref, _ := bundle.ParseMarketplacePattern(d.Value.MarketplacePattern)
			answer[i] = BundleDependency{Type: d.Type, Value: ref}
		case bundle.Package:
			s, err := m.stageBundlePackage(ctx, arc, i, d.Value.Path, verify)
			if err != nil {
				return nil, err
			}
			packages = append(packages, bundled{s, i})
		}
	}

	var done []persisted
	for _, s := range packages {
		p, err := m.persist(ctx, s.staged)
		if err != nil {
			for j := len(done) - 1; j >= 0; j-- {
				m.undo(ctx, done[j])
			}
			return nil, fmt.Errorf("storing dependencies[%d] of the bundle: %w", s.index, err)
		}
		done = append(done, p)
		answer[s.index] = BundleDependency{Type: bundle.Package, Value: BundlePackage{
			Manifest: s.decoded.Manifest, UniqueIdentifier: s.decoded.UniqueIdentifier,
		}}
	}
	m.log.Info("bundle uploaded", "tenant", tenantID, "dependencies", len(answer), "packages", len(packages))
	return answer, nil
}

// stageBundlePackage checks the package at _assets/path of a bundle as an uploaded package.
func (m *Manager) stageBundlePackage(ctx context.Context, arc *bundle.Archive, i int, path string, verify bool) (*staged, error) {
	field := fmt.Sprintf("dify_bundle: dependencies[%d] (_assets/%s)", i, path)
	rc, _, err := arc.OpenAsset(path)
	if err != nil {
		return nil, &InputError{Field: field, Err: err}
	}
	defer rc.Close()
	// stagePackage applies the signature policy (SignaturePolicy, with
	// ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES) exactly as a single upload does.
	return m.stagePackage(ctx, rc, field, verify)
}
