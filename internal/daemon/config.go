// Package daemon holds what `plugd serve` needs before it can start: its settings, read from
// flags, the environment and a config file, and the API key Dify calls it with.
package daemon

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/cluster"
	"github.com/plugd/plugd/internal/pyenv"
)

// Config is every setting of `plugd serve`. The environment variable names are the reference
// daemon's where the meaning is the same, so an existing .env keeps working; plugd's own
// additions start with PLUGD_. Load fills it; the zero value is not usable.
type Config struct {
	// DataDir holds everything plugd keeps on this machine when nothing else is configured:
	// the SQLite database, the local package storage, plugin working folders, the server key.
	DataDir string
	// ConfigFile is the YAML file the settings were read from ("" when none was read).
	ConfigFile string

	Host string
	Port int
	// ServerKey is the X-Api-Key Dify must send (SERVER_KEY); empty until EnsureServerKey
	// reads or generates one when the environment does not set it.
	ServerKey string
	// ServerKeyFile is where a generated key is kept between runs.
	ServerKeyFile string

	DB      DBConfig
	Storage StorageConfig

	WorkingPath          string
	MaxPackageSize       int64
	MaxBundleSize        int64
	MaxExecutionTimeout  time.Duration
	InstallTimeout       time.Duration
	InstallConcurrency   int
	PythonEnvInitTimeout time.Duration

	ForceVerifyingSignature         bool
	ThirdPartySignatureVerification bool
	ThirdPartyPublicKeys            []string
	// TrustDir is a folder of *.pem public keys whose signatures plugd accepts besides
	// Dify's official key; dropping a file there is easier than editing a list of paths.
	// It is re-read when it changes, without a restart.
	TrustDir string
	// TrustOfficialKey trusts Dify's official key built into the binary (PLUGD_TRUST_OFFICIAL_KEY,
	// default true, as the reference always does); off, only the trust folder and third-party
	// keys count.
	TrustOfficialKey bool
	// EnforceLanggeniusSignatures: a package whose author is langgenius must be signed with
	// the langgenius category (ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES, default true).
	EnforceLanggeniusSignatures bool

	// Marketplace is where `marketplace` dependencies of bundles are downloaded from.
	Marketplace MarketplaceConfig

	EndpointEnabled   bool
	PrometheusEnabled bool

	// Dify is Dify's inner API, which plugins' backwards invocations (LLM, tool, app, file
	// upload, ...) and endpoint secrets go through. Empty URL: those invocations fail with a
	// clear error and endpoint settings are stored as given.
	Dify DifyConfig
	// StorageLimit bounds one plugin's key-value storage per tenant when its manifest sets no
	// smaller size (PERSISTENCE_STORAGE_MAX_SIZE).
	StorageLimit int64

	// Debug is the remote-debugging TCP server plugin authors attach running plugins to. Off
	// unless enabled: it accepts code from anyone holding a key.
	Debug DebugConfig
	// Console is the web console at /console/ (docs/console.md).
	Console ConsoleConfig

	// IdleStop stops a plugin process nobody called for this long; the next call starts it
	// again. 0 keeps processes running forever, as the reference does.
	IdleStop time.Duration
	// MaxInstances caps the processes of one busy plugin; 0 leaves it to the runtime.
	MaxInstances int
	// Zygote forks plugins from a per-environment Python process that has already imported
	// the SDK (docs/runtime.md), so a cold start costs a fork instead of an interpreter start
	// and the SDK's imports. On by default; a zygote that fails falls back to the plain spawn.
	Zygote bool
	// WarmOnStart starts the N most recently used installed plugins at boot (0: none). Each
	// costs a process (about 60 MiB) until it idles out; with zygotes a cold start is a fork,
	// so the default is 0.
	WarmOnStart int
	// EnvGC is the policy that removes unused Python environments (uninstall keeps them), run
	// every EnvGCInterval by serve (0: never) and on demand by `plugd gc`.
	EnvGC         pyenv.Policy
	EnvGCInterval time.Duration
	// MaxMessage bounds one message (line) from a plugin; a longer one ends the plugin with
	// an error naming the setting. PluginBuffer and DaemonBuffer bound the bytes of results
	// read from plugins and not yet taken by callers, per plugin connection and in all: past
	// them the daemon stops reading (the plugin is slowed), it drops nothing.
	MaxMessage   int64
	PluginBuffer int64
	DaemonBuffer int64

	// Isolation is how plugin processes are confined (PLUGD_ISOLATION, docs/runtime.md):
	// required (the default: the best confinement this host allows, uid as root and userns
	// otherwise, and no plugin starts where none works), auto (the same, but plugins run
	// unconfined where none works), uid, userns, or off.
	Isolation string
	// SandboxUIDBase and SandboxUIDCount are the uids (and gids) given to plugins, one per
	// plugin, when the daemon runs as root.
	SandboxUIDBase, SandboxUIDCount int
	// Per plugin: tasks of its uid (RLIMIT_NPROC), open files (RLIMIT_NOFILE) and CPU
	// seconds in all per process (RLIMIT_CPU, 0 for none).
	PluginMaxProcesses, PluginMaxOpenFiles, PluginMaxCPUSeconds int
	// PluginCPUPercent is a CPU quota per plugin in percent of one core, through a cgroup;
	// 0 for none.
	PluginCPUPercent int
	// RestartBackoff is the first delay before a crashed plugin is started again (doubling,
	// up to 30 s); CrashLoopBackoff the first pause of a crash-looping plugin (5 crashes in
	// 60 s), doubling for each loop in a row up to CrashLoopBackoffMax.
	RestartBackoff, CrashLoopBackoff, CrashLoopBackoffMax time.Duration

	// Cluster runs the daemon as one node of several sharing PostgreSQL, S3 and Redis
	// (`plugd serve --cluster`, docs/daemon.md).
	Cluster ClusterConfig

	// Tools orders and filters the tool catalog (docs/tools.md).
	Tools ToolsConfig
	// MCP supervises the MCP servers added as tool providers (docs/mcp.md).
	MCP MCPConfig

	LogLevel  string // DEBUG, INFO, WARN or ERROR
	LogFormat string // text or json

	// Python configures how plugin environments are built (pyenv.SettingsFromEnv's names,
	// which may also be set in the config file).
	Python pyenv.Settings

	sources map[string]string // variable name -> where its value came from
	python  map[string]string // raw values of the variables pyenv reads
}

// ClusterConfig is the node's place in a cluster.
type ClusterConfig struct {
	Enabled bool           // PLUGD_CLUSTER or --cluster
	Redis   cluster.Config // the reference's REDIS_* settings
	// Prefix starts every Redis key of the cluster (PLUGD_CLUSTER_PREFIX), so two clusters
	// can share a Redis.
	Prefix string
	// NodeID names the node (PLUGD_NODE_ID); default: the host name and the port.
	NodeID string
	// NodeAddr is the node's HTTP API as the other nodes reach it (PLUGD_NODE_ADDR); default
	// http://<SERVER_HOST or the host name>:<SERVER_PORT>.
	NodeAddr string
	// DrainTimeout bounds how long SIGTERM waits for calls in flight (PLUGD_DRAIN_TIMEOUT).
	DrainTimeout time.Duration
	// MaxNodesPerPlugin caps how many nodes run one plugin version at once
	// (PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN: N, author/name=N, ...); none: every node that
	// receives its calls runs it.
	MaxNodesPerPlugin PluginCaps
}

