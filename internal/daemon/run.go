package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/console"
	"github.com/plugd/plugd/internal/difyapi"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/httpapi"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/sandbox"
	"github.com/plugd/plugd/internal/signature"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/vault"
	"github.com/plugd/plugd/internal/wire"
)

// OpenStore opens the configured database without migrating it.
func OpenStore(ctx context.Context, c Config) (*sqlstore.DB, error) {
	switch c.DB.Type {
	case "", "sqlite":
		if err := os.MkdirAll(filepath.Dir(c.DB.SQLitePath), 0o700); err != nil {
			return nil, err
		}
		return sqlstore.OpenSQLite(ctx, c.DB.SQLitePath)
	case "postgresql", "pgbouncer":
		dsn := sqlstore.PostgresDSN(c.DB.Host, c.DB.Port, c.DB.Username, c.DB.Password, c.DB.Database, c.DB.SSLMode, c.DB.Extras)
		return sqlstore.OpenPostgres(ctx, dsn, sqlstore.PostgresOptions{
			MaxOpenConns: c.DB.MaxOpenConns, MaxIdleConns: c.DB.MaxIdleConns, ConnMaxLifetime: c.DB.ConnMaxLifetime,
			CreateDatabase: true, DefaultDatabase: c.DB.DefaultDatabase,
		})
	case "mysql":
		return sqlstore.OpenMySQLSettings(ctx, sqlstore.MySQLSettings{
			Host: c.DB.Host, Port: c.DB.Port, User: c.DB.Username, Password: c.DB.Password, Database: c.DB.Database,
			SSLMode: c.DB.SSLMode, ConnectTimeout: c.DB.ConnectTimeout, ReadTimeout: c.DB.ReadTimeout, WriteTimeout: c.DB.WriteTimeout,
		}, sqlstore.MySQLOptions{
			MaxOpenConns: c.DB.MaxOpenConns, MaxIdleConns: c.DB.MaxIdleConns, ConnMaxLifetime: c.DB.ConnMaxLifetime,
			CreateDatabase: true,
		})
	}
	return nil, fmt.Errorf("DB_TYPE %q is not supported (sqlite, postgresql, pgbouncer, mysql)", c.DB.Type)
}

// OpenBlob opens the configured object storage, creating its bucket or container when missing.
func OpenBlob(ctx context.Context, c Config) (blob.Store, error) {
	return openBlob(ctx, c.Storage, true)
}

// OpenSourceBlob opens another deployment's object storage, described by that deployment's
// own settings (the reference daemon's PLUGIN_STORAGE_TYPE and its backend's variables, which
// plugd reads under the same names), for reading: nothing is created in it, and a missing
// bucket or container is an error. `plugd adopt` reads a reference's storage with it.
func OpenSourceBlob(ctx context.Context, lookup func(string) string) (blob.Store, error) {
	// The empty config file keeps plugd's own config file (and environment) out of it.
	c, err := Load(lookup, os.DevNull, nil)
	if err != nil {
		return nil, fmt.Errorf("the reference's storage settings: %w", err)
	}
	return openBlob(ctx, c.Storage, false)
}

