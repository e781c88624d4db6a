package daemon

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// envMap is a lookup over a map, with HOME pointed at a temporary folder so no test
// reads the real home.
func envMap(t *testing.T, kv ...string) (func(string) string, string) {
	t.Helper()
	home := t.TempDir()
	m := map[string]string{"HOME": home}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }, home
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	lookup, home := envMap(t)
	c, err := Load(lookup, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(home, ".local", "share", "plugd")
	checks := []struct {
		name      string
		got, want any
	}{
		{"DataDir", c.DataDir, data},
		{"ConfigFile", c.ConfigFile, ""},
		{"Host", c.Host, "0.0.0.0"},
		{"Port", c.Port, 5002},
		{"ServerKey", c.ServerKey, ""},
		{"ServerKeyFile", c.ServerKeyFile, filepath.Join(data, "server.key")},
		{"DB.Type", c.DB.Type, "sqlite"},
		{"DB.SQLitePath", c.DB.SQLitePath, filepath.Join(data, "plugd.db")},
		{"DB.Port", c.DB.Port, 5432},
		{"DB.Database", c.DB.Database, "dify_plugin"},
		{"DB.DefaultDatabase", c.DB.DefaultDatabase, "postgres"},
		{"DB.SSLMode", c.DB.SSLMode, "disable"},
		{"DB.MaxOpenConns", c.DB.MaxOpenConns, 30},
		{"DB.MaxIdleConns", c.DB.MaxIdleConns, 10},
		{"DB.ConnMaxLifetime", c.DB.ConnMaxLifetime, time.Hour},
		{"Storage.Type", c.Storage.Type, "local"},
		{"Storage.LocalRoot", c.Storage.LocalRoot, filepath.Join(data, "storage")},
		{"Storage.S3UsePathStyle", c.Storage.S3UsePathStyle, true},
		{"Storage.S3UseAWS", c.Storage.S3UseAWS, true},
		{"Storage.S3UseAWSManagedIAM", c.Storage.S3UseAWSManagedIAM, false},
		{"WorkingPath", c.WorkingPath, filepath.Join(data, "cwd")},
		{"MaxPackageSize", c.MaxPackageSize, int64(52428800)},
		{"MaxExecutionTimeout", c.MaxExecutionTimeout, 600 * time.Second},
		{"InstallTimeout", c.InstallTimeout, 15 * time.Minute},
		{"InstallConcurrency", c.InstallConcurrency, 2},
		{"PythonEnvInitTimeout", c.PythonEnvInitTimeout, 120 * time.Second},
		{"ForceVerifyingSignature", c.ForceVerifyingSignature, true},
		{"ThirdPartySignatureVerification", c.ThirdPartySignatureVerification, false},
		{"ThirdPartyPublicKeys", len(c.ThirdPartyPublicKeys), 0},
		{"TrustDir", c.TrustDir, filepath.Join(data, "trusted-keys")},
		{"EndpointEnabled", c.EndpointEnabled, true},
		{"PrometheusEnabled", c.PrometheusEnabled, true},
		{"IdleStop", c.IdleStop, 10 * time.Minute},
		{"MaxInstances", c.MaxInstances, 0},
		{"LogLevel", c.LogLevel, "INFO"},
		{"LogFormat", c.LogFormat, "text"},
		{"Python.IndexURL", c.Python.IndexURL, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	for _, s := range c.Describe() {
		if s.Source != SourceDefault {
			t.Errorf("%s: source %q with an empty environment", s.Name, s.Source)
		}
	}
}

func TestLoadDataDirRoots(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name  string
		env   []string
		flags map[string]string
		want  string
	}{
		{"PLUGD_DATA_DIR", []string{"PLUGD_DATA_DIR", filepath.Join(tmp, "a")}, nil, filepath.Join(tmp, "a")},
		{"XDG_DATA_HOME", []string{"XDG_DATA_HOME", filepath.Join(tmp, "x")}, nil, filepath.Join(tmp, "x", "plugd")},
		{"relative XDG_DATA_HOME ignored", []string{"XDG_DATA_HOME", "rel", "HOME", tmp}, nil, filepath.Join(tmp, ".local", "share", "plugd")},
		{"flag beats env", []string{"PLUGD_DATA_DIR", filepath.Join(tmp, "a")}, map[string]string{"data-dir": filepath.Join(tmp, "f")}, filepath.Join(tmp, "f")},
		{"tilde", []string{"PLUGD_DATA_DIR", "~/d", "HOME", tmp}, nil, filepath.Join(tmp, "d")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, _ := envMap(t, tt.env...)
			c, err := Load(lookup, "", tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tt.want {
				t.Fatalf("DataDir %q, want %q", c.DataDir, tt.want)
			}
			if c.WorkingPath != filepath.Join(tt.want, "cwd") {
				t.Fatalf("WorkingPath %q does not follow DataDir", c.WorkingPath)
			}
			if got, err := DefaultDataDir(lookup); tt.flags == nil && (err != nil || got != tt.want) {
				t.Fatalf("DefaultDataDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "plugd.yaml", "# copied from .env\nSERVER_PORT: 5003\nSERVER_HOST: 127.0.0.2\n")
	tests := []struct {
		name       string
		env        []string
		flags      map[string]string
		wantPort   int
		wantSource string
	}{
		{"file over default", nil, nil, 5003, cfg + ":2"},
		{"env over file", []string{"SERVER_PORT", "5004"}, nil, 5004, SourceEnv},
		{"flag over env", []string{"SERVER_PORT", "5004"}, map[string]string{"port": "5005"}, 5005, "flag --port"},
		{"flag by variable name", nil, map[string]string{"SERVER_PORT": "5006"}, 5006, "flag --port"},
		{"empty flag is not given", []string{"SERVER_PORT", "5004"}, map[string]string{"port": ""}, 5004, SourceEnv},
		{"blank env is not given", []string{"SERVER_PORT", "  "}, nil, 5003, cfg + ":2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, _ := envMap(t, tt.env...)
			c, err := Load(lookup, cfg, tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			if c.Port != tt.wantPort {
				t.Fatalf("Port %d, want %d", c.Port, tt.wantPort)
			}
			if c.Host != "127.0.0.2" {
				t.Fatalf("Host %q from the file lost", c.Host)
			}
			src := map[string]string{}
			for _, s := range c.Describe() {
				src[s.Name] = s.Source
			}
			if src["SERVER_PORT"] != tt.wantSource {
				t.Fatalf("SERVER_PORT source %q, want %q", src["SERVER_PORT"], tt.wantSource)
			}
			if src["SERVER_HOST"] != cfg+":3" || src["PLUGD_CONFIG"] != "flag --config" {
				t.Fatalf("sources %v", src)
			}
		})
	}
}

func TestLoadConfigFileLocation(t *testing.T) {
	tmp := t.TempDir()
	xdgFile := writeFile(t, tmp, "xdg/plugd/config.yaml", "SERVER_PORT: 6001\n")
	homeFile := writeFile(t, tmp, "home/.config/plugd/config.yaml", "SERVER_PORT: 6002\n")
	envFile := writeFile(t, tmp, "env.yaml", "SERVER_PORT: 6003\n")
	tests := []struct {
		name     string
		env      []string
		arg      string
		wantFile string
		wantPort int
		wantErr  string
	}{
		{"XDG_CONFIG_HOME", []string{"XDG_CONFIG_HOME", filepath.Join(tmp, "xdg"), "HOME", filepath.Join(tmp, "home")}, "", xdgFile, 6001, ""},
		{"home", []string{"HOME", filepath.Join(tmp, "home")}, "", homeFile, 6002, ""},
		{"PLUGD_CONFIG", []string{"PLUGD_CONFIG", envFile, "HOME", filepath.Join(tmp, "home")}, "", envFile, 6003, ""},
		{"flag over PLUGD_CONFIG", []string{"PLUGD_CONFIG", envFile}, xdgFile, xdgFile, 6001, ""},
		{"missing default is fine", []string{"HOME", filepath.Join(tmp, "nohome")}, "", "", 5002, ""},
		{"missing explicit file", nil, filepath.Join(tmp, "nope.yaml"), "", 0, "nope.yaml"},
		{"missing PLUGD_CONFIG file", []string{"PLUGD_CONFIG", filepath.Join(tmp, "gone.yaml")}, "", "", 0, "gone.yaml"},
		{"folder as config", nil, tmp, "", 0, "is a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, _ := envMap(t, tt.env...)
			c, err := Load(lookup, tt.arg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ConfigFile != tt.wantFile || c.Port != tt.wantPort {
				t.Fatalf("ConfigFile %q port %d, want %q %d", c.ConfigFile, c.Port, tt.wantFile, tt.wantPort)
			}
		})
	}
}

func TestLoadConfigFileContents(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "conf/plugd.yaml", `
DB_TYPE: postgresql
DB_HOST: db.internal
DB_PORT: 6432
DB_PASSWORD: "s3cret"
DB_CONN_MAX_LIFETIME: 90s
PLUGIN_STORAGE_TYPE: aws-s3
PLUGIN_STORAGE_OSS_BUCKET: packages
S3_USE_PATH_STYLE: false
PLUGIN_STORAGE_LOCAL_ROOT: ./store
PLUGIN_WORKING_PATH: ~/work
THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS:
  - keys/a.pem
  - /etc/b.pem
PIP_MIRROR_URL: https://user:pw@mirror.example/simple
PLUGIN_IGNORE_UV_LOCK: true
PLUGD_PYTHON_WHEELHOUSE: wheels
PLUGD_IDLE_STOP: 0
LOG_LEVEL: debug
SERVER_KEY: ~
`)
	lookup, home := envMap(t)
	c, err := Load(lookup, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Dir(cfg)
	checks := []struct {
		name      string
		got, want any
	}{
		{"DB.Type", c.DB.Type, "postgresql"},
		{"DB.Host", c.DB.Host, "db.internal"},
		{"DB.Port", c.DB.Port, 6432},
		{"DB.Password", c.DB.Password, "s3cret"},
		{"DB.ConnMaxLifetime", c.DB.ConnMaxLifetime, 90 * time.Second},
		{"Storage.Type", c.Storage.Type, "s3"},
		{"Storage.Bucket", c.Storage.Bucket, "packages"},
		{"Storage.S3UsePathStyle", c.Storage.S3UsePathStyle, false},
		{"Storage.LocalRoot", c.Storage.LocalRoot, filepath.Join(confDir, "store")},
		{"WorkingPath", c.WorkingPath, filepath.Join(home, "work")},
		{"keys", strings.Join(c.ThirdPartyPublicKeys, ","), "keys/a.pem,/etc/b.pem"},
		{"Python.IndexURL", c.Python.IndexURL, "https://user:pw@mirror.example/simple"},
		{"Python.IgnoreUVLock", c.Python.IgnoreUVLock, true},
		{"Python.Wheelhouse", c.Python.Wheelhouse, filepath.Join(confDir, "wheels")},
		{"IdleStop", c.IdleStop, time.Duration(0)},
		{"LogLevel", c.LogLevel, "DEBUG"},
		{"ServerKey", c.ServerKey, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	shown := map[string]Setting{}
	for _, s := range c.Describe() {
		shown[s.Name] = s
	}
	if s := shown["DB_PASSWORD"]; s.Value != "********" || s.Source != cfg+":5" {
		t.Errorf("DB_PASSWORD shown as %+v", s)
	}
	if s := shown["PIP_MIRROR_URL"]; strings.Contains(s.Value, "pw") || !strings.Contains(s.Value, "mirror.example") {
		t.Errorf("PIP_MIRROR_URL shown as %q", s.Value)
	}
	if s := shown["SERVER_KEY"]; s.Value != "" || s.Source != SourceDefault {
		t.Errorf("a null SERVER_KEY shown as %+v", s)
	}
	if s := shown["PLUGD_IDLE_STOP"]; s.Value != "0" {
		t.Errorf("PLUGD_IDLE_STOP shown as %q", s.Value)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "SERVER_PORT: 5003\nSERVR_HOST: x\n", []string{":2:", `unknown key "SERVR_HOST"`, "did you mean SERVER_HOST"}},
		{"lower case key", "server_port: 1\n", []string{":1:", `"server_port"`, "did you mean SERVER_PORT"}},
		{"wrong type", "\n\nSERVER_PORT: abc\n", []string{"SERVER_PORT", `"abc"`, ":3", "whole number"}},
		{"bool", "FORCE_VERIFYING_SIGNATURE: yes\n", []string{"FORCE_VERIFYING_SIGNATURE", `"yes"`, ":1", "true or false"}},
		{"list for a scalar", "SERVER_HOST:\n  - a\n", []string{":2:", "SERVER_HOST", "got a list"}},
		{"mapping for a scalar", "DB_TYPE: {a: 1}\n", []string{":1:", "DB_TYPE", "got a mapping"}},
		{"list item not a value", "THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS:\n  - [a]\n", []string{":2:", "list items"}},
		{"list item with comma", "THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS: [\"a,b\"]\n", []string{":1:", "comma"}},
		{"duplicate", "SERVER_PORT: 1\nSERVER_PORT: 2\n", []string{":2:", "set twice", "line 1"}},
		{"config in config", "PLUGD_CONFIG: other.yaml\n", []string{":1:", "PLUGD_CONFIG cannot be set"}},
		{"not a mapping", "- SERVER_PORT\n", []string{":1:", "KEY: value"}},
		{"syntax", "SERVER_PORT: [1\n", []string{"plugd.yaml"}},
		{"key not a name", "? [a]\n: 1\n", []string{":1:", "keys must be variable names"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "plugd.yaml", tt.content)
			lookup, _ := envMap(t)
			_, err := Load(lookup, cfg, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadEmptyFiles(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "~\n", "SERVER_PORT:\nSERVER_HOST: \"\"\n"} {
		cfg := writeFile(t, t.TempDir(), "plugd.yaml", content)
		lookup, _ := envMap(t)
		c, err := Load(lookup, cfg, nil)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if c.Port != 5002 || c.Host != "0.0.0.0" || c.ConfigFile != cfg {
			t.Fatalf("%q: port %d host %q file %q", content, c.Port, c.Host, c.ConfigFile)
		}
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		env  []string
		want []string
	}{
		{[]string{"SERVER_PORT", "0"}, []string{"SERVER_PORT", `"0"`, "1 to 65535"}},
		{[]string{"SERVER_PORT", "65536"}, []string{"SERVER_PORT", `"65536"`}},
		{[]string{"SERVER_PORT", "http"}, []string{"SERVER_PORT", `"http"`, "from env"}},
		{[]string{"DB_PORT", "-5"}, []string{"DB_PORT", `"-5"`}},
		{[]string{"DB_TYPE", "mysql"}, []string{"DB_TYPE", `"mysql"`, "pgbouncer, postgresql, sqlite"}},
		{[]string{"PLUGIN_STORAGE_TYPE", "baidu_bos"}, []string{"PLUGIN_STORAGE_TYPE", `"baidu_bos"`, "aliyun_oss, azure_blob, gcs, huawei_obs, local, s3, tencent_cos, volcengine_tos"}},
		{[]string{"MAX_PLUGIN_PACKAGE_SIZE", "-1"}, []string{"MAX_PLUGIN_PACKAGE_SIZE", `"-1"`, "positive"}},
		{[]string{"MAX_PLUGIN_PACKAGE_SIZE", "50MB"}, []string{"MAX_PLUGIN_PACKAGE_SIZE", `"50MB"`}},
		{[]string{"FORCE_VERIFYING_SIGNATURE", "maybe"}, []string{"FORCE_VERIFYING_SIGNATURE", `"maybe"`}},
		{[]string{"PLUGIN_MAX_EXECUTION_TIMEOUT", "0"}, []string{"PLUGIN_MAX_EXECUTION_TIMEOUT", "at least 1s"}},
		{[]string{"PLUGIN_INSTALL_TIMEOUT", "soon"}, []string{"PLUGIN_INSTALL_TIMEOUT", "minutes"}},
		{[]string{"PLUGD_IDLE_STOP", "-1m"}, []string{"PLUGD_IDLE_STOP", `"-1m"`, "not negative"}},
		{[]string{"PLUGD_IDLE_STOP", "99999999999999999"}, []string{"PLUGD_IDLE_STOP", "too large"}},
		{[]string{"PLUGD_MAX_INSTANCES", "-1"}, []string{"PLUGD_MAX_INSTANCES", `"-1"`}},
		{[]string{"PLUGIN_LOCAL_LAUNCHING_CONCURRENT", "0"}, []string{"PLUGIN_LOCAL_LAUNCHING_CONCURRENT"}},
		{[]string{"LOG_LEVEL", "trace"}, []string{"LOG_LEVEL", `"trace"`}},
		{[]string{"LOG_OUTPUT_FORMAT", "xml"}, []string{"LOG_OUTPUT_FORMAT", `"xml"`}},
		{[]string{"DB_SSL_MODE", "on"}, []string{"DB_SSL_MODE", `"on"`}},
		{[]string{"PLUGD_PYTHON_INSTALLER", "conda"}, []string{"PLUGD_PYTHON_INSTALLER", `"conda"`}},
		{[]string{"PLUGIN_IGNORE_UV_LOCK", "sure"}, []string{"PLUGIN_IGNORE_UV_LOCK", `"sure"`}},
		{[]string{"PLUGD_PYTHON_ENV_TIMEOUT", "-3"}, []string{"PLUGD_PYTHON_ENV_TIMEOUT", `"-3"`}},
		{[]string{"PLUGIN_STORAGE_TYPE", "s3"}, []string{"PLUGIN_STORAGE_OSS_BUCKET", "bucket"}},
	}
	for _, tt := range tests {
		t.Run(tt.env[0]+"="+tt.env[1], func(t *testing.T) {
			lookup, _ := envMap(t, tt.env...)
			_, err := Load(lookup, "", nil)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *ConfigError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadUnknownFlag(t *testing.T) {
	lookup, _ := envMap(t)
	if _, err := Load(lookup, "", map[string]string{"prot": "1"}); err == nil || !strings.Contains(err.Error(), `"prot"`) {
		t.Fatalf("error %v", err)
	}
}

func TestLoadStorageAliases(t *testing.T) {
	for _, typ := range []string{"s3", "aws_s3", "aws-s3", "S3"} {
		lookup, _ := envMap(t, "PLUGIN_STORAGE_TYPE", typ, "PLUGIN_STORAGE_OSS_BUCKET", "b")
		c, err := Load(lookup, "", nil)
		if err != nil || c.Storage.Type != "s3" {
			t.Fatalf("%s: %q, %v", typ, c.Storage.Type, err)
		}
	}
}

// TestLoadStorageTypes: every PLUGIN_STORAGE_TYPE spelling of the reference's storage
// factory, with its backend's settings under the reference's names, loads; each setting a
// backend needs, when missing, is named in the error.
func TestLoadStorageTypes(t *testing.T) {
	full := map[string][]string{
		"local":          {},
		"azure_blob":     {"AZURE_BLOB_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net", "AZURE_BLOB_STORAGE_CONTAINER_NAME", "plugins"},
		"gcs":            {"PLUGIN_STORAGE_OSS_BUCKET", "plugins", "GCS_CREDENTIALS", base64.StdEncoding.EncodeToString([]byte(`{"type":"service_account"}`))},
		"aliyun_oss":     {"PLUGIN_STORAGE_OSS_BUCKET", "plugins", "ALIYUN_OSS_ENDPOINT", "oss-cn-hangzhou.aliyuncs.com", "ALIYUN_OSS_ACCESS_KEY_ID", "id", "ALIYUN_OSS_ACCESS_KEY_SECRET", "secret"},
		"tencent_cos":    {"PLUGIN_STORAGE_OSS_BUCKET", "plugins-125", "TENCENT_COS_REGION", "ap-guangzhou", "TENCENT_COS_SECRET_ID", "id", "TENCENT_COS_SECRET_KEY", "secret"},
		"volcengine_tos": {"PLUGIN_STORAGE_OSS_BUCKET", "plugins", "VOLCENGINE_TOS_ENDPOINT", "tos-cn-beijing.volces.com", "VOLCENGINE_TOS_REGION", "cn-beijing", "VOLCENGINE_TOS_ACCESS_KEY", "ak", "VOLCENGINE_TOS_SECRET_KEY", "sk"},
		"huawei_obs":     {"PLUGIN_STORAGE_OSS_BUCKET", "plugins", "HUAWEI_OBS_SERVER", "https://obs.cn-north-4.myhuaweicloud.com", "HUAWEI_OBS_ACCESS_KEY", "ak", "HUAWEI_OBS_SECRET_KEY", "sk"},
	}
	spellings := map[string][]string{
		"local":          {"local_file"},
		"azure_blob":     {"azure", "azure-blob", "AZURE_BLOB"},
		"gcs":            {"google_storage", "google-storage"},
		"aliyun_oss":     {"aliyun", "aliyun-oss"},
		"tencent_cos":    {"tencent", "tencent-cos"},
		"volcengine_tos": {"volcengine", "volcengine-tos"},
		"huawei_obs":     {"huawei", "huawei-obs"},
	}
	for typ, settings := range full {
		for _, spelling := range append([]string{typ}, spellings[typ]...) {
			lookup, _ := envMap(t, append([]string{"PLUGIN_STORAGE_TYPE", spelling}, settings...)...)
			c, err := Load(lookup, "", nil)
			if err != nil || c.Storage.Type != typ {
				t.Fatalf("%s: type %q, %v", spelling, c.Storage.Type, err)
			}
		}
		// Leave out each required setting in turn.
		for i := 0; i < len(settings); i += 2 {
			name := settings[i]
			if name == "GCS_CREDENTIALS" || name == "VOLCENGINE_TOS_REGION" {
				continue // optional: Application Default Credentials; read from the endpoint
			}
			rest := append(append([]string{"PLUGIN_STORAGE_TYPE", typ}, settings[:i]...), settings[i+2:]...)
			lookup, _ := envMap(t, rest...)
			_, err := Load(lookup, "", nil)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s without %s: %v; want a ConfigError naming %s", typ, name, err, name)
			}
		}
	}
	bad := []struct {
		env  []string
		want string
	}{
		{[]string{"PLUGIN_STORAGE_TYPE", "gcs", "PLUGIN_STORAGE_OSS_BUCKET", "b", "GCS_CREDENTIALS", "not base64!"}, "GCS_CREDENTIALS"},
		{[]string{"PLUGIN_STORAGE_TYPE", "gcs", "PLUGIN_STORAGE_OSS_BUCKET", "b", "GCS_CREDENTIALS", base64.StdEncoding.EncodeToString([]byte("nope"))}, "not JSON"},
		{[]string{"PLUGIN_STORAGE_TYPE", "azure_blob", "AZURE_BLOB_STORAGE_CONTAINER_NAME", "c", "AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY", "true", "AZURE_BLOB_STORAGE_ACCOUNT_URL", "https://a.blob.core.windows.net"}, "AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY"},
		{append(append([]string{"PLUGIN_STORAGE_TYPE", "aliyun_oss"}, full["aliyun_oss"]...), "ALIYUN_OSS_CLOUDBOX_ID", "cb-1"), "ALIYUN_OSS_CLOUDBOX_ID"},
		{append(append([]string{"PLUGIN_STORAGE_TYPE", "aliyun_oss"}, full["aliyun_oss"]...), "ALIYUN_OSS_AUTH_VERSION", "v2"), "ALIYUN_OSS_AUTH_VERSION"},
		{[]string{"PLUGIN_STORAGE_TYPE", "huawei_obs", "PLUGIN_STORAGE_OSS_BUCKET", "b", "HUAWEI_OBS_SERVER", "https://obs.example.com", "HUAWEI_OBS_ACCESS_KEY", "a", "HUAWEI_OBS_SECRET_KEY", "s"}, "PLUGD_HUAWEI_OBS_REGION"},
		{[]string{"PLUGIN_STORAGE_TYPE", "volcengine_tos", "PLUGIN_STORAGE_OSS_BUCKET", "b", "VOLCENGINE_TOS_ENDPOINT", "ftp://x", "VOLCENGINE_TOS_ACCESS_KEY", "a", "VOLCENGINE_TOS_SECRET_KEY", "s"}, "VOLCENGINE_TOS_ENDPOINT"},
	}
	for _, tt := range bad {
		lookup, _ := envMap(t, tt.env...)
		_, err := Load(lookup, "", nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v; want a ConfigError saying %q", tt.env, err, tt.want)
		}
	}
}

// TestDescribeMasksStorageSecrets: --print-config shows no storage secret of any backend.
func TestDescribeMasksStorageSecrets(t *testing.T) {
	secrets := []string{"AWS_SECRET_KEY", "AWS_ACCESS_KEY", "AZURE_BLOB_STORAGE_CONNECTION_STRING", "GCS_CREDENTIALS",
		"ALIYUN_OSS_ACCESS_KEY_ID", "ALIYUN_OSS_ACCESS_KEY_SECRET", "TENCENT_COS_SECRET_ID", "TENCENT_COS_SECRET_KEY",
		"VOLCENGINE_TOS_ACCESS_KEY", "VOLCENGINE_TOS_SECRET_KEY", "HUAWEI_OBS_ACCESS_KEY", "HUAWEI_OBS_SECRET_KEY"}
	var env []string
	for i, name := range secrets {
		value := fmt.Sprintf("topsecret%02d", i)
		if name == "GCS_CREDENTIALS" {
			value = base64.StdEncoding.EncodeToString([]byte(`{"type":"service_account","k":"topsecret"}`))
		}
		env = append(env, name, value)
	}
	lookup, _ := envMap(t, env...)
	c, err := Load(lookup, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, s := range c.Describe() {
		shown[s.Name] = s.Value
		if strings.Contains(s.Value, "topsecret") || strings.Contains(s.Value, "eyJ0eXBl") {
			t.Errorf("%s shown as %q", s.Name, s.Value)
		}
	}
	for _, name := range secrets {
		if shown[name] != "********" {
			t.Errorf("%s shown as %q, want it masked", name, shown[name])
		}
	}
}

func TestLoadEnvironmentFormats(t *testing.T) {
	lookup, _ := envMap(t,
		"PLUGIN_MAX_EXECUTION_TIMEOUT", "30",
		"PLUGIN_INSTALL_TIMEOUT", "2",
		"PYTHON_ENV_INIT_TIMEOUT", "2m",
		"PLUGD_IDLE_STOP", "45s",
		"THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS", " a.pem, ,b.pem ",
		"HTTPS_PROXY", "http://u:p@proxy:3128",
		"SERVER_KEY", "abc",
	)
	c, err := Load(lookup, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxExecutionTimeout != 30*time.Second || c.InstallTimeout != 2*time.Minute || c.PythonEnvInitTimeout != 2*time.Minute || c.IdleStop != 45*time.Second {
		t.Fatalf("durations %v %v %v %v", c.MaxExecutionTimeout, c.InstallTimeout, c.PythonEnvInitTimeout, c.IdleStop)
	}
	if !slices.Equal(c.ThirdPartyPublicKeys, []string{"a.pem", "b.pem"}) {
		t.Fatalf("keys %q", c.ThirdPartyPublicKeys)
	}
	if c.Python.HTTPSProxy != "http://u:p@proxy:3128" {
		t.Fatalf("proxy %q", c.Python.HTTPSProxy)
	}
	shown := map[string]string{}
	for _, s := range c.Describe() {
		shown[s.Name] = s.Value
	}
	want := map[string]string{
		"PLUGIN_MAX_EXECUTION_TIMEOUT": "30",
		"PLUGIN_INSTALL_TIMEOUT":       "2",
		"PYTHON_ENV_INIT_TIMEOUT":      "120",
		"PLUGD_IDLE_STOP":              "45",
		"HTTPS_PROXY":                  "http://u:xxxxx@proxy:3128",
		"SERVER_KEY":                   "********",
	}
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("%s shown as %q, want %q", k, shown[k], v)
		}
	}
}

// Every value Describe shows, fed back as the environment, loads the same configuration:
// what --print-config prints can be pasted into a .env.
func TestDescribeRoundTrips(t *testing.T) {
	lookup, _ := envMap(t, "PLUGD_IDLE_STOP", "90s", "DB_CONN_MAX_LIFETIME", "1500ms", "THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS", "a,b")
	c, err := Load(lookup, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, s := range c.Describe() {
		m[s.Name] = s.Value
	}
	c2, err := Load(func(k string) string { return m[k] }, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := c.Describe(), c2.Describe()
	for i := range d1 {
		if d1[i].Value != d2[i].Value {
			t.Errorf("%s: %q then %q", d1[i].Name, d1[i].Value, d2[i].Value)
		}
	}
}

func TestVariablesTable(t *testing.T) {
	names := Variables()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
		if n != strings.ToUpper(n) {
			t.Errorf("%s is not upper case", n)
		}
	}
	for _, must := range []string{"SERVER_HOST", "SERVER_PORT", "SERVER_KEY", "DB_TYPE", "DB_SQLITE_PATH", "PLUGIN_STORAGE_TYPE", "S3_USE_AWS_MANAGED_IAM",
		"PLUGIN_WORKING_PATH", "PLUGD_TRUST_DIR", "PLUGD_IDLE_STOP", "PLUGD_MAX_INSTANCES", "LOG_OUTPUT_FORMAT", "PIP_MIRROR_URL"} {
		if !seen[must] {
			t.Errorf("%s missing from the table", must)
		}
	}
	flags := map[string]string{}
	for _, f := range Flags() {
		if !seen[f.Variable] || f.Usage == "" {
			t.Errorf("flag %+v", f)
		}
		flags[f.Name] = f.Variable
	}
	if flags["port"] != "SERVER_PORT" || flags["data-dir"] != "PLUGD_DATA_DIR" || flags["config"] != "" {
		t.Errorf("flags %v", flags)
	}
	lookup, _ := envMap(t)
	c, err := Load(lookup, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Describe(); len(d) != len(names) {
		t.Fatalf("Describe shows %d settings, the table has %d", len(d), len(names))
	}
}

func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"SERVER_PORT: 5003\nDB_TYPE: postgresql\n",
		"THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS: [a, b]\n",
		"a: &x 1\nSERVER_HOST: *x\n",
		"SERVER_HOST: &x 1\nSERVER_PORT: *x\n",
		"? [a]\n: 1\n",
		"- 1\n",
		"~",
		"SERVER_PORT: 1\nSERVER_PORT: 2\n",
		"PLUGD_IDLE_STOP: 9999999999999999999\n",
		"LOG_LEVEL: !!binary aGVsbG8=\n",
		"<<: {SERVER_PORT: 1}\n",
	} {
		f.Add([]byte(seed))
	}
	vars := variables()
	known := map[string]*variable{}
	for i := range vars {
		known[vars[i].name] = &vars[i]
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		values, err := parseConfigFile(data, "fuzz.yaml", known)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		c := Config{sources: map[string]string{}, python: map[string]string{}}
		for k, v := range values {
			vr := known[k]
			if vr == nil || vr.noFile {
				t.Fatalf("parser accepted key %q", k)
			}
			if v.value == "" || v.line < 1 {
				t.Fatalf("%s: value %q line %d", k, v.value, v.line)
			}
			if err := vr.set(&c, v.value); err != nil && err.Error() == "" {
				t.Fatal("empty error")
			}
			_ = vr.get(&c)
		}
	})
}