// MCPConfig supervises MCP servers added as tool providers: PLUGD_MCP_MEMORY_LIMIT and
// PLUGD_MCP_IDLE_STOP.
type MCPConfig struct {
	// MemoryLimit caps each stdio MCP server's memory; 0: none.
	MemoryLimit int64
	// IdleStop stops an MCP session (and a stdio server's process) unused this long.
	IdleStop time.Duration
	// Stdio allows stdio servers: commands the key's holders choose, run (confined) here.
	Stdio bool
}

// ToolsConfig is the tool catalog's ordering: Dify's six POSITION_* settings, with Dify's
// names and meaning, and a position file giving the base order.
type ToolsConfig struct {
	PositionFile     string   // PLUGD_TOOL_POSITION_FILE: YAML list of providers, or {providers, tools}
	ProviderPins     []string // POSITION_PROVIDER_PINS
	ProviderIncludes []string // POSITION_PROVIDER_INCLUDES
	ProviderExcludes []string // POSITION_PROVIDER_EXCLUDES
	ToolPins         []string // POSITION_TOOL_PINS
	ToolIncludes     []string // POSITION_TOOL_INCLUDES
	ToolExcludes     []string // POSITION_TOOL_EXCLUDES

	// MCPPublicURL is the daemon's address as MCP clients reach it (PLUGD_MCP_PUBLIC_URL),
	// named in the protected-resource metadata; empty derives it from each request.
	MCPPublicURL string
	// MCPAuthorizationServers are OAuth issuers announced in that metadata
	// (PLUGD_MCP_AUTHORIZATION_SERVERS); empty when only plugd's own tokens are used.
	MCPAuthorizationServers []string
	// OAuthCallbackURL is the daemon's GET /oauth/callback as users' browsers reach it
	// (PLUGD_OAUTH_CALLBACK_URL), the redirect URI every OAuth client registers; empty is
	// http://127.0.0.1:SERVER_PORT/oauth/callback, which serves a browser on the daemon's host.
	OAuthCallbackURL string
}

// DBConfig selects and tunes the database.
type DBConfig struct {
	// Type is sqlite (no server needed, the default), postgresql, pgbouncer (PostgreSQL
	// behind a transaction-pooling bouncer, so no prepared statements survive a transaction),
	// or mysql (MySQL or MariaDB; the reference's oceanbase and seekdb mean mysql too).
	Type            string
	SQLitePath      string
	Host            string
	Port            int
	Username        string
	Password        string
	Database        string
	DefaultDatabase string // the database connected to when Database must first be created (PostgreSQL)
	SSLMode         string
	Extras          string // extra connection options, PostgreSQL `options=`
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration

	// Charset is utf8mb4, the only character set plugd speaks (DB_CHARSET, accepted so a
	// reference .env keeps working).
	Charset string
	// MySQL's connect, read and write timeouts (DB_CONNECT_TIMEOUT, DB_READ_TIMEOUT,
	// DB_WRITE_TIMEOUT, as the reference's MySQL DSN has them).
	ConnectTimeout, ReadTimeout, WriteTimeout time.Duration
}

// MarketplaceConfig is the Dify Marketplace the daemon downloads from.
type MarketplaceConfig struct {
	Enabled bool   // MARKETPLACE_ENABLED
	URL     string // MARKETPLACE_API_URL
}

// DifyConfig addresses Dify's inner API.
type DifyConfig struct {
	URL          string        // DIFY_INNER_API_URL
	Key          string        // DIFY_INNER_API_KEY, sent as X-Inner-Api-Key
	ReadTimeout  time.Duration // DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT (ms): a whole call, streams included
	WriteTimeout time.Duration // DIFY_BACKWARDS_INVOCATION_WRITE_TIMEOUT (ms): sending and the reply's headers
	MaxFrame     int64         // RESPONSE_MAX_BUFFER_SIZE: one streamed frame
}

// DebugConfig configures remote debugging.
type DebugConfig struct {
	Enabled  bool   // PLUGIN_REMOTE_INSTALLING_ENABLED or `plugd serve --debug`
	Host     string // PLUGIN_REMOTE_INSTALLING_HOST
	Port     int    // PLUGIN_REMOTE_INSTALLING_PORT
	MaxConns int    // PLUGIN_REMOTE_INSTALLING_MAX_CONN: plugins attached at once
}

// ConsoleConfig is the web console's settings.
type ConsoleConfig struct {
	Access        string // PLUGD_CONSOLE: loopback (default), on or off
	UsersFile     string // PLUGD_CONSOLE_USERS_FILE: name:bcrypt-hash lines
	SecureCookies bool   // PLUGD_CONSOLE_SECURE_COOKIES: behind a TLS-terminating proxy
	Tenant        string // PLUGD_CONSOLE_TENANT: the tenant the console opens on
}

// StorageConfig selects where package and asset bytes live: PLUGIN_STORAGE_TYPE and each
// backend's settings under the reference daemon's names (docs/daemon.md, "Storage").
type StorageConfig struct {
	// Type is local, s3, azure_blob, gcs, aliyun_oss, tencent_cos, volcengine_tos or
	// huawei_obs; the reference's other spellings (aws_s3, azure-blob, google_storage, ...)
	// are read as these.
	Type      string
	LocalRoot string // the folder of the local backend

	S3Endpoint     string // empty: AWS itself
	S3UsePathStyle bool
	S3UseAWS       bool
	// S3UseAWSManagedIAM takes credentials from the machine's IAM role instead of the keys.
	S3UseAWSManagedIAM bool
	AccessKey          string
	SecretKey          string
	Region             string
	// Bucket is PLUGIN_STORAGE_OSS_BUCKET: the bucket of every backend but local and Azure.
	Bucket string

	AzureConnectionString   string // AZURE_BLOB_STORAGE_CONNECTION_STRING
	AzureContainer          string // AZURE_BLOB_STORAGE_CONTAINER_NAME
	AzureAccountURL         string // AZURE_BLOB_STORAGE_ACCOUNT_URL (with managed identity)
	AzureUseManagedIdentity bool   // AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY: refused, see Load

	GCSCredentials string // GCS_CREDENTIALS: a credentials JSON file, base64-encoded
	GCSEndpoint    string // PLUGD_GCS_ENDPOINT: an emulator's JSON API URL

	AliyunRegion, AliyunEndpoint, AliyunAccessKeyID, AliyunAccessKeySecret string
	AliyunAuthVersion, AliyunPath, AliyunCloudBoxID                        string

	TencentSecretID, TencentSecretKey, TencentRegion, TencentEndpoint string

	VolcengineEndpoint, VolcengineAccessKey, VolcengineSecretKey, VolcengineRegion string

	HuaweiAccessKey, HuaweiSecretKey, HuaweiServer, HuaweiRegion string
	HuaweiPathStyle                                              bool
}

// Vendor is the S3-compatible form of the settings of Type's vendor (aliyun_oss,
// tencent_cos, volcengine_tos, huawei_obs).
func (s StorageConfig) Vendor() blob.VendorConfig {
	v := blob.VendorConfig{Vendor: s.Type, Bucket: s.Bucket, Setting: blob.VendorSettings(s.Type)}
	switch s.Type {
	case blob.VendorAliyunOSS:
		v.Endpoint, v.Region, v.AccessKey, v.SecretKey, v.Prefix = s.AliyunEndpoint, s.AliyunRegion, s.AliyunAccessKeyID, s.AliyunAccessKeySecret, s.AliyunPath
	case blob.VendorTencentCOS:
		v.Endpoint, v.Region, v.AccessKey, v.SecretKey = s.TencentEndpoint, s.TencentRegion, s.TencentSecretID, s.TencentSecretKey
	case blob.VendorVolcengineTOS:
		v.Endpoint, v.Region, v.AccessKey, v.SecretKey = s.VolcengineEndpoint, s.VolcengineRegion, s.VolcengineAccessKey, s.VolcengineSecretKey
	case blob.VendorHuaweiOBS:
		v.Endpoint, v.Region, v.AccessKey, v.SecretKey, v.PathStyle = s.HuaweiServer, s.HuaweiRegion, s.HuaweiAccessKey, s.HuaweiSecretKey, s.HuaweiPathStyle
	}
	return v
}