func openBlob(ctx context.Context, st StorageConfig, create bool) (blob.Store, error) {
	switch st.Type {
	case "", "local":
		if !create { // blob.NewDir makes a missing folder
			if fi, err := os.Stat(st.LocalRoot); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("PLUGIN_STORAGE_LOCAL_ROOT=%s is not a folder", st.LocalRoot)
			}
		}
		return blob.NewDir(st.LocalRoot)
	case "s3":
		return blob.NewS3(ctx, blob.S3Config{
			Endpoint: st.S3Endpoint, Bucket: st.Bucket, AccessKey: st.AccessKey,
			SecretKey: st.SecretKey, Region: st.Region, PathStyle: st.S3UsePathStyle,
			UseIAM: st.S3UseAWSManagedIAM, CreateBucket: create,
		})
	case "azure_blob":
		return blob.NewAzure(ctx, blob.AzureConfig{
			ConnectionString: st.AzureConnectionString, Container: st.AzureContainer, CreateContainer: create,
		})
	case "gcs":
		creds, err := st.gcsCredentials()
		if err != nil {
			return nil, fmt.Errorf("GCS_CREDENTIALS: %w", err)
		}
		return blob.NewGCS(ctx, blob.GCSConfig{Bucket: st.Bucket, CredentialsJSON: creds, Endpoint: st.GCSEndpoint})
	case blob.VendorAliyunOSS, blob.VendorTencentCOS, blob.VendorVolcengineTOS, blob.VendorHuaweiOBS:
		cfg, err := st.Vendor().S3Config()
		if err != nil {
			return nil, err
		}
		return blob.NewS3(ctx, cfg)
	}
	return nil, fmt.Errorf("PLUGIN_STORAGE_TYPE %q is not supported", st.Type)
}

// Logger makes the daemon's logger from LOG_LEVEL and LOG_OUTPUT_FORMAT.
func Logger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// trustStore is what package signatures are checked against: Dify's official key (unless
// PLUGD_TRUST_OFFICIAL_KEY=false), the third-party key files when enabled, and the trust
// folder, which is re-read whenever it changes.
func trustStore(c Config) (*signature.TrustStore, error) {
	var fixed []signature.TrustedKey
	if c.TrustOfficialKey {
		fixed = append(fixed, signature.Official())
	}
	if c.ThirdPartySignatureVerification && len(c.ThirdPartyPublicKeys) > 0 {
		keys, err := signature.LoadTrustedKeys(c.ThirdPartyPublicKeys...)
		if err != nil {
			return nil, fmt.Errorf("THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS: %w", err)
		}
		fixed = append(fixed, keys...)
	}
	ts := signature.NewTrustStore(fixed, c.TrustDir)
	// Read once now so that a broken key file stops the start with a clear error.
	if _, err := ts.Keys(); err != nil {
		return nil, err
	}
	return ts, nil
}

// RunOptions are what Run needs besides the settings.
type RunOptions struct {
	Version        string
	Stdout, Stderr io.Writer
	// Ready, when set, receives the listening address once requests are accepted.
	Ready func(addr string)
}

