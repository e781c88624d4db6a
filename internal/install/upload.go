package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/store"
)

// assetKey is where an icon lives in blob storage; the id is what declarations show.
func assetKey(id string) string { return "assets/" + id }

// Upload checks a package and stores it with its declaration, ready for Install. It reads r
// into a temporary file, refusing it as soon as it passes MaxPackageSize, so a huge upload
// costs neither memory nor disk. verify asks for a valid signature even when ForceSignature
// is off. Uploading the same package again is harmless.
func (m *Manager) Upload(ctx context.Context, tenantID string, r io.Reader, verify bool) (Decoded, error) {
	s, err := m.stagePackage(ctx, r, "dify_pkg", verify)
	if err != nil {
		return Decoded{}, err
	}
	defer s.close()
	if _, err := m.persist(ctx, s); err != nil {
		return Decoded{}, err
	}
	return s.decoded, nil
}

// Adopt stores a package another daemon accepted earlier (plugd adopt), with its
// declaration, as Upload does, but judges its signature as that daemon did at its upload:
// unsigned packages were allowed there, so a missing signature is no reason to refuse here;
// a signature that verifies is still recorded. It returns the unique identifier plugd
// computes, which the caller compares with the one the other daemon recorded.
func (m *Manager) Adopt(ctx context.Context, r io.Reader) (Decoded, error) {
	policy := m.Policy()
	policy.Force, policy.EnforceLanggenius = false, false
	s, err := m.stageWith(ctx, r, "dify_pkg", policy, false)
	if err != nil {
		return Decoded{}, err
	}
	defer s.close()
	if _, err := m.persist(ctx, s); err != nil {
		return Decoded{}, err
	}
	return s.decoded, nil
}

// staged is a package that was read into a temporary file and decoded, not yet stored.
type staged struct {
	file    *os.File
	size    int64
	decoded Decoded
}

func (s *staged) close() {
	s.file.Close()
	os.Remove(s.file.Name())
}

// stagePackage reads a package from r (at most MaxPackageSize bytes) into a temporary file,
// checks it and verifies its signature. field names the input in errors.
func (m *Manager) stagePackage(ctx context.Context, r io.Reader, field string, verify bool) (*staged, error) {
	return m.stageWith(ctx, r, field, m.Policy(), verify)
}

// stageWith is stagePackage under a given signature policy.
func (m *Manager) stageWith(ctx context.Context, r io.Reader, field string, policy SignaturePolicy, verify bool) (*staged, error) {
	tmp, err := os.CreateTemp(m.cfg.TempDir, "plugd-upload-*.difypkg")
	if err != nil {
		return nil, err
	}
	s := &staged{file: tmp}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(r, m.cfg.MaxPackageSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", field, err)
	}
	if n > m.cfg.MaxPackageSize {
		return nil, inputErr(field, "package is larger than the %d-byte limit (MAX_PLUGIN_PACKAGE_SIZE)", m.cfg.MaxPackageSize)
	}
	lim := pkgfile.DefaultLimits()
	lim.MaxPackageBytes = m.cfg.MaxPackageSize
	pkg, err := pkgfile.Read(tmp, n, lim)
	if err != nil {
		return nil, &InputError{Field: field, Err: err}
	}
	d, err := m.decode(ctx, pkg, policy, verify)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) && ie.Field == "dify_pkg" {
			ie.Field = field
		}
		return nil, err
	}
	s.size, s.decoded, ok = n, d, true
	return s, nil
}

// persisted says what persist created, so that undo removes only that.
type persisted struct {
	uid                 string
	key                 string
	packageStored       bool
	declarationRecorded bool
}

