package runtime

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// systemPath is the part of PATH after the plugin's own bin folder. It is fixed rather than
// copied from the daemon so that nothing of the daemon's environment leaks into the plugin.
const systemPath = "/usr/local/bin:/usr/bin:/bin"

// pluginEnv builds the plugin's whole environment. The runtime never reads its own: the
// reference daemon handed plugins everything it had (database passwords, its server key, the
// inner-API key; user-pains.md 1.14), and an allow-list is the only way to be sure nothing
// slips through. What a plugin gets:
//
//   - PATH: the interpreter's folder (the venv's bin, so console scripts of its dependencies
//     resolve), then the system folders;
//   - HOME and TMPDIR: folders of its own under LocalConfig.DataDir, so libraries that cache
//     in ~ or write temporary files neither collide with other plugins nor fill the daemon's;
//   - LANG=C.UTF-8, so Python reads and writes UTF-8 whatever the host locale;
//   - PYTHONDONTWRITEBYTECODE=1, so running a plugin never writes __pycache__/*.pyc into
//     its folder: an author's folder run by `plugin run/invoke` would change its checksum
//     and ship the .pyc in the next package. Python still reads the bytecode the environment
//     build compiled (the stdlib, site-packages); only the plugin's own modules are compiled
//     in memory at each start. PYTHONPYCACHEPREFIX would keep those too, but Python then
//     ignores every __pycache__ folder, so the first start under a new prefix recompiles the
//     stdlib and the SDK: 5.6 s instead of 0.9 s to import dify_plugin 0.7 (measured on the
//     2-core test machine), once per prefix;
//   - HEARTBEAT_INTERVAL, a quarter of the heartbeat timeout (at most the SDK's 10 s), so a
//     short timeout never kills a healthy plugin between two beats;
//   - LocalConfig.Env, as given: proxies, a CA bundle, SDK settings such as
//     MAX_REQUEST_TIMEOUT or MAX_INVOCATION_TIMEOUT;
//   - INSTALL_METHOD=local, always and last. The SDK's settings prefer environment variables
//     to the plugin's .env file, and plugin packages often ship a .env saying
//     INSTALL_METHOD=remote from their author's debugging; without this the plugin would try
//     to dial a debug server instead of speaking on stdio.
func pluginEnv(cfg *LocalConfig, home, tmp string) ([]string, error) {
	interval := min(cfg.HeartbeatTimeout/4, 10*time.Second)
	env := []string{
		"PATH=" + filepath.Dir(cfg.Python) + ":" + systemPath,
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"HEARTBEAT_INTERVAL=" + strconv.FormatFloat(interval.Seconds(), 'f', -1, 64),
	}
	for _, kv := range cfg.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("runtime: environment entry %q is not KEY=VALUE", kv)
		}
		if strings.EqualFold(k, "INSTALL_METHOD") {
			continue // see above; the SDK matches names case-insensitively
		}
		env = setEnv(env, kv)
	}
	return append(env, "INSTALL_METHOD=local"), nil
}

// setEnv replaces the entry with kv's key, or appends kv.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