// Run is `plugd serve`: it opens the store, migrates it, starts the HTTP API and serves until
// ctx ends, then stops plugins and flushes state.
func Run(ctx context.Context, c Config, o RunOptions) error {
	log := Logger(c, o.Stderr)
	if _, err := EnsureServerKey(&c, o.Stdout); err != nil {
		return err
	}
	for _, d := range []string{c.DataDir, c.WorkingPath} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	db, err := OpenStore(ctx, c)
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	if len(applied) > 0 {
		log.Info("database migrated", "applied", applied)
	}
	blobs, err := OpenBlob(ctx, c)
	if err != nil {
		return fmt.Errorf("opening the package storage: %w", err)
	}
	trust, err := trustStore(c)
	if err != nil {
		return fmt.Errorf("loading trusted keys: %w", err)
	}
	if keys, _ := trust.Keys(); c.ForceVerifyingSignature && len(keys) == 0 {
		log.Warn("FORCE_VERIFYING_SIGNATURE is on but no public key is trusted (PLUGD_TRUST_OFFICIAL_KEY=false and an empty trust folder): uploads are refused until a key is added to the trust folder", "trust_dir", c.TrustDir)
	}

	ws := Workspace(c, blobs)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := dispatch.NewMetrics(reg)
	db.SetStorageLimit(c.StorageLimit)
	back, secrets, err := backwardsHandler(c, db)
	if err != nil {
		return err
	}
	iso, how := runtime.ChooseIsolation(c.Isolation, runtime.Isolation{
		UIDs: sandbox.NewAllocator(filepath.Join(c.DataDir, "sandbox-uids.json"), c.SandboxUIDBase, c.SandboxUIDCount),
		Limits: sandbox.Limits{
			Processes: uint64(c.PluginMaxProcesses), OpenFiles: uint64(c.PluginMaxOpenFiles), CPU: uint64(c.PluginMaxCPUSeconds),
		},
		CPUPercent: c.PluginCPUPercent,
		Root:       filepath.Join(c.DataDir, "sandbox-root"),
	})
	if iso.Refused != nil {
		log.Error("plugin isolation: " + how)
	} else {
		log.Info("plugin isolation: " + how)
	}
	// With isolation in force as root (mode uid), zygotes are confined and their children
	// confine themselves to the plugin's sandbox (docs/runtime.md); in mode userns a fork
	// could not be given a uid of its own, so plugins start the plain way.
	var zygotes *runtime.Zygotes
	if c.Zygote && iso.Confines() && iso.Mode != sandbox.ModeUID {
		log.Info("zygotes off: plugins are isolated in mode " + string(iso.Mode) + ", where a forked plugin could not be (PLUGD_ZYGOTE ignored)")
	} else if c.Zygote {
		if iso.Confines() {
			log.Info("zygotes confined: each in a user namespace of its own, its plugins forked into their own sandboxes")
		}
		zygotes = runtime.NewZygotes(runtime.ZygoteConfig{DataDir: filepath.Join(c.DataDir, "plugins", ".zygotes"),
			IdleStop: c.IdleStop, Logger: log})
	}
	// What plugins send is bounded: one message, what waits for slow callers per plugin and
	// in all (backpressure past that), and outsized messages give their memory back after.
	reclaimer := newMemoryReclaimer(2*time.Second, 10*time.Second)
	defer reclaimer.stop()
	bounds := wire.Bounds{
		MaxLine: int(c.MaxMessage), ConnBuffer: c.PluginBuffer, Shared: wire.NewBudget(c.DaemonBuffer),
		LargeLine: reclaimLine, OnLargeLine: reclaimer.large,
	}
	disp := dispatch.New(dispatch.Config{
		Plugins: db, Workspace: ws, Zygotes: zygotes,
		Backwards:      back,
		Bounds:         bounds,
		DataDir:        filepath.Join(c.DataDir, "plugins"),
		IdleStop:       c.IdleStop,
		MaxInstances:   c.MaxInstances,
		StartTimeout:   c.PythonEnvInitTimeout,
		Isolation:      iso,
		RestartBackoff: c.RestartBackoff, CrashLoopBackoff: c.CrashLoopBackoff, CrashLoopBackoffMax: c.CrashLoopBackoffMax,
		Metrics: metrics,
		Logger:  log,
	})
	metrics.Attach(disp)
	// On a cluster, the node joins before anything can claim a task or serve a request.
	var nd *node
	if c.Cluster.Enabled {
		if nd, err = joinCluster(ctx, c, nodeStatus(disp), log); err != nil {
			return fmt.Errorf("joining the cluster (PLUGD_CLUSTER): %w", err)
		}
	}
	var runtimes install.Runtimes = disp
	if nd != nil && nd.slots != nil {
		runtimes = cappedRuntimes{Dispatcher: disp, s: nd.slots}
	}
	instCfg := install.Config{
		Store: db, Blob: blobs, Workspace: ws, Runtimes: runtimes,
		ForceSignature: c.ForceVerifyingSignature, Keys: trust, EnforceLanggeniusSignatures: c.EnforceLanggeniusSignatures,
		MaxPackageSize: c.MaxPackageSize, MaxBundleSize: c.MaxBundleSize, Concurrency: c.InstallConcurrency, Timeout: c.InstallTimeout,
		TempDir: filepath.Join(c.DataDir, "tmp"), Logger: log,
	}
	if nd != nil {
		instCfg.Claims, instCfg.Peers = claimer{nd.cl}, peers{nd.cl}
	}
	mgr := install.New(instCfg)
	if nd != nil {
		nd.handleBus(mgr)
	}
	if err := os.MkdirAll(filepath.Join(c.DataDir, "tmp"), 0o700); err != nil {
		return err
	}

	var reconciled atomic.Bool
	var metricsHandler http.Handler
	if c.PrometheusEnabled {
		metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	apiCfg := httpapi.Config{
		ServerKey: c.ServerKey, Store: db, Installer: mgr, Dispatcher: httpapi.NewDispatcher(disp.Invoke, readiness(disp)),
		Metrics: metricsHandler, MaxPackageSize: c.MaxPackageSize, MaxBundleSize: c.MaxBundleSize, ExecutionTimeout: c.MaxExecutionTimeout,
		EndpointsEnabled: c.EndpointEnabled, Logger: log, Version: o.Version, Reset: disp.Reset,
		Health: func() httpapi.HealthInfo { return httpapi.HealthInfo{Ready: reconciled.Load()} },
	}
	if nd != nil {
		apiCfg.Forward, apiCfg.Draining = nd.forward, nd.cl.Draining
		apiCfg.Health = func() httpapi.HealthInfo {
			h := httpapi.HealthInfo{Ready: reconciled.Load() && !nd.cl.Draining(), Platform: "cluster", Node: nd.cl.ID()}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if nodes, err := nd.cl.Nodes(ctx); err == nil {
				h.Nodes = nodes
			}
			return h
		}
	}
	if c.Debug.Enabled {
		apiCfg.DebugKeys = db
	}
	if secrets != nil {
		apiCfg.Secrets = secrets
	}
	// Tool credentials are sealed under the master key (PLUGD_MASTER_KEY, else DATA_DIR/master.key,
	// made on first start); tools reach out through the guarded egress client.
	ring, err := vault.LoadKeyring(os.LookupEnv, c.DataDir, o.Stdout)
	if err != nil {
		return fmt.Errorf("loading the master key: %w", err)
	}
	secretsVault, err := vault.New(db, ring)
	if err != nil {
		return err
	}
	egressSettings, err := egress.SettingsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	outbound := egress.New(egressSettings)
	var tools *catalog.Catalog
	var locker oauth.Locker // one refresh per credential across the cluster's nodes
	if nd != nil {
		locker = leaseLocker{nd.cl}
	}
	oauthMgr, err := oauthManager(c, db, secretsVault, outbound, disp, &tools, locker, log)
	if err != nil {
		return err
	}
	pool, err := mcpPool(c, iso, log, mcpTokens{oauthMgr})
	if err != nil {
		return err
	}
	defer pool.Close()
	tools, importers, err := toolCatalog(c, db, disp, secretsVault, outbound, pool, oauthMgr)
	if err != nil {
		return err
	}
	apiCfg.Tools, apiCfg.ToolImporters, apiCfg.OAuth = tools, importers, oauthMgr
	// The catalog's install route downloads from the Marketplace on the daemon's side.
	fetcher, err := NewMarketplaceFetcher(c, mgr, o.Version)
	if err != nil {
		return err
	}
	if fetcher != nil { // not a typed nil inside the interface
		apiCfg.Marketplace = fetcher
	}
	mcpSrv := mcpserver.New(ctx, mcpserver.Options{
		Catalog: tools, Store: db, Logger: log, Version: o.Version,
		PublicURL: c.Tools.MCPPublicURL, AuthorizationServers: c.Tools.MCPAuthorizationServers,
	})
	if nd != nil {
		apiCfg.MCP = nd.wrapMCP(mcpSrv) // a session's requests go to its node
	} else {
		apiCfg.MCP = mcpSrv
	}
	api := httpapi.New(apiCfg)
	var handler http.Handler = api
	if c.Console.Access != string(console.AccessOff) {
		users, err := console.ReadUsers(c.Console.UsersFile)
		if err != nil {
			return fmt.Errorf("PLUGD_CONSOLE_USERS_FILE: %w", err)
		}
		var dbgAddr string
		if c.Debug.Enabled {
			dbgAddr = debugAddr(c)
		}
		con, err := console.New(console.Config{
			Access: console.Access(c.Console.Access), API: api, ServerKey: c.ServerKey, Users: users,
			SecureCookies: c.Console.SecureCookies, DefaultTenant: c.Console.Tenant, Metrics: reg, Logger: log,
			DebugAddr: dbgAddr, OAuthCallbackURL: oauthMgr.CallbackURL(),
		})
		if err != nil {
			return err
		}
		handler = console.Mount(con, api)
	}
	// Plugins attached for remote debugging left with the daemon that served them. On a
	// cluster the others' attachments live on: the leader removes those of dead nodes.
	if nd == nil {
		if n, err := mgr.DetachAll(ctx); err != nil {
			return fmt.Errorf("removing stale remote-debugging installations: %w", err)
		} else if n > 0 {
			log.Info("removed stale remote-debugging installations", "count", n)
		}
	}
	// Every goroutine started here is joined before Run returns: runCtx ends them, and the
	// group waits for them after the HTTP server has shut down.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var g errgroup.Group
	if nd != nil {
		g.Go(func() error { return nd.cl.Run(runCtx) })
		if err := nd.cl.Start(ctx); err != nil {
			stop()
			_ = g.Wait()
			return err
		}
		log.Info("joined the cluster", "node", nd.cl.ID(), "addr", c.Cluster.NodeAddr)
	}
	if c.Debug.Enabled {
		var routes debugRoutes
		if nd != nil {
			routes = nd.cl
		}
		dbg := debugServer(c, db, mgr, disp, back, bounds, routes, log)
		ln, err := net.Listen("tcp", debugAddr(c))
		if err != nil {
			return fmt.Errorf("remote debugging on %s (PLUGIN_REMOTE_INSTALLING_HOST, PLUGIN_REMOTE_INSTALLING_PORT): %w", debugAddr(c), err)
		}
		g.Go(func() error {
			if err := dbg.Serve(runCtx, ln); err != nil && runCtx.Err() == nil {
				log.Error("remote-debugging server stopped", "err", err)
			}
			return nil
		})
		log.Info("remote debugging enabled", "addr", ln.Addr().String())
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		stop()
		_ = g.Wait()
		return fmt.Errorf("listening on %s (SERVER_HOST, SERVER_PORT): %w", addr, err)
	}
	srv := httpapi.NewHTTPServer(addr, handler)
	serveErr := make(chan error, 1)
	g.Go(func() error {
		serveErr <- srv.Serve(ln)
		return nil
	})
	log.Info("plugd serving", "addr", ln.Addr().String(), "data_dir", c.DataDir, "db", c.DB.Type, "storage", c.Storage.Type)
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}

	// Boot reconciliation: unfinished tasks resume, installed plugins are prepared (not
	// started) so the first request after a restart does not pay for it.
	g.Go(func() error {
		if n, err := mgr.Resume(runCtx); err != nil {
			log.Warn("resuming install tasks", "err", err)
		} else if n > 0 {
			log.Info("resumed install tasks", "count", n)
		}
		start := time.Now()
		if err := disp.Reconcile(runCtx); err == nil {
			log.Info("installed plugins prepared", "took", time.Since(start).Round(time.Millisecond))
		}
		reconciled.Store(true)
		if c.WarmOnStart > 0 && nd != nil && nd.slots != nil {
			// Started without a call, a plugin would run here beyond its cap.
			log.Info("PLUGD_WARM_ON_START ignored: plugins are capped per node (PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN) and start on their first call")
		} else if c.WarmOnStart > 0 {
			n := disp.WarmRecent(runCtx, c.WarmOnStart)
			log.Info("recently used plugins started", "count", n, "took", time.Since(start).Round(time.Millisecond))
		}
		return nil
	})
	if nd != nil {
		g.Go(func() error {
			nd.housekeeping(runCtx, mgr, disp, db)
			return nil
		})
	}
	if c.EnvGCInterval > 0 {
		g.Go(func() error {
			collectEnvsEvery(runCtx, ws, c, log)
			return nil
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	log.Info("shutting down")
	grace := 10 * time.Second
	if nd != nil {
		// Drain: readiness turns 503 and new plugin requests are refused, so the load
		// balancer sends them elsewhere; requests in flight finish (bounded); then the node
		// leaves, dropping its routes, and its tasks' claims are released for the others.
		nd.cl.Drain(context.Background())
		grace = c.Cluster.DrainTimeout
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	stop()
	if nd != nil {
		if nd.slots != nil {
			nd.slots.releaseAll()
		}
		leaveCtx, cancelLeave := context.WithTimeout(context.Background(), 5*time.Second)
		nd.cl.Leave(leaveCtx)
		cancelLeave()
	}
	mgr.Close()
	// Close cancels preparations in progress, so the reconciliation above ends too.
	_ = disp.Close(shutdownCtx)
	_ = g.Wait()
	return runErr
}

// Workspace is where installed plugins are extracted and their environments built: the
// data folder's python/ and PLUGIN_WORKING_PATH.
func Workspace(c Config, blobs blob.Store) *install.Workspace {
	return install.NewWorkspace(blobs, pyenv.NewBuilder(filepath.Join(c.DataDir, "python"), c.Python), c.WorkingPath)
}

// collectEnvsEvery removes unused environments by c.EnvGC, a first time a minute after the
// start (not to slow the boot) and then every c.EnvGCInterval.
func collectEnvsEvery(ctx context.Context, ws *install.Workspace, c Config, log *slog.Logger) {
	wait := min(time.Minute, c.EnvGCInterval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = c.EnvGCInterval
		rep, err := ws.CollectEnvs(ctx, c.EnvGC, false)
		if err != nil {
			log.Warn("collecting unused environments", "err", err)
			continue
		}
		var removed []string
		for _, e := range rep.Envs {
			if e.Removed {
				removed = append(removed, e.Key[:12]+" ("+e.Reason+")")
			}
		}
		if len(removed) > 0 || len(rep.Errors) > 0 {
			log.Info("unused environments collected", "removed", removed, "freed_bytes", rep.Freed, "total_bytes", rep.Total, "errors", rep.Errors)
		}
	}
}

// readiness reports the dispatcher's plugins in the HTTP layer's terms.
func readiness(d *dispatch.Dispatcher) func() []httpapi.PluginState {
	return func() []httpapi.PluginState {
		states := d.Readiness()
		out := make([]httpapi.PluginState, len(states))
		for i, s := range states {
			pluginID := s.UniqueIdentifier
			if id, err := install.ParseIdentifier(s.UniqueIdentifier); err == nil {
				pluginID = id.PluginID()
			}
			out[i] = httpapi.PluginState{
				UniqueIdentifier: s.UniqueIdentifier, PluginID: pluginID, State: s.State, Error: s.Error,
				RSS: s.RSS, InFlight: s.InFlight,
			}
		}
		return out
	}
}

// backwardsHandler answers plugins' calls into Dify: through Dify's inner API when
// DIFY_INNER_API_URL is set (and endpoint secrets with it), else storage only, with a clear
// error for the rest. Plugin storage is the database's either way.
func backwardsHandler(c Config, db *sqlstore.DB) (runtime.Backwards, httpapi.EndpointSecrets, error) {
	if c.Dify.URL == "" {
		return backwards.NewLocal(db), nil, nil
	}
	client, err := difyapi.New(difyapi.Config{
		BaseURL: c.Dify.URL, Key: c.Dify.Key, ReadTimeout: c.Dify.ReadTimeout,
		WriteTimeout: c.Dify.WriteTimeout, MaxFrame: int(c.Dify.MaxFrame),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("DIFY_INNER_API_URL: %w", err)
	}
	d := backwards.NewDify(db, client)
	return d, d, nil
}