// Setting is one configuration variable as `plugd serve --print-config` shows it.
type Setting struct {
	Name   string // the environment variable (and config file key)
	Value  string // as it would be written in the environment; secrets are masked
	Source string // "default", "env", "flag --port" or "<config file>:<line>"
}

// Flag is a setting that `plugd serve` also takes on its command line.
type Flag struct {
	Name     string // without dashes, e.g. "port"
	Variable string // the variable it overrides, e.g. "SERVER_PORT"
	Usage    string
}

// Source labels of Setting.Source that are not a flag or a file position.
const (
	SourceDefault = "default"
	SourceEnv     = "env"
)

// maxConfigFileSize bounds the config file: it is a few dozen lines, so anything large is a
// mistake (a package or log passed by accident) rather than configuration.
const maxConfigFileSize = 1 << 20

// ConfigError is a setting with a bad value.
type ConfigError struct {
	Name   string // the variable
	Value  string // the value as given ("" for secrets, which are never echoed)
	Source string // where the value came from
	Err    error
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s (from %s): %v", e.Name, e.Source, e.Err)
	}
	return fmt.Sprintf("%s=%q (from %s): %v", e.Name, e.Value, e.Source, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Load reads the settings. Each comes from, in this order of precedence: flags (keyed by the
// flag name of Flags or by the variable name; empty values count as not given), the
// environment through lookup (os.Getenv in main), the config file, the built-in default.
//
// The config file is configFile (the --config flag), else $PLUGD_CONFIG, else
// $XDG_CONFIG_HOME/plugd/config.yaml (~/.config/plugd/config.yaml); only the last may be
// missing. It is YAML with the environment variable names as keys, so a .env file becomes a
// config file by turning `=` into `: `.
func Load(lookup func(string) string, configFile string, flags map[string]string) (Config, error) {
	vars := variables()
	byName := make(map[string]*variable, len(vars))
	byFlag := make(map[string]*variable)
	for i := range vars {
		byName[vars[i].name] = &vars[i]
		if vars[i].flag != "" {
			byFlag[vars[i].flag] = &vars[i]
		}
	}
	env := func(name string) string { return strings.TrimSpace(lookup(name)) }

	type given struct{ value, source string }
	fromFlags := make(map[string]given)
	for k, v := range flags {
		if v == "" {
			continue
		}
		vr := byFlag[k]
		if vr == nil {
			vr = byName[k]
		}
		if vr == nil {
			return Config{}, fmt.Errorf("unknown setting %q given as a flag", k)
		}
		src := "flag"
		if vr.flag != "" {
			src = "flag --" + vr.flag
		}
		fromFlags[vr.name] = given{v, src}
	}
	if configFile != "" {
		fromFlags["PLUGD_CONFIG"] = given{configFile, "flag --config"}
	}

	c := Config{sources: make(map[string]string), python: make(map[string]string)}

	// The config file is found before anything else is read, since it may set the rest.
	var (
		file        map[string]fileValue
		fileDir     string
		configSrc   = SourceDefault
		explicit    = true
		configPath  string
		errNoConfig error
	)
	switch g, ok := fromFlags["PLUGD_CONFIG"]; {
	case ok:
		configPath, configSrc = g.value, g.source
	case env("PLUGD_CONFIG") != "":
		configPath, configSrc = env("PLUGD_CONFIG"), SourceEnv
	default:
		explicit = false
		configPath, errNoConfig = defaultConfigFile(env)
	}
	if errNoConfig == nil {
		abs, err := absPath(configPath, "", env)
		if err != nil {
			return Config{}, &ConfigError{Name: "PLUGD_CONFIG", Value: configPath, Source: configSrc, Err: err}
		}
		data, err := readConfigFile(abs)
		switch {
		case err == nil:
			if file, err = parseConfigFile(data, abs, byName); err != nil {
				return Config{}, err
			}
			c.ConfigFile, fileDir = abs, filepath.Dir(abs)
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// The default file is optional.
		default:
			return Config{}, fmt.Errorf("config file: %w", err)
		}
	}
	c.sources["PLUGD_CONFIG"] = configSrc

	for i := range vars {
		v := &vars[i]
		if v.name == "PLUGD_CONFIG" {
			continue
		}
		var raw, src string
		fromFile := false
		if g, ok := fromFlags[v.name]; ok {
			raw, src = g.value, g.source
		} else if e := env(v.name); e != "" {
			raw, src = e, SourceEnv
		} else if fv, ok := file[v.name]; ok {
			raw, src, fromFile = fv.value, fmt.Sprintf("%s:%d", c.ConfigFile, fv.line), true
		} else {
			src = SourceDefault
			d, err := v.def(&c, env)
			if err != nil {
				return Config{}, &ConfigError{Name: v.name, Source: src, Err: err}
			}
			raw = d
		}
		bad := func(err error) error {
			shown := raw
			if v.secret {
				shown = ""
			}
			return &ConfigError{Name: v.name, Value: shown, Source: src, Err: err}
		}
		if v.path && raw != "" {
			base := ""
			if fromFile {
				base = fileDir
			}
			abs, err := absPath(raw, base, env)
			if err != nil {
				return Config{}, bad(err)
			}
			raw = abs
		}
		if err := v.set(&c, raw); err != nil {
			return Config{}, bad(err)
		}
		c.sources[v.name] = src
	}

	if c.DB.Type == "mysql" && c.DB.Username == "" {
		return Config{}, &ConfigError{Name: "DB_TYPE", Value: "mysql", Source: c.sources["DB_TYPE"],
			Err: errors.New("needs DB_USERNAME, the MySQL user plugd connects as (and DB_PASSWORD, its password)")}
	}
	if err := c.checkStorage(); err != nil {
		return Config{}, err
	}
	if err := c.checkCluster(); err != nil {
		return Config{}, err
	}
	c.ServerKeyFile = filepath.Join(c.DataDir, "server.key")
	c.Python = pyenv.SettingsFromEnv(func(name string) string {
		if v, ok := c.python[name]; ok {
			return v
		}
		return lookup(name) // the lower-case proxy names, which only the environment sets
	})
	return c, nil
}

// checkStorage refuses, before anything is opened, a storage type whose settings are
// missing or malformed, naming the setting.
func (c *Config) checkStorage() error {
	st := &c.Storage
	bad := func(err error) error {
		return &ConfigError{Name: "PLUGIN_STORAGE_TYPE", Value: st.Type, Source: c.sources["PLUGIN_STORAGE_TYPE"], Err: err}
	}
	switch st.Type {
	case "s3":
		if st.Bucket == "" {
			return bad(errors.New("needs PLUGIN_STORAGE_OSS_BUCKET, the bucket's name"))
		}
	case "azure_blob":
		switch {
		case st.AzureUseManagedIdentity:
			return &ConfigError{Name: "AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY", Value: "true", Source: c.sources["AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY"],
				Err: errors.New("managed identities are not supported by plugd yet; set AZURE_BLOB_STORAGE_CONNECTION_STRING")}
		case st.AzureContainer == "":
			return bad(errors.New("needs AZURE_BLOB_STORAGE_CONTAINER_NAME, the container's name"))
		case st.AzureConnectionString == "":
			return bad(errors.New("needs AZURE_BLOB_STORAGE_CONNECTION_STRING (AccountName=...;AccountKey=...;EndpointSuffix=... or BlobEndpoint=...)"))
		}
	case "gcs":
		if st.Bucket == "" {
			return bad(errors.New("needs PLUGIN_STORAGE_OSS_BUCKET, the bucket's name"))
		}
		if _, err := st.gcsCredentials(); err != nil {
			return &ConfigError{Name: "GCS_CREDENTIALS", Source: c.sources["GCS_CREDENTIALS"], Err: err}
		}
	case blob.VendorAliyunOSS, blob.VendorTencentCOS, blob.VendorVolcengineTOS, blob.VendorHuaweiOBS:
		if st.Type == blob.VendorAliyunOSS && st.AliyunCloudBoxID != "" {
			return &ConfigError{Name: "ALIYUN_OSS_CLOUDBOX_ID", Value: st.AliyunCloudBoxID, Source: c.sources["ALIYUN_OSS_CLOUDBOX_ID"],
				Err: errors.New("CloudBox is not reachable through OSS's S3-compatible API, which plugd uses")}
		}
		if _, err := st.Vendor().S3Config(); err != nil {
			return bad(errors.New(strings.TrimPrefix(err.Error(), "blob: ")))
		}
	}
	return nil
}

// gcsCredentials decodes GCS_CREDENTIALS (nil when unset: Application Default Credentials).
func (s StorageConfig) gcsCredentials() ([]byte, error) {
	if s.GCSCredentials == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s.GCSCredentials)
	if err != nil {
		return nil, errors.New("want a credentials JSON file encoded in base64 (base64 -w0 key.json)")
	}
	if !json.Valid(b) {
		return nil, errors.New("decodes to something that is not JSON; want a credentials JSON file encoded in base64")
	}
	return b, nil
}

// Describe lists every setting with its effective value and where it came from, in the
// order of the table in variables. Secrets are masked and passwords dropped from URLs.
func (c Config) Describe() []Setting {
	vars := variables()
	out := make([]Setting, 0, len(vars))
	for i := range vars {
		v := &vars[i]
		value := v.get(&c)
		switch {
		case v.secret && value != "":
			value = "********"
		case v.url:
			value = redactURL(value)
		}
		src := c.sources[v.name]
		if src == "" {
			src = SourceDefault
		}
		out = append(out, Setting{Name: v.name, Value: value, Source: src})
	}
	return out
}

// Flags lists the settings `plugd serve` takes as flags; Load accepts them by Name.
func Flags() []Flag {
	var out []Flag
	for _, v := range variables() {
		if v.flag != "" {
			out = append(out, Flag{Name: v.flag, Variable: v.name, Usage: v.doc + " (" + v.name + ")"})
		}
	}
	return out
}

// Variables lists every variable name Load reads, in the order Describe shows them.
func Variables() []string {
	vars := variables()
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.name
	}
	return out
}

