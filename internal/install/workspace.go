package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/pyenv"
)

// packageKey is where an uploaded package lives in blob storage. The checksum names the
// content, so two identifiers can never share a key with different bytes.
func packageKey(id Identifier) string { return "packages/" + id.Checksum + ".difypkg" }

// envKeyFile, inside a prepared plugin folder, names the Python environment the plugin runs
// in, so that uninstall can tell which environments are still in use without rebuilding.
const envKeyFile = ".plugd-env"

// Prepared is a plugin ready to start: its files extracted and its environment built.
type Prepared struct {
	ID     Identifier
	Plugin *manifest.Plugin
	Dir    string // the extracted package, the process's working directory
	Python string // the environment's interpreter
	EnvKey string
}

// Workspace turns stored packages into runnable folders on this machine. Folders are
// derived data: a restart, a new node or a wiped disk rebuilds them from blob storage.
type Workspace struct {
	blob blob.Store
	envs *pyenv.Builder
	dir  string

	flights singleflight.Group // by unique identifier
}

// NewWorkspace keeps extracted plugins under dir and builds environments with envs.
func NewWorkspace(b blob.Store, envs *pyenv.Builder, dir string) *Workspace {
	return &Workspace{blob: b, envs: envs, dir: dir}
}

// Dir is the folder a plugin is extracted into.
func (w *Workspace) Dir(id Identifier) string {
	return filepath.Join(w.dir, filepath.FromSlash(id.dirName()))
}

// Prepare extracts the package of uid (unless already extracted) and builds or reuses its
// environment. Concurrent calls for one identifier share the work; progress goes to the
// caller that started it.
func (w *Workspace) Prepare(ctx context.Context, uid string, progress func(pyenv.Progress)) (*Prepared, error) {
	id, err := ParseIdentifier(uid)
	if err != nil {
		return nil, err
	}
	ch := w.flights.DoChan(uid, func() (any, error) { return w.prepare(ctx, id, progress) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Prepared), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *Workspace) prepare(ctx context.Context, id Identifier, progress func(pyenv.Progress)) (*Prepared, error) {
	if progress == nil {
		progress = func(pyenv.Progress) {}
	}
	dir := w.Dir(id)
	if _, err := os.Stat(filepath.Join(dir, "manifest.yaml")); err != nil {
		progress(pyenv.Progress{Phase: "extracting", Line: "extracting " + id.String()})
		if err := w.extract(ctx, id, dir); err != nil {
			return nil, fmt.Errorf("extracting %s: %w", id, err)
		}
	}
	plugin, problems := manifest.Load(os.DirFS(dir))
	if plugin == nil {
		return nil, fmt.Errorf("%s: %w", id, problems.Err())
	}
	if blocking := problems.Install(); len(blocking) > 0 {
		return nil, fmt.Errorf("%s: %w", id, blocking.Err())
	}
	env, err := w.envs.Ensure(ctx, dir, progress)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, envKeyFile), []byte(env.Key), 0o644); err != nil {
		return nil, err
	}
	return &Prepared{ID: id, Plugin: plugin, Dir: dir, Python: env.Python, EnvKey: env.Key}, nil
}

// extract unpacks the stored package into dir through a temporary sibling folder, so dir
// either holds the whole package or does not exist.
func (w *Workspace) extract(ctx context.Context, id Identifier, dir string) error {
	rc, err := w.blob.Get(ctx, packageKey(id))
	if err != nil {
		return fmt.Errorf("package %s: %w", packageKey(id), err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dir), ".pkg-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, rc); err != nil {
		return err
	}
	pkg, err := pkgfile.Open(tmp.Name(), pkgfile.DefaultLimits())
	if err != nil {
		return err
	}
	defer pkg.Close()
	staging, err := os.MkdirTemp(filepath.Dir(dir), ".extract-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	target := filepath.Join(staging, "plugin")
	if err := pkg.ExtractTo(ctx, target); err != nil {
		return err
	}
	if err := os.Rename(target, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		// Another process may have won the race; its copy is the same bytes.
		if _, statErr := os.Stat(filepath.Join(dir, "manifest.yaml")); statErr != nil {
			return err
		}
	}
	return nil
}

// Remove deletes the plugin's folder. Its environment stays (see CollectEnvs).
func (w *Workspace) Remove(id Identifier) error {
	dir := w.Dir(id)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	_ = os.Remove(filepath.Dir(dir)) // the author folder, when empty
	return nil
}

// Hold marks the environment key in use while a plugin of it may run (pyenv.Builder.Hold).
func (w *Workspace) Hold(key string) (release func(), err error) { return w.envs.Hold(key) }

// EnvKeysInUse returns the environments that the prepared plugins under the working folder
// name: those of installed plugins, since uninstall removes a plugin's folder.
func (w *Workspace) EnvKeysInUse() (map[string]bool, error) {
	keys := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(w.dir, "*", "*", envKeyFile))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			keys[strings.TrimSpace(string(b))] = true
		}
	}
	return keys, nil
}

// CollectEnvs removes unused environments by p: none that an installed plugin's folder names,
// that a process holds or that is being built (see pyenv.Builder.Collect).
func (w *Workspace) CollectEnvs(ctx context.Context, p pyenv.Policy, dryRun bool) (*pyenv.CollectReport, error) {
	inUse, err := w.EnvKeysInUse()
	if err != nil {
		return nil, fmt.Errorf("listing environments in use: %w", err)
	}
	return w.envs.Collect(ctx, p, inUse, dryRun)
}
