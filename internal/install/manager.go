// Package install turns uploaded packages into running installations and back: upload and
// decode, install and upgrade as persisted tasks, uninstall with garbage collection, and the
// recovery of unfinished tasks after a restart.
//
// The life of a plugin: Upload stores the package (blob) and its declaration (store). Install
// creates a task; a job per plugin extracts the package, builds or reuses its environment
// (progress recorded on the task), starts it once to prove it answers, and only then records
// the installation, so a tenant never sees a plugin that cannot start. Upgrade does the same
// for the new version and switches the installation in one transaction: requests go to the
// old version until then. Uninstall drops the reference; the last reference frees the
// process, the extracted folder and the package. Environments outlive their plugins and are
// collected by age and size (Workspace.CollectEnvs).
package install

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/signature"
	"github.com/plugd/plugd/internal/store"
)

// Runtimes starts and stops installed plugins; the dispatcher implements it.
type Runtimes interface {
	// Warm starts the plugin the job has just prepared and waits until it is ready. It is
	// given the prepared plugin so that nothing is prepared twice, and it must not require the
	// plugin to be recorded as installed: that comes after.
	Warm(ctx context.Context, p *Prepared) error
	// Release stops the plugin's processes and forgets it.
	Release(ctx context.Context, uid string) error
}

// Preparer makes plugins runnable on this machine and frees what they held;
// *Workspace is the real one.
type Preparer interface {
	Prepare(ctx context.Context, uid string, progress func(pyenv.Progress)) (*Prepared, error)
	// Remove deletes the plugin's folder; its environment stays.
	Remove(id Identifier) error
}

// Config wires a Manager.
type Config struct {
	Store     store.Store
	Blob      blob.Store
	Workspace Preparer
	Runtimes  Runtimes

	// ForceSignature refuses unsigned packages whatever the caller asks
	// (FORCE_VERIFYING_SIGNATURE).
	ForceSignature bool
	// EnforceLanggeniusSignatures refuses packages whose author is langgenius unless signed
	// with the langgenius category (ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES); see SignaturePolicy.
	EnforceLanggeniusSignatures bool
	// Keys gives the keys signatures are verified with at each check (the daemon's
	// *signature.TrustStore). When nil, TrustedKeys is used as a fixed list.
	Keys        KeySource
	TrustedKeys []signature.TrustedKey
	// MaxPackageSize bounds an upload (MAX_PLUGIN_PACKAGE_SIZE). Default 50 MiB.
	MaxPackageSize int64
	// MaxBundleSize bounds an uploaded bundle (MAX_BUNDLE_PACKAGE_SIZE). Default 600 MiB.
	MaxBundleSize int64
	// Concurrency bounds the install jobs running at once (PLUGIN_LOCAL_LAUNCHING_CONCURRENT).
	// Default 2.
	Concurrency int
	// Timeout bounds one plugin's install job (PLUGIN_INSTALL_TIMEOUT). Default 15 min.
	Timeout time.Duration
	// KeepSucceeded is how long a task that succeeded stays listed. Default 2 min, as the
	// reference; failed tasks stay until deleted.
	KeepSucceeded time.Duration
	// TempDir holds uploads while they are checked. Default os.TempDir().
	TempDir string
	Logger  *slog.Logger

	// Claims, on a cluster, makes one node at a time run a task (claim.go); nil: one node.
	Claims Claimer
	// Peers tells the other nodes of deleted tasks and released plugins; nil: one node.
	Peers Peers
}

// Manager runs installs, upgrades and uninstalls. Safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	sem chan struct{}

	ctx    context.Context // ends with Close; jobs derive from it, not from requests
	cancel context.CancelFunc
	// wg counts the goroutines Close waits for. Add is only called under mu with closed
	// false, and Close sets closed under mu before Wait, so no Add can race the Wait.
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	jobs   map[string]*job       // running jobs by task id + "\x00" + unique identifier
	claims map[string]*taskClaim // tasks this node holds the claim of, by id (cluster only)
}

// New makes a Manager. Call Resume once the daemon is up, and Close at shutdown.
func New(cfg Config) *Manager {
	if cfg.MaxPackageSize <= 0 {
		cfg.MaxPackageSize = 50 << 20
	}
	if cfg.MaxBundleSize <= 0 {
		cfg.MaxBundleSize = 600 << 20
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Minute
	}
	if cfg.KeepSucceeded <= 0 {
		cfg.KeepSucceeded = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg, log: cfg.Logger, sem: make(chan struct{}, cfg.Concurrency),
		ctx: ctx, cancel: cancel, jobs: map[string]*job{}, claims: map[string]*taskClaim{},
	}
}

// Close cancels running jobs and waits for them. Their tasks stay "running" in the store and
// the next Resume takes them up again.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// goTracked runs fn in a goroutine that Close waits for; it reports false (and runs
// nothing) once Close has begun. Callers holding m.mu use goTrackedLocked.
func (m *Manager) goTracked(fn func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.goTrackedLocked(fn)
}

func (m *Manager) goTrackedLocked(fn func()) bool {
	if m.closed {
		return false
	}
	m.wg.Go(fn)
	return true
}