// DefaultDataDir is the data folder when neither --data-dir nor the config says otherwise:
// $PLUGD_DATA_DIR, else $XDG_DATA_HOME/plugd, else ~/.local/share/plugd. The CLI's client
// commands use it to find the key a local `plugd serve` generated.
func DefaultDataDir(lookup func(string) string) (string, error) {
	if d := strings.TrimSpace(lookup("PLUGD_DATA_DIR")); d != "" {
		return absPath(d, "", lookup)
	}
	if x := strings.TrimSpace(lookup("XDG_DATA_HOME")); filepath.IsAbs(x) {
		return filepath.Join(x, "plugd"), nil
	}
	home, err := homeDir(lookup)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "plugd"), nil
}

func defaultConfigFile(lookup func(string) string) (string, error) {
	if x := lookup("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "plugd", "config.yaml"), nil
	}
	home, err := homeDir(lookup)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".config", "plugd", "config.yaml"), nil
}

// homeDir prefers $HOME as seen through lookup, so tests and callers with a custom
// environment get a home consistent with it.
func homeDir(lookup func(string) string) (string, error) {
	if h := strings.TrimSpace(lookup("HOME")); h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home folder to put plugd's data in: set PLUGD_DATA_DIR or pass --data-dir (%w)", err)
	}
	return h, nil
}

// absPath expands a leading ~/ and makes p absolute, relative to base when given (the
// config file's folder, so a file's relative paths do not depend on where plugd was started).
func absPath(p, base string, lookup func(string) string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := homeDir(lookup)
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, strings.TrimPrefix(p[1:], "/"))
	}
	if base != "" && !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Abs(p)
}

