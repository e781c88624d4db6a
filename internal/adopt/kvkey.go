package adopt

import (
	"fmt"
	"strings"
)

// KVObject is one plugin key-value entry of the reference, named by its object key.
type KVObject struct {
	TenantID string
	PluginID string // author/name
	Key      string
}

// ParseKVObjectKey splits an object key of the reference's plugin storage,
// <prefix>/<tenant>/<author>/<name>/<key> (its PERSISTENCE_STORAGE_PATH, then the plugin id,
// which holds one slash, then the plugin's key, which may hold more). The reference stores the
// key cleaned as a path, so what comes back is the key a plugin reads it by.
func ParseKVObjectKey(prefix, object string) (KVObject, error) {
	rest, ok := strings.CutPrefix(object, strings.TrimSuffix(prefix, "/")+"/")
	if !ok {
		return KVObject{}, fmt.Errorf("object %q is not under %q", trunc(object), prefix)
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 4 {
		return KVObject{}, fmt.Errorf("object %q: want %s/<tenant>/<author>/<name>/<key>", trunc(object), prefix)
	}
	for i, what := range []string{"tenant", "plugin author", "plugin name", "key"} {
		if parts[i] == "" {
			return KVObject{}, fmt.Errorf("object %q: empty %s", trunc(object), what)
		}
	}
	return KVObject{TenantID: parts[0], PluginID: parts[1] + "/" + parts[2], Key: parts[3]}, nil
}