// persist stores a staged package and records its declaration; both steps keep what is
// already there.
func (m *Manager) persist(ctx context.Context, s *staged) (persisted, error) {
	id, _ := ParseIdentifier(s.decoded.UniqueIdentifier)
	p := persisted{uid: s.decoded.UniqueIdentifier, key: packageKey(id)}
	if _, err := m.cfg.Blob.Stat(ctx, p.key); errors.Is(err, blob.ErrNotFound) {
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return p, err
		}
		if err := m.cfg.Blob.Put(ctx, p.key, s.file, s.size); err != nil {
			return p, fmt.Errorf("storing the package: %w", err)
		}
		p.packageStored = true
	} else if err != nil {
		return p, fmt.Errorf("storing the package: %w", err)
	}
	_, err := m.cfg.Store.GetDeclaration(ctx, p.uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.undo(ctx, p)
		return p, fmt.Errorf("recording the declaration: %w", err)
	}
	p.declarationRecorded = err != nil
	ver := json.RawMessage("null")
	if s.decoded.Verification != nil {
		ver, _ = json.Marshal(s.decoded.Verification)
	}
	err = m.cfg.Store.PutDeclaration(ctx, store.Declaration{
		UniqueIdentifier: p.uid, PluginID: id.PluginID(), Declaration: s.decoded.Manifest, Verification: ver,
	})
	if err != nil {
		p.declarationRecorded = false
		m.undo(ctx, p)
		return p, fmt.Errorf("recording the declaration: %w", err)
	}
	return p, nil
}

// undo removes what persist created: the declaration it recorded (unless someone installed
// the plugin meanwhile, which DeleteDeclaration refuses) and the package it stored (unless
// the declaration stays). Icons are content-addressed and shared, so they stay. It runs even
// when the request that stored them was cancelled, which is often why it runs.
func (m *Manager) undo(ctx context.Context, p persisted) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	keepPackage := false
	if p.declarationRecorded {
		if err := m.cfg.Store.DeleteDeclaration(ctx, p.uid); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("rolling back an upload: declaration kept", "plugin", p.uid, "error", err)
			keepPackage = true
		}
	} else if _, err := m.cfg.Store.GetDeclaration(ctx, p.uid); err == nil {
		keepPackage = true // recorded before us: its package must stay
	}
	if p.packageStored && !keepPackage {
		if err := m.cfg.Blob.Delete(ctx, p.key); err != nil {
			m.log.Warn("rolling back an upload: package kept", "plugin", p.uid, "error", err)
		}
	}
}

// decode loads and checks a package's declaration, verifies its signature under policy
// (verify: the caller asks for a valid signature), moves its icons to blob storage and
// computes its unique identifier.
func (m *Manager) decode(ctx context.Context, pkg *pkgfile.Package, policy SignaturePolicy, verify bool) (Decoded, error) {
	// The checksum reads every entry to its end: a CRC or size that lies is found here,
	// first, as `plugin validate` finds it (pkgfile.Package.Verify).
	sum, err := pkg.Checksum(ctx)
	if err != nil {
		return Decoded{}, &InputError{Field: "dify_pkg", Err: err}
	}
	plugin, problems := manifest.Load(pkg)
	if plugin == nil {
		return Decoded{}, &InputError{Field: "dify_pkg", Err: problems.Err()}
	}
	if blocking := problems.Install(); len(blocking) > 0 {
		return Decoded{}, &InputError{Field: "dify_pkg", Err: blocking.Err()}
	}
	if isUUID(plugin.Author) {
		return Decoded{}, inputErr("dify_pkg", "author %q is a UUID, which is reserved for plugins attached by remote debugging", plugin.Author)
	}
	uid := plugin.Identity() + "@" + sum
	if _, err := ParseIdentifier(uid); err != nil {
		return Decoded{}, &InputError{Field: "dify_pkg", Err: err}
	}

	ver, err := policy.Check(ctx, pkg, plugin.Author, verify)
	if err != nil {
		return Decoded{}, err
	}
	plugin.Verified = ver != nil

	readAsset := func(name string) ([]byte, error) { return fs.ReadFile(pkg, "_assets/"+name) }
	if err := m.remapIcons(ctx, readAsset, plugin); err != nil {
		return Decoded{}, err
	}
	raw, err := json.Marshal(plugin)
	if err != nil {
		return Decoded{}, err
	}
	return Decoded{UniqueIdentifier: uid, Manifest: raw, Verification: ver}, nil
}

