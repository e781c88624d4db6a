package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/difyapi"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/sandbox"
)

// hostFlags are the settings shared by the commands that run a plugin on this machine
// (`plugin run`, `plugin invoke`).
type hostFlags struct {
	dataDir    string
	python     string
	installer  string
	wheelhouse string
	indexURL   string
	verbose    bool
}

func (f *hostFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "folder for Python environments, plugin storage and logs (default $PLUGD_DATA_DIR, else the user cache folder)")
	fl.StringVar(&f.python, "python", "", "Python interpreter to build the environment from (default $PYTHON_INTERPRETER_PATH, else python3.12/3.11/python3)")
	fl.StringVar(&f.installer, "installer", "", "auto, uv or pip (default $PLUGD_PYTHON_INSTALLER, else auto)")
	fl.StringVar(&f.wheelhouse, "wheelhouse", "", "folder of wheels to install from with no network at all")
	fl.StringVar(&f.indexURL, "index-url", "", "package index replacing PyPI (default $PIP_MIRROR_URL)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the installer's output and the plugin's logs")
}

func (f *hostFlags) resolveDataDir() (string, error) {
	if f.dataDir != "" {
		return filepath.Abs(f.dataDir)
	}
	if d := os.Getenv("PLUGD_DATA_DIR"); d != "" {
		return filepath.Abs(d)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no data folder: pass --data-dir or set PLUGD_DATA_DIR (%w)", err)
	}
	return filepath.Join(cache, "plugd"), nil
}

// host is one plugin running on this machine for the developer commands.
type host struct {
	Plugin  *manifest.Plugin
	Dir     string
	Runtime *runtime.Local
	cleanup func()
}

func (h *host) Close(ctx context.Context) {
	if h.Runtime != nil {
		_ = h.Runtime.Close(ctx)
	}
	if h.cleanup != nil {
		h.cleanup()
	}
}

// startHost prepares the plugin at path (a folder or a package) and starts it: validate the
// declaration, build or reuse its Python environment, start the process and wait until it is
// ready. status receives one-line progress notes; logs receives the plugin's own logs, and a
// long environment build shows its progress there too (see buildProgress). before, when not
// nil, checks the declaration before anything slow starts; its error is returned as is.
func startHost(ctx context.Context, path string, f *hostFlags, status func(string), logs io.Writer, before func(*manifest.Plugin) error) (*host, error) {
	dataDir, err := f.resolveDataDir()
	if err != nil {
		return nil, err
	}
	h := &host{}
	fail := func(err error) (*host, error) {
		h.Close(context.WithoutCancel(ctx))
		return nil, err
	}

	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		h.Dir, err = filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		tree, err := pkgfile.Collect(ctx, h.Dir)
		if err != nil {
			return nil, err
		}
		h.Plugin, err = loadForRun(tree, status)
		if err != nil {
			return nil, err
		}
	} else {
		pkg, err := pkgfile.Open(path, pkgfile.DefaultLimits())
		if err != nil {
			return nil, err
		}
		defer pkg.Close()
		if h.Plugin, err = loadForRun(pkg, status); err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "plugd-run-*")
		if err != nil {
			return nil, err
		}
		h.cleanup = func() { os.RemoveAll(tmp) }
		h.Dir = filepath.Join(tmp, "plugin")
		if err := pkg.ExtractTo(ctx, h.Dir); err != nil {
			return fail(err)
		}
	}

	if before != nil {
		if err := before(h.Plugin); err != nil {
			return fail(err)
		}
	}

	settings := pyenv.SettingsFromEnv(os.Getenv)
	if f.python != "" {
		settings.Python = f.python
	}
	if f.installer != "" {
		settings.Installer = pyenv.Installer(f.installer)
	}
	if f.wheelhouse != "" {
		settings.Wheelhouse = f.wheelhouse
	}
	if f.indexURL != "" {
		settings.IndexURL = f.indexURL
	}
	builder := pyenv.NewBuilder(filepath.Join(dataDir, "python"), settings)
	status("python environment: preparing")
	var lastPhase pyenv.Phase
	// Without -v the build would be silent for as long as it takes (a minute is common);
	// with -v the installer's own lines already show it is alive.
	var progress *buildProgress
	if !f.verbose {
		progress = newBuildProgress(logs, isTerminal(logs))
	}
	env, err := builder.Ensure(ctx, h.Dir, func(p pyenv.Progress) {
		if progress != nil {
			progress.event(p, time.Now())
			return
		}
		if p.Phase != lastPhase {
			lastPhase = p.Phase
			status("python environment: " + string(p.Phase))
		}
		if p.Line != "" {
			status("  " + p.Line)
		}
	})
	if progress != nil {
		progress.finish(err, time.Now())
	}
	if err != nil {
		return fail(err)
	}
	status("python environment: " + env.Dir)

	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	cfg := runtime.FromManifest(h.Plugin, h.Dir, env.Python)
	cfg.DataDir = filepath.Join(dataDir, "plugins", filepath.FromSlash(cfg.PluginID))
	cfg.Backwards, err = hostBackwards(filepath.Join(dataDir, "storage"))
	if err != nil {
		return fail(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	// The developer kit runs the author's own code as the author: unconfined unless asked
	// (PLUGD_ISOLATION=auto|required|uid|userns), to try a plugin under the daemon's sandbox.
	if setting := os.Getenv("PLUGD_ISOLATION"); setting != "" && setting != "off" {
		iso, how := runtime.ChooseIsolation(setting, runtime.Isolation{
			UIDs:   sandbox.NewAllocator(filepath.Join(dataDir, "sandbox-uids.json"), 200000, 65536),
			Limits: sandbox.Limits{Processes: 256, OpenFiles: 4096},
			Root:   filepath.Join(dataDir, "sandbox-root"),
		})
		status("isolation: " + how)
		cfg.Isolation = iso
	}
	h.Runtime = runtime.NewLocal(cfg)
	status("starting " + h.Plugin.Identity())
	if err := h.Runtime.Start(ctx); err != nil {
		return fail(err)
	}
	status(fmt.Sprintf("ready: %s (pid %d), log file %s", h.Plugin.Identity(), h.Runtime.Status().PID, h.Runtime.LogFile()))
	return h, nil
}

// loadForRun loads the declaration and refuses what the daemon would refuse to install;
// problems only our stricter validation finds are shown as warnings.
func loadForRun(fsys fs.FS, status func(string)) (*manifest.Plugin, error) {
	plugin, problems := manifest.Load(fsys)
	if plugin == nil {
		return nil, problems.Err()
	}
	if blocking := problems.Install(); len(blocking) > 0 {
		return nil, blocking.Err()
	}
	for _, p := range problems {
		status("warning: " + p.String())
	}
	return plugin, nil
}

// hostBackwards answers the plugin's calls into Dify for the developer commands: storage in a
// file per plugin, and the rest through Dify's inner API when DIFY_INNER_API_URL (and
// DIFY_INNER_API_KEY) point at one, the daemon's variable names.
func hostBackwards(storageDir string) (runtime.Backwards, error) {
	store := backwards.NewFileStore(storageDir, 0)
	url := os.Getenv("DIFY_INNER_API_URL")
	if url == "" {
		return backwards.NewLocal(store), nil
	}
	client, err := difyapi.New(difyapi.Config{BaseURL: url, Key: os.Getenv("DIFY_INNER_API_KEY")})
	if err != nil {
		return nil, fmt.Errorf("DIFY_INNER_API_URL: %w", err)
	}
	return backwards.NewDify(store, client), nil
}
