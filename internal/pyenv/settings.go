package pyenv

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Installer selects the tool that installs dependencies.
type Installer string

const (
	// InstallerAuto uses uv when it is found (or installed, see Settings.InstallUV), else pip.
	InstallerAuto Installer = ""
	// InstallerUV requires uv; Ensure fails with ErrNoUV without it.
	InstallerUV Installer = "uv"
	// InstallerPip uses `python -m venv` and pip even when uv is available.
	InstallerPip Installer = "pip"
)

// DefaultTimeout bounds one environment build when Settings.Timeout is zero. It is a total
// deadline, not an inactivity timer: uv prints nothing while it downloads a large wheel, and
// killing a quiet but healthy install was the reference's most reported failure.
const DefaultTimeout = 10 * time.Minute

// Settings configure how environments are built. The environment variable named in each
// comment is the reference daemon's name for the same setting, read by SettingsFromEnv.
type Settings struct {
	// Python is the interpreter environments are created from (PYTHON_INTERPRETER_PATH).
	// Empty: the first of python3.12, python3.11 and python3 on PATH that runs and is 3.11
	// or newer. 3.12 comes first because dify_plugin 0.8 and later need it; 3.11 is the
	// oldest any 0.x SDK supports. Newer interpreters are not tried by default because
	// the SDK's native dependencies (gevent, tiktoken) lag behind them.
	Python string
	// UV is the uv binary (UV_PATH). Empty: uv on PATH, then one installed earlier into
	// <dataDir>/tools, then the uv package of the interpreter (`python -m uv`).
	UV string
	// Installer forces uv or pip (PLUGD_PYTHON_INSTALLER: auto, uv or pip).
	Installer Installer
	// InstallUV allows `pip install uv` into <dataDir>/tools when uv is not found
	// (PLUGD_INSTALL_UV).
	InstallUV bool
	// IgnoreUVLock installs pyproject.toml's dependencies afresh instead of the versions
	// pinned by uv.lock (PLUGIN_IGNORE_UV_LOCK).
	IgnoreUVLock bool

	// IndexURL replaces PyPI (PIP_MIRROR_URL). Credentials in it are passed to the
	// installer but never to the environment key, logs or errors.
	IndexURL string
	// ExtraIndexURL is searched besides the index (PIP_EXTRA_INDEX_URL).
	ExtraIndexURL string
	// Wheelhouse is a folder of wheels to install from with no network at all
	// (PLUGD_PYTHON_WHEELHOUSE): the index settings are ignored while it is set.
	Wheelhouse string

	// HTTPProxy, HTTPSProxy and NoProxy are given to the installer only, never to plugins
	// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
	HTTPProxy, HTTPSProxy, NoProxy string
	// CABundle is a PEM file of trusted roots for the index (SSL_CERT_FILE). Empty: the
	// system's bundle, found where Go's crypto/x509 looks, so that pip and uv trust what the
	// machine trusts (the root of a TLS-inspecting corporate proxy, say) instead of their
	// own built-in roots.
	CABundle string

	// Timeout bounds one build, 0 meaning DefaultTimeout (PLUGD_PYTHON_ENV_TIMEOUT, a Go
	// duration or seconds). The reference's PYTHON_ENV_INIT_TIMEOUT is an inactivity
	// timer, so it is deliberately not read.
	Timeout time.Duration
	// ExtraArgs are appended to the install command (PIP_EXTRA_ARGS, split on spaces).
	ExtraArgs []string

	// CacheDir holds the installers' download caches, shared by every build
	// (default <dataDir>/cache).
	CacheDir string
}

// SettingsFromEnv reads Settings from environment variables through lookup (os.Getenv in
// main, a map in tests), using the reference daemon's names where the meaning matches.
func SettingsFromEnv(lookup func(string) string) Settings {
	get := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(lookup(n)); v != "" {
				return v
			}
		}
		return ""
	}
	flag := func(name string) bool { b, _ := strconv.ParseBool(get(name)); return b }
	s := Settings{
		Python:        get("PYTHON_INTERPRETER_PATH"),
		UV:            get("UV_PATH"),
		Installer:     parseInstaller(get("PLUGD_PYTHON_INSTALLER")),
		InstallUV:     flag("PLUGD_INSTALL_UV"),
		IgnoreUVLock:  flag("PLUGIN_IGNORE_UV_LOCK"),
		IndexURL:      get("PIP_MIRROR_URL"),
		ExtraIndexURL: get("PIP_EXTRA_INDEX_URL"),
		Wheelhouse:    get("PLUGD_PYTHON_WHEELHOUSE"),
		HTTPProxy:     get("HTTP_PROXY", "http_proxy"),
		HTTPSProxy:    get("HTTPS_PROXY", "https_proxy"),
		NoProxy:       get("NO_PROXY", "no_proxy"),
		CABundle:      get("SSL_CERT_FILE"),
		ExtraArgs:     strings.Fields(get("PIP_EXTRA_ARGS")),
	}
	if t := get("PLUGD_PYTHON_ENV_TIMEOUT"); t != "" {
		if d, err := time.ParseDuration(t); err == nil {
			s.Timeout = d
		} else if n, err := strconv.Atoi(t); err == nil {
			s.Timeout = time.Duration(n) * time.Second
		}
	}
	return s
}

// parseInstaller reads auto, uv or pip; anything else means auto.
func parseInstaller(s string) Installer {
	switch i := Installer(strings.ToLower(s)); i {
	case InstallerUV, InstallerPip:
		return i
	}
	return InstallerAuto
}

// systemCABundles are the usual places of the system's PEM bundle: Debian and Ubuntu,
// Fedora and RHEL, openSUSE, OpenELEC, CentOS, Alpine and macOS.
var systemCABundles = [...]string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

func systemCABundle() string {
	for _, p := range systemCABundles {
		if fileExists(p) {
			return p
		}
	}
	return ""
}

// redactURL hides the user information of an index URL (a token is often the user name
// alone), for keys, logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("redacted")
	return u.String()
}