func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a YAML file", path)
	}
	if st.Size() > maxConfigFileSize {
		return nil, fmt.Errorf("%s: %d bytes is too large for a config file (at most %d)", path, st.Size(), maxConfigFileSize)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// variable is one row of the settings table: its name, how it is parsed into Config and
// read back for Describe.
type variable struct {
	name   string
	flag   string // the `plugd serve` flag, "" for none
	doc    string
	secret bool // never shown
	url    bool // may carry a password in its user info
	path   bool // a file or folder: ~ expanded, made absolute
	list   bool // comma-separated; a YAML sequence is accepted too
	noFile bool // cannot be set in the config file
	// def is the default as it would be written in the environment; it may depend on the
	// settings before it (the paths under DataDir).
	def func(c *Config, lookup func(string) string) (string, error)
	set func(c *Config, raw string) error
	get func(c *Config) string
}

func (v variable) withFlag(name, doc string) variable { v.flag, v.doc = name, doc; return v }
func (v variable) secretVar() variable                { v.secret = true; return v }
func (v variable) urlVar() variable                   { v.url = true; return v }

// withDef replaces the default.
func (v variable) withDef(def func(*Config, func(string) string) (string, error)) variable {
	v.def = def
	return v
}

// byDBType is a default that differs on MySQL (DB_TYPE comes first in the table).
func byDBType(postgres, mysql string) func(*Config, func(string) string) (string, error) {
	return func(c *Config, _ func(string) string) (string, error) {
		if c.DB.Type == "mysql" {
			return mysql, nil
		}
		return postgres, nil
	}
}

func constDef(s string) func(*Config, func(string) string) (string, error) {
	return func(*Config, func(string) string) (string, error) { return s, nil }
}

// underData defaults to a path inside DataDir.
func underData(elem ...string) func(*Config, func(string) string) (string, error) {
	return func(c *Config, _ func(string) string) (string, error) {
		return filepath.Join(append([]string{c.DataDir}, elem...)...), nil
	}
}

func str(name, def string, field func(*Config) *string) variable {
	return variable{
		name: name, def: constDef(def),
		set: func(c *Config, raw string) error { *field(c) = raw; return nil },
		get: func(c *Config) string { return *field(c) },
	}
}

func pathVar(name string, def func(*Config, func(string) string) (string, error), field func(*Config) *string) variable {
	v := str(name, "", field)
	v.def, v.path = def, true
	return v
}

// oneOf accepts the keys of choices (case-insensitively) and stores the value they map to.
func oneOf(name, def string, choices map[string]string, field func(*Config) *string) variable {
	v := str(name, def, field)
	v.set = func(c *Config, raw string) error {
		canon, ok := choices[strings.ToLower(raw)]
		if !ok {
			return fmt.Errorf("want one of %s", choiceList(choices))
		}
		*field(c) = canon
		return nil
	}
	return v
}

func choiceList(choices map[string]string) string {
	seen := map[string]bool{}
	var names []string
	for _, canon := range choices {
		if !seen[canon] && canon != "" {
			seen[canon] = true
			names = append(names, canon)
		}
	}
	slices.Sort(names) // a stable order for messages and tests
	return strings.Join(names, ", ")
}

func integer(name string, def, lo, hi int, field func(*Config) *int) variable {
	return variable{
		name: name, def: constDef(strconv.Itoa(def)),
		set: func(c *Config, raw string) error {
			n, err := strconv.Atoi(raw)
			if err != nil {
				return errors.New("want a whole number")
			}
			if n < lo || n > hi {
				return fmt.Errorf("want a number from %d to %d", lo, hi)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

func size(name string, def int64, field func(*Config) *int64) variable {
	return variable{
		name: name, def: constDef(strconv.FormatInt(def, 10)),
		set: func(c *Config, raw string) error {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return errors.New("want a size in bytes")
			}
			if n <= 0 {
				return errors.New("want a positive size in bytes")
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(*field(c), 10) },
	}
}

func boolean(name string, def bool, field func(*Config) *bool) variable {
	return variable{
		name: name, def: constDef(strconv.FormatBool(def)),
		set: func(c *Config, raw string) error {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return errors.New("want true or false")
			}
			*field(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

// duration reads a whole number of units (the reference's format) or a Go duration such as
// "90s" or "1h30m". With minimum 0, zero is allowed (meaning "never" where documented).
func duration(name string, def, unit, minimum time.Duration, field func(*Config) *time.Duration) variable {
	format := func(d time.Duration) string {
		if d%unit == 0 {
			return strconv.FormatInt(int64(d/unit), 10)
		}
		return d.String()
	}
	return variable{
		name: name, def: constDef(format(def)),
		set: func(c *Config, raw string) error {
			d, err := parseDuration(raw, unit)
			if err != nil {
				return err
			}
			if d < minimum {
				if minimum == 0 {
					return errors.New("want a duration that is not negative")
				}
				return fmt.Errorf("want at least %s", minimum)
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return format(*field(c)) },
	}
}

func parseDuration(raw string, unit time.Duration) (time.Duration, error) {
	unitName := map[time.Duration]string{time.Second: "seconds", time.Minute: "minutes", time.Hour: "hours"}[unit]
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		if n > int64(1<<62)/int64(unit) || n < -int64(1<<62)/int64(unit) {
			return 0, errors.New("duration too large")
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("want a whole number of %s or a duration such as 90s", unitName)
	}
	return d, nil
}

func list(name string, field func(*Config) *[]string) variable {
	return variable{
		name: name, list: true, def: constDef(""),
		set: func(c *Config, raw string) error {
			var out []string
			for _, p := range strings.Split(raw, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			*field(c) = out
			return nil
		},
		get: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

// seconds reads a number of seconds that may have a fraction (the reference's
// REDIS_SENTINEL_SOCKET_TIMEOUT, e.g. 0.1) or a Go duration; 0 or empty: the default.
func seconds(name string, field func(*Config) *time.Duration) variable {
	return variable{
		name: name, def: constDef("0"),
		set: func(c *Config, raw string) error {
			if f, err := strconv.ParseFloat(raw, 64); err == nil {
				if f < 0 || f > 3600 {
					return errors.New("want seconds from 0 to 3600")
				}
				*field(c) = time.Duration(f * float64(time.Second))
				return nil
			}
			d, err := time.ParseDuration(raw)
			if err != nil || d < 0 {
				return errors.New("want a number of seconds such as 0.5")
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(field(c).Seconds(), 'f', -1, 64) },
	}
}

// defaultNodeID is the host name and the port: unique per machine and daemon.
func defaultNodeID(c *Config, _ func(string) string) (string, error) {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "node"
	}
	return strings.ReplaceAll(h, " ", "-") + "-" + strconv.Itoa(c.Port), nil
}

// defaultNodeAddr is where other nodes reach this one: SERVER_HOST unless it listens on
// every address, then the host name.
func defaultNodeAddr(c *Config, _ func(string) string) (string, error) {
	host := c.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("no host name to announce to other nodes: set PLUGD_NODE_ADDR (%w)", err)
		}
		host = h
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(c.Port)), nil
}

// checkCluster refuses a cluster whose state would not be shared: every node must see the
// same database, packages and key.
func (c *Config) checkCluster() error {
	if !c.Cluster.Enabled {
		return nil
	}
	src := c.sources["PLUGD_CLUSTER"]
	switch {
	case c.DB.Type == "sqlite":
		return &ConfigError{Name: "PLUGD_CLUSTER", Value: "true", Source: src,
			Err: errors.New("a cluster's nodes share one database: set DB_TYPE=postgresql (SQLite is one machine's)")}
	case c.Storage.Type == "local":
		return &ConfigError{Name: "PLUGD_CLUSTER", Value: "true", Source: src,
			Err: errors.New("a cluster's nodes share one package storage: set PLUGIN_STORAGE_TYPE=s3 (the local folder is one machine's)")}
	case c.ServerKey == "":
		return &ConfigError{Name: "PLUGD_CLUSTER", Value: "true", Source: src,
			Err: errors.New("every node must answer with the same key: set SERVER_KEY (a generated key is one node's)")}
	}
	return nil
}

// python is a variable pyenv.SettingsFromEnv reads; check validates it here so a typo fails
// at start instead of being silently ignored.
func python(name string, check func(string) error) variable {
	return variable{
		name: name, def: constDef(""),
		set: func(c *Config, raw string) error {
			if raw != "" && check != nil {
				if err := check(raw); err != nil {
					return err
				}
			}
			c.python[name] = raw
			return nil
		},
		get: func(c *Config) string { return c.python[name] },
	}
}

func pythonPath(name string) variable {
	v := python(name, nil)
	v.path = true
	return v
}

func checkBool(raw string) error {
	if _, err := strconv.ParseBool(raw); err != nil {
		return errors.New("want true or false")
	}
	return nil
}

// storageTypes are PLUGIN_STORAGE_TYPE's values: every spelling the reference daemon's storage
// factory accepts, mapped to the one plugd uses.
var storageTypes = map[string]string{
	"local": "local", "local_file": "local",
	"s3": "s3", "aws_s3": "s3", "aws-s3": "s3",
	"azure_blob": "azure_blob", "azure": "azure_blob", "azure-blob": "azure_blob",
	"gcs": "gcs", "google_storage": "gcs", "google-storage": "gcs",
	"aliyun_oss": "aliyun_oss", "aliyun": "aliyun_oss", "aliyun-oss": "aliyun_oss",
	"tencent_cos": "tencent_cos", "tencent": "tencent_cos", "tencent-cos": "tencent_cos",
	"volcengine_tos": "volcengine_tos", "volcengine": "volcengine_tos", "volcengine-tos": "volcengine_tos",
	"huawei_obs": "huawei_obs", "huawei": "huawei_obs", "huawei-obs": "huawei_obs",
}

// variables is the one table of every setting plugd serve reads. PLUGD_DATA_DIR comes
// first because other defaults live under it.
func variables() []variable {
	dataDir := pathVar("PLUGD_DATA_DIR", func(_ *Config, lookup func(string) string) (string, error) {
		return DefaultDataDir(lookup) // $PLUGD_DATA_DIR is empty when the default is asked for
	}, func(c *Config) *string { return &c.DataDir }).
		withFlag("data-dir", "folder for the database, packages, plugin files and the server key")
	// The config file is Load's configFile argument (the --config flag), not in Flags.
	config := pathVar("PLUGD_CONFIG", constDef(""), func(c *Config) *string { return &c.ConfigFile })
	config.noFile = true

	vars := []variable{
		dataDir,
		config,
		str("SERVER_HOST", "0.0.0.0", func(c *Config) *string { return &c.Host }).
			withFlag("host", "address to listen on"),
		integer("SERVER_PORT", 5002, 1, 65535, func(c *Config) *int { return &c.Port }).
			withFlag("port", "port to listen on"),
		str("SERVER_KEY", "", func(c *Config) *string { return &c.ServerKey }).secretVar(),

		oneOf("DB_TYPE", "sqlite", map[string]string{"sqlite": "sqlite", "sqlite3": "sqlite", "postgresql": "postgresql", "postgres": "postgresql", "pgbouncer": "pgbouncer",
			"mysql": "mysql", "mariadb": "mysql", "oceanbase": "mysql", "seekdb": "mysql"},
			func(c *Config) *string { return &c.DB.Type }),
		pathVar("DB_SQLITE_PATH", underData("plugd.db"), func(c *Config) *string { return &c.DB.SQLitePath }),
		str("DB_HOST", "localhost", func(c *Config) *string { return &c.DB.Host }),
		integer("DB_PORT", 5432, 1, 65535, func(c *Config) *int { return &c.DB.Port }).withDef(byDBType("5432", "3306")),
		str("DB_USERNAME", "", func(c *Config) *string { return &c.DB.Username }),
		str("DB_PASSWORD", "", func(c *Config) *string { return &c.DB.Password }).secretVar(),
		str("DB_DATABASE", "dify_plugin", func(c *Config) *string { return &c.DB.Database }),
		str("DB_DEFAULT_DATABASE", "postgres", func(c *Config) *string { return &c.DB.DefaultDatabase }).withDef(byDBType("postgres", "mysql")),
		oneOf("DB_SSL_MODE", "disable", map[string]string{"disable": "disable", "allow": "allow", "prefer": "prefer", "require": "require", "verify-ca": "verify-ca", "verify-full": "verify-full"},
			func(c *Config) *string { return &c.DB.SSLMode }),
		str("DB_EXTRAS", "", func(c *Config) *string { return &c.DB.Extras }),
		oneOf("DB_CHARSET", "utf8mb4", map[string]string{"utf8mb4": "utf8mb4", "utf8": "utf8mb4", "utf-8": "utf8mb4"},
			func(c *Config) *string { return &c.DB.Charset }),
		duration("DB_CONNECT_TIMEOUT", 5*time.Second, time.Second, time.Second, func(c *Config) *time.Duration { return &c.DB.ConnectTimeout }),
		duration("DB_READ_TIMEOUT", 30*time.Second, time.Second, time.Second, func(c *Config) *time.Duration { return &c.DB.ReadTimeout }),
		duration("DB_WRITE_TIMEOUT", 30*time.Second, time.Second, time.Second, func(c *Config) *time.Duration { return &c.DB.WriteTimeout }),
		integer("DB_MAX_OPEN_CONNS", 30, 1, 1<<20, func(c *Config) *int { return &c.DB.MaxOpenConns }),
		integer("DB_MAX_IDLE_CONNS", 10, 0, 1<<20, func(c *Config) *int { return &c.DB.MaxIdleConns }),
		duration("DB_CONN_MAX_LIFETIME", time.Hour, time.Second, 0, func(c *Config) *time.Duration { return &c.DB.ConnMaxLifetime }),

		oneOf("PLUGIN_STORAGE_TYPE", "local", storageTypes, func(c *Config) *string { return &c.Storage.Type }),
		pathVar("PLUGIN_STORAGE_LOCAL_ROOT", underData("storage"), func(c *Config) *string { return &c.Storage.LocalRoot }),
		str("PLUGIN_STORAGE_OSS_BUCKET", "", func(c *Config) *string { return &c.Storage.Bucket }),
		str("S3_ENDPOINT", "", func(c *Config) *string { return &c.Storage.S3Endpoint }).urlVar(),
		boolean("S3_USE_PATH_STYLE", true, func(c *Config) *bool { return &c.Storage.S3UsePathStyle }),
		boolean("S3_USE_AWS", true, func(c *Config) *bool { return &c.Storage.S3UseAWS }),
		boolean("S3_USE_AWS_MANAGED_IAM", false, func(c *Config) *bool { return &c.Storage.S3UseAWSManagedIAM }),
		str("AWS_ACCESS_KEY", "", func(c *Config) *string { return &c.Storage.AccessKey }).secretVar(),
		str("AWS_SECRET_KEY", "", func(c *Config) *string { return &c.Storage.SecretKey }).secretVar(),
		str("AWS_REGION", "", func(c *Config) *string { return &c.Storage.Region }),
		str("AZURE_BLOB_STORAGE_CONNECTION_STRING", "", func(c *Config) *string { return &c.Storage.AzureConnectionString }).secretVar(),
		str("AZURE_BLOB_STORAGE_CONTAINER_NAME", "", func(c *Config) *string { return &c.Storage.AzureContainer }),
		str("AZURE_BLOB_STORAGE_ACCOUNT_URL", "", func(c *Config) *string { return &c.Storage.AzureAccountURL }).urlVar(),
		boolean("AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY", false, func(c *Config) *bool { return &c.Storage.AzureUseManagedIdentity }),
		str("GCS_CREDENTIALS", "", func(c *Config) *string { return &c.Storage.GCSCredentials }).secretVar(),
		str("PLUGD_GCS_ENDPOINT", "", func(c *Config) *string { return &c.Storage.GCSEndpoint }).urlVar(),
		str("ALIYUN_OSS_ENDPOINT", "", func(c *Config) *string { return &c.Storage.AliyunEndpoint }),
		str("ALIYUN_OSS_REGION", "", func(c *Config) *string { return &c.Storage.AliyunRegion }),
		str("ALIYUN_OSS_ACCESS_KEY_ID", "", func(c *Config) *string { return &c.Storage.AliyunAccessKeyID }).secretVar(),
		str("ALIYUN_OSS_ACCESS_KEY_SECRET", "", func(c *Config) *string { return &c.Storage.AliyunAccessKeySecret }).secretVar(),
		oneOf("ALIYUN_OSS_AUTH_VERSION", "v4", map[string]string{"v4": "v4", "v1": "v1"}, func(c *Config) *string { return &c.Storage.AliyunAuthVersion }),
		str("ALIYUN_OSS_PATH", "", func(c *Config) *string { return &c.Storage.AliyunPath }),
		str("ALIYUN_OSS_CLOUDBOX_ID", "", func(c *Config) *string { return &c.Storage.AliyunCloudBoxID }),
		str("TENCENT_COS_ENDPOINT", "", func(c *Config) *string { return &c.Storage.TencentEndpoint }),
		str("TENCENT_COS_REGION", "", func(c *Config) *string { return &c.Storage.TencentRegion }),
		str("TENCENT_COS_SECRET_ID", "", func(c *Config) *string { return &c.Storage.TencentSecretID }).secretVar(),
		str("TENCENT_COS_SECRET_KEY", "", func(c *Config) *string { return &c.Storage.TencentSecretKey }).secretVar(),
		str("VOLCENGINE_TOS_ENDPOINT", "", func(c *Config) *string { return &c.Storage.VolcengineEndpoint }),
		str("VOLCENGINE_TOS_REGION", "", func(c *Config) *string { return &c.Storage.VolcengineRegion }),
		str("VOLCENGINE_TOS_ACCESS_KEY", "", func(c *Config) *string { return &c.Storage.VolcengineAccessKey }).secretVar(),
		str("VOLCENGINE_TOS_SECRET_KEY", "", func(c *Config) *string { return &c.Storage.VolcengineSecretKey }).secretVar(),
		str("HUAWEI_OBS_SERVER", "", func(c *Config) *string { return &c.Storage.HuaweiServer }),
		boolean("HUAWEI_OBS_PATH_STYLE", false, func(c *Config) *bool { return &c.Storage.HuaweiPathStyle }),
		str("PLUGD_HUAWEI_OBS_REGION", "", func(c *Config) *string { return &c.Storage.HuaweiRegion }),
		str("HUAWEI_OBS_ACCESS_KEY", "", func(c *Config) *string { return &c.Storage.HuaweiAccessKey }).secretVar(),
		str("HUAWEI_OBS_SECRET_KEY", "", func(c *Config) *string { return &c.Storage.HuaweiSecretKey }).secretVar(),

		pathVar("PLUGIN_WORKING_PATH", underData("cwd"), func(c *Config) *string { return &c.WorkingPath }),
		size("MAX_PLUGIN_PACKAGE_SIZE", 50<<20, func(c *Config) *int64 { return &c.MaxPackageSize }),
		size("MAX_BUNDLE_PACKAGE_SIZE", 600<<20, func(c *Config) *int64 { return &c.MaxBundleSize }),
		duration("PLUGIN_MAX_EXECUTION_TIMEOUT", 600*time.Second, time.Second, time.Second, func(c *Config) *time.Duration { return &c.MaxExecutionTimeout }),
		duration("PLUGIN_INSTALL_TIMEOUT", 15*time.Minute, time.Minute, time.Second, func(c *Config) *time.Duration { return &c.InstallTimeout }),
		integer("PLUGIN_LOCAL_LAUNCHING_CONCURRENT", 2, 1, 1024, func(c *Config) *int { return &c.InstallConcurrency }),
		duration("PYTHON_ENV_INIT_TIMEOUT", 120*time.Second, time.Second, time.Second, func(c *Config) *time.Duration { return &c.PythonEnvInitTimeout }),

		boolean("FORCE_VERIFYING_SIGNATURE", true, func(c *Config) *bool { return &c.ForceVerifyingSignature }),
		boolean("THIRD_PARTY_SIGNATURE_VERIFICATION_ENABLED", false, func(c *Config) *bool { return &c.ThirdPartySignatureVerification }),
		list("THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS", func(c *Config) *[]string { return &c.ThirdPartyPublicKeys }),
		pathVar("PLUGD_TRUST_DIR", underData("trusted-keys"), func(c *Config) *string { return &c.TrustDir }),
		boolean("PLUGD_TRUST_OFFICIAL_KEY", true, func(c *Config) *bool { return &c.TrustOfficialKey }),
		boolean("ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES", true, func(c *Config) *bool { return &c.EnforceLanggeniusSignatures }),
		boolean("MARKETPLACE_ENABLED", true, func(c *Config) *bool { return &c.Marketplace.Enabled }),
		str("MARKETPLACE_API_URL", "https://marketplace.dify.ai", func(c *Config) *string { return &c.Marketplace.URL }).urlVar(),

		boolean("PLUGIN_ENDPOINT_ENABLED", true, func(c *Config) *bool { return &c.EndpointEnabled }),
		str("DIFY_INNER_API_URL", "", func(c *Config) *string { return &c.Dify.URL }).urlVar(),
		str("DIFY_INNER_API_KEY", "", func(c *Config) *string { return &c.Dify.Key }).secretVar(),
		duration("DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT", 240*time.Second, time.Millisecond, time.Millisecond, func(c *Config) *time.Duration { return &c.Dify.ReadTimeout }),
		duration("DIFY_BACKWARDS_INVOCATION_WRITE_TIMEOUT", 5*time.Second, time.Millisecond, time.Millisecond, func(c *Config) *time.Duration { return &c.Dify.WriteTimeout }),
		size("RESPONSE_MAX_BUFFER_SIZE", 30<<20, func(c *Config) *int64 { return &c.Dify.MaxFrame }),
		size("PERSISTENCE_STORAGE_MAX_SIZE", 100<<20, func(c *Config) *int64 { return &c.StorageLimit }),
		boolean("PLUGIN_REMOTE_INSTALLING_ENABLED", false, func(c *Config) *bool { return &c.Debug.Enabled }),
		str("PLUGIN_REMOTE_INSTALLING_HOST", "127.0.0.1", func(c *Config) *string { return &c.Debug.Host }).
			withFlag("debug-host", "address the remote-debugging server listens on"),
		integer("PLUGIN_REMOTE_INSTALLING_PORT", 5003, 1, 65535, func(c *Config) *int { return &c.Debug.Port }).
			withFlag("debug-port", "port of the remote-debugging server"),
		integer("PLUGIN_REMOTE_INSTALLING_MAX_CONN", 256, 1, 1<<16, func(c *Config) *int { return &c.Debug.MaxConns }),
		boolean("PROMETHEUS_ENABLED", true, func(c *Config) *bool { return &c.PrometheusEnabled }),
		duration("PLUGD_IDLE_STOP", 10*time.Minute, time.Second, 0, func(c *Config) *time.Duration { return &c.IdleStop }).
			withFlag("idle-stop", "stop a plugin process idle for this long, 0 never"),
		integer("PLUGD_MAX_INSTANCES", 0, 0, 1024, func(c *Config) *int { return &c.MaxInstances }).
			withFlag("max-instances", "processes per busy plugin, 0 for the runtime's default"),
		boolean("PLUGD_ZYGOTE", true, func(c *Config) *bool { return &c.Zygote }),
		integer("PLUGD_WARM_ON_START", 0, 0, 1<<16, func(c *Config) *int { return &c.WarmOnStart }),
		duration("PLUGD_ENV_MAX_UNUSED_AGE", 7*24*time.Hour, time.Hour, 0, func(c *Config) *time.Duration { return &c.EnvGC.MaxUnusedAge }),
		size("PLUGD_ENV_CACHE_MAX_SIZE", 20<<30, func(c *Config) *int64 { return &c.EnvGC.MaxSize }),
		duration("PLUGD_ENV_GC_INTERVAL", time.Hour, time.Second, 0, func(c *Config) *time.Duration { return &c.EnvGCInterval }),
		size("PLUGD_MAX_MESSAGE_SIZE", 64<<20, func(c *Config) *int64 { return &c.MaxMessage }),
		size("PLUGD_PLUGIN_BUFFER", 256<<20, func(c *Config) *int64 { return &c.PluginBuffer }),
		size("PLUGD_DAEMON_BUFFER", 1<<30, func(c *Config) *int64 { return &c.DaemonBuffer }),
		oneOf("PLUGD_ISOLATION", "required", map[string]string{"required": "required", "auto": "auto", "uid": "uid", "userns": "userns", "off": "off", "none": "off"},
			func(c *Config) *string { return &c.Isolation }).withFlag("isolation", "plugin confinement: required, auto, uid, userns or off"),
		integer("PLUGD_SANDBOX_UID_BASE", 200000, 1000, 1<<31-1<<17, func(c *Config) *int { return &c.SandboxUIDBase }),
		integer("PLUGD_SANDBOX_UID_COUNT", 65536, 1, 1<<20, func(c *Config) *int { return &c.SandboxUIDCount }),
		integer("PLUGD_PLUGIN_MAX_PROCESSES", 256, 16, 1<<22, func(c *Config) *int { return &c.PluginMaxProcesses }),
		integer("PLUGD_PLUGIN_MAX_OPEN_FILES", 4096, 64, 1<<20, func(c *Config) *int { return &c.PluginMaxOpenFiles }),
		integer("PLUGD_PLUGIN_MAX_CPU_SECONDS", 0, 0, 1<<30, func(c *Config) *int { return &c.PluginMaxCPUSeconds }),
		integer("PLUGD_PLUGIN_CPU_PERCENT", 0, 0, 100*1024, func(c *Config) *int { return &c.PluginCPUPercent }),
		duration("PLUGD_RESTART_BACKOFF", time.Second, time.Second, time.Millisecond, func(c *Config) *time.Duration { return &c.RestartBackoff }),
		duration("PLUGD_CRASH_LOOP_BACKOFF", time.Minute, time.Second, time.Millisecond, func(c *Config) *time.Duration { return &c.CrashLoopBackoff }),
		duration("PLUGD_CRASH_LOOP_BACKOFF_MAX", 30*time.Minute, time.Second, time.Millisecond, func(c *Config) *time.Duration { return &c.CrashLoopBackoffMax }),
		size("PLUGD_MCP_MEMORY_LIMIT", 1<<30, func(c *Config) *int64 { return &c.MCP.MemoryLimit }),
		boolean("PLUGD_MCP_STDIO", true, func(c *Config) *bool { return &c.MCP.Stdio }),
		duration("PLUGD_MCP_IDLE_STOP", 10*time.Minute, time.Second, time.Second, func(c *Config) *time.Duration { return &c.MCP.IdleStop }),
		boolean("PLUGD_CLUSTER", false, func(c *Config) *bool { return &c.Cluster.Enabled }).
			withFlag("cluster", "run as one node of a cluster (PostgreSQL, S3 and Redis shared by every node)"),
		str("REDIS_HOST", "localhost", func(c *Config) *string { return &c.Cluster.Redis.Host }),
		integer("REDIS_PORT", 6379, 1, 65535, func(c *Config) *int { return &c.Cluster.Redis.Port }),
		str("REDIS_USERNAME", "", func(c *Config) *string { return &c.Cluster.Redis.Username }),
		str("REDIS_PASSWORD", "", func(c *Config) *string { return &c.Cluster.Redis.Password }).secretVar(),
		integer("REDIS_DB", 0, 0, 1<<16, func(c *Config) *int { return &c.Cluster.Redis.DB }),
		boolean("REDIS_USE_SSL", false, func(c *Config) *bool { return &c.Cluster.Redis.TLS }),
		boolean("REDIS_USE_SENTINEL", false, func(c *Config) *bool { return &c.Cluster.Redis.Sentinel }),
		list("REDIS_SENTINELS", func(c *Config) *[]string { return &c.Cluster.Redis.Sentinels }),
		str("REDIS_SENTINEL_SERVICE_NAME", "", func(c *Config) *string { return &c.Cluster.Redis.SentinelService }),
		str("REDIS_SENTINEL_USERNAME", "", func(c *Config) *string { return &c.Cluster.Redis.SentinelUsername }),
		str("REDIS_SENTINEL_PASSWORD", "", func(c *Config) *string { return &c.Cluster.Redis.SentinelPassword }).secretVar(),
		seconds("REDIS_SENTINEL_SOCKET_TIMEOUT", func(c *Config) *time.Duration { return &c.Cluster.Redis.SentinelTimeout }),
		str("PLUGD_CLUSTER_PREFIX", "plugd:", func(c *Config) *string { return &c.Cluster.Prefix }),
		variable{name: "PLUGD_NODE_ID", def: defaultNodeID,
			set: func(c *Config, raw string) error {
				if strings.ContainsAny(raw, " \t\n") {
					return errors.New("want a name without spaces")
				}
				c.Cluster.NodeID = raw
				return nil
			},
			get: func(c *Config) string { return c.Cluster.NodeID }},
		variable{name: "PLUGD_NODE_ADDR", def: defaultNodeAddr,
			set: func(c *Config, raw string) error {
				u, err := url.Parse(raw)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want the node's API as other nodes reach it, e.g. http://10.0.0.5:5002")
				}
				c.Cluster.NodeAddr = strings.TrimSuffix(raw, "/")
				return nil
			},
			get: func(c *Config) string { return c.Cluster.NodeAddr }},
		duration("PLUGD_DRAIN_TIMEOUT", 30*time.Second, time.Second, 0, func(c *Config) *time.Duration { return &c.Cluster.DrainTimeout }),
		variable{name: "PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN", def: constDef("0"),
			set: func(c *Config, raw string) (err error) {
				c.Cluster.MaxNodesPerPlugin, err = ParsePluginCaps(raw)
				return err
			},
			get: func(c *Config) string { return c.Cluster.MaxNodesPerPlugin.String() }},
		str("PLUGD_TOOL_POSITION_FILE", "", func(c *Config) *string { return &c.Tools.PositionFile }),
		list("POSITION_PROVIDER_PINS", func(c *Config) *[]string { return &c.Tools.ProviderPins }),
		list("POSITION_PROVIDER_INCLUDES", func(c *Config) *[]string { return &c.Tools.ProviderIncludes }),
		list("POSITION_PROVIDER_EXCLUDES", func(c *Config) *[]string { return &c.Tools.ProviderExcludes }),
		list("POSITION_TOOL_PINS", func(c *Config) *[]string { return &c.Tools.ToolPins }),
		list("POSITION_TOOL_INCLUDES", func(c *Config) *[]string { return &c.Tools.ToolIncludes }),
		list("POSITION_TOOL_EXCLUDES", func(c *Config) *[]string { return &c.Tools.ToolExcludes }),
		str("PLUGD_MCP_PUBLIC_URL", "", func(c *Config) *string { return &c.Tools.MCPPublicURL }),
		list("PLUGD_MCP_AUTHORIZATION_SERVERS", func(c *Config) *[]string { return &c.Tools.MCPAuthorizationServers }),
		str("PLUGD_OAUTH_CALLBACK_URL", "", func(c *Config) *string { return &c.Tools.OAuthCallbackURL }),

		oneOf("PLUGD_CONSOLE", "loopback", map[string]string{"loopback": "loopback", "on": "on", "true": "on", "off": "off", "false": "off"},
			func(c *Config) *string { return &c.Console.Access }),
		pathVar("PLUGD_CONSOLE_USERS_FILE", underData("console-users"), func(c *Config) *string { return &c.Console.UsersFile }),
		boolean("PLUGD_CONSOLE_SECURE_COOKIES", false, func(c *Config) *bool { return &c.Console.SecureCookies }),
		str("PLUGD_CONSOLE_TENANT", "default", func(c *Config) *string { return &c.Console.Tenant }),

		oneOf("LOG_LEVEL", "INFO", map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR"},
			func(c *Config) *string { return &c.LogLevel }).withFlag("log-level", "DEBUG, INFO, WARN or ERROR"),
		oneOf("LOG_OUTPUT_FORMAT", "text", map[string]string{"text": "text", "json": "json"},
			func(c *Config) *string { return &c.LogFormat }).withFlag("log-format", "text or json"),

		// Read by pyenv.SettingsFromEnv.
		python("PYTHON_INTERPRETER_PATH", nil),
		python("UV_PATH", nil),
		python("PLUGD_PYTHON_INSTALLER", func(raw string) error {
			switch strings.ToLower(raw) {
			case "auto", "uv", "pip":
				return nil
			}
			return errors.New("want auto, uv or pip")
		}),
		python("PLUGD_INSTALL_UV", checkBool),
		python("PLUGIN_IGNORE_UV_LOCK", checkBool),
		python("PIP_MIRROR_URL", nil).urlVar(),
		python("PIP_EXTRA_INDEX_URL", nil).urlVar(),
		python("PIP_EXTRA_ARGS", nil),
		pythonPath("PLUGD_PYTHON_WHEELHOUSE"),
		python("PLUGD_PYTHON_ENV_TIMEOUT", func(raw string) error {
			d, err := parseDuration(raw, time.Second)
			if err == nil && d < 0 {
				err = errors.New("want a duration that is not negative")
			}
			return err
		}),
		python("HTTP_PROXY", nil).urlVar(),
		python("HTTPS_PROXY", nil).urlVar(),
		python("NO_PROXY", nil),
		pythonPath("SSL_CERT_FILE"),
	}
	return vars
}