// remapIcons stores every icon the declaration names under a content-derived id and points
// the declaration at that id, which Dify then fetches from /plugin/{tenant}/asset/{id}.
func (m *Manager) remapIcons(ctx context.Context, read func(name string) ([]byte, error), plugin *manifest.Plugin) error {
	ids := map[string]string{}
	for _, p := range plugin.AssetFiles() {
		name := strings.TrimPrefix(p, "_assets/")
		data, err := read(name)
		if err != nil {
			continue // a missing icon is a validation warning, not a reason to refuse
		}
		h := sha256.Sum256(append(append([]byte{}, data...), name...))
		id := hex.EncodeToString(h[:]) + path.Ext(name)
		if _, err := m.cfg.Blob.Stat(ctx, assetKey(id)); errors.Is(err, blob.ErrNotFound) {
			if err := m.cfg.Blob.Put(ctx, assetKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
				return fmt.Errorf("storing icon %s: %w", name, err)
			}
		}
		ids[name] = id
	}
	plugin.RenameAssets(func(name string) string {
		if id, ok := ids[name]; ok {
			return id
		}
		return name
	})
	return nil
}

// Decode answers decode/from_identifier: the stored package decoded again, signature checked.
func (m *Manager) Decode(ctx context.Context, uid string) (Decoded, error) {
	pkg, cleanup, err := m.openPackage(ctx, uid)
	if err != nil {
		return Decoded{}, err
	}
	defer cleanup()
	// A stored package passed the policy when it was uploaded; decoding it again reports
	// its signature as the keys stand now without refusing it for lack of one.
	policy := m.Policy()
	policy.Force = false
	return m.decode(ctx, pkg, policy, false)
}

// openPackage fetches a stored package into a temporary file and opens it.
func (m *Manager) openPackage(ctx context.Context, uid string) (*pkgfile.Package, func(), error) {
	id, err := ParseIdentifier(uid)
	if err != nil {
		return nil, nil, &InputError{Field: "plugin_unique_identifier", Err: err}
	}
	if _, err := m.cfg.Store.GetDeclaration(ctx, uid); err != nil {
		return nil, nil, err
	}
	rc, err := m.cfg.Blob.Get(ctx, packageKey(id))
	if err != nil {
		return nil, nil, fmt.Errorf("package of %s: %w", uid, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(m.cfg.TempDir, "plugd-pkg-*.difypkg")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, rc); err != nil {
		cleanup()
		return nil, nil, err
	}
	pkg, err := pkgfile.Open(tmp.Name(), pkgfile.DefaultLimits())
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return pkg, func() { pkg.Close(); cleanup() }, nil
}

// Readme returns the package's README in language (en_US, zh_Hans, ja_JP, pt_BR), falling back
// to English and then to any language the package has.
func (m *Manager) Readme(ctx context.Context, uid, language string) (Readme, error) {
	pkg, cleanup, err := m.openPackage(ctx, uid)
	if err != nil {
		return Readme{}, err
	}
	defer cleanup()
	file := func(lang string) string {
		if lang == "en_US" {
			return "README.md"
		}
		return "readme/README_" + lang + ".md"
	}
	langs := []string{language, "en_US"}
	if entries, err := fs.ReadDir(pkg, "readme"); err == nil {
		for _, e := range entries {
			if l, ok := strings.CutPrefix(e.Name(), "README_"); ok {
				langs = append(langs, strings.TrimSuffix(l, ".md"))
			}
		}
	}
	for _, l := range langs {
		if l == "" {
			continue
		}
		if b, err := fs.ReadFile(pkg, file(l)); err == nil {
			return Readme{Content: string(b), Language: l}, nil
		}
	}
	return Readme{}, fmt.Errorf("readme of %s: %w", uid, store.ErrNotFound)
}

// PackageFile returns a file under the package's _assets/ folder.
func (m *Manager) PackageFile(ctx context.Context, uid, name string) ([]byte, error) {
	name = strings.TrimPrefix(name, "_assets/")
	if name == "" || !fs.ValidPath(name) || strings.Contains(name, "\\") {
		return nil, inputErr("file_path", "%q is not a path inside the package's _assets folder", name)
	}
	pkg, cleanup, err := m.openPackage(ctx, uid)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b, err := fs.ReadFile(pkg, "_assets/"+name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("_assets/%s in %s: %w", name, uid, store.ErrNotFound)
	}
	return b, err
}

// Asset returns an icon stored at upload.
func (m *Manager) Asset(ctx context.Context, id string) ([]byte, error) {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return nil, inputErr("id", "%q is not an asset id", id)
	}
	rc, err := m.cfg.Blob.Get(ctx, assetKey(id))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}
