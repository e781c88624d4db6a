package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestClusterSettings(t *testing.T) {
	shared := []string{"DB_TYPE", "postgresql", "PLUGIN_STORAGE_TYPE", "s3", "PLUGIN_STORAGE_OSS_BUCKET", "b", "SERVER_KEY", "k3y-for-the-cluster",
		"SERVER_HOST", "10.0.0.5", "SERVER_PORT", "5002"}
	lookup, _ := envMap(t, append(shared, "REDIS_HOST", "redis.internal", "REDIS_PORT", "6380", "REDIS_PASSWORD", "pw", "REDIS_DB", "2",
		"REDIS_USE_SENTINEL", "true", "REDIS_SENTINELS", "s1:26379, s2:26379", "REDIS_SENTINEL_SERVICE_NAME", "mymaster",
		"REDIS_SENTINEL_SOCKET_TIMEOUT", "0.25")...)
	c, err := Load(lookup, "", map[string]string{"cluster": "true"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Cluster.Redis
	if !c.Cluster.Enabled || r.Host != "redis.internal" || r.Port != 6380 || r.Password != "pw" || r.DB != 2 || !r.Sentinel ||
		strings.Join(r.Sentinels, ",") != "s1:26379,s2:26379" || r.SentinelService != "mymaster" || r.SentinelTimeout != 250*time.Millisecond {
		t.Fatalf("cluster settings: %+v", c.Cluster)
	}
	if c.Cluster.NodeAddr != "http://10.0.0.5:5002" || !strings.HasSuffix(c.Cluster.NodeID, "-5002") || c.Cluster.Prefix != "plugd:" || c.Cluster.DrainTimeout != 30*time.Second {
		t.Fatalf("cluster defaults: %+v", c.Cluster)
	}
	for _, s := range c.Describe() {
		if (s.Name == "REDIS_PASSWORD" || s.Name == "REDIS_SENTINEL_PASSWORD") && s.Value != "" && s.Value != "********" {
			t.Errorf("%s shown as %q", s.Name, s.Value)
		}
	}

	// A cluster whose state would not be shared is refused, naming what to set.
	for _, tt := range []struct {
		drop, want string
	}{
		{"DB_TYPE", "DB_TYPE=postgresql"},
		{"PLUGIN_STORAGE_TYPE", "PLUGIN_STORAGE_TYPE=s3"},
		{"SERVER_KEY", "set SERVER_KEY"},
	} {
		var kv []string
		for i := 0; i < len(shared); i += 2 {
			if shared[i] != tt.drop {
				kv = append(kv, shared[i], shared[i+1])
			}
		}
		lookup, _ := envMap(t, append(kv, "PLUGD_CLUSTER", "true")...)
		if _, err := Load(lookup, "", nil); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "PLUGD_CLUSTER") {
			t.Errorf("without %s: %v, want an error naming %s", tt.drop, err, tt.want)
		}
	}
	for _, bad := range [][]string{{"PLUGD_NODE_ADDR", "10.0.0.5:5002"}, {"PLUGD_NODE_ID", "two words"}, {"REDIS_SENTINEL_SOCKET_TIMEOUT", "soon"}} {
		lookup, _ := envMap(t, append(shared, bad...)...)
		if _, err := Load(lookup, "", nil); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%q: %v, want an error naming it", bad[0], bad[1], err)
		}
	}
}
