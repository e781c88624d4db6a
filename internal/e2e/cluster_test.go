package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestCluster is issue 15's proof: three `plugd serve --cluster` processes on one real
// PostgreSQL (a fresh database), one Redis and one S3-compatible store. A plugin installed
// through node 1 answers through nodes 2 and 3; a plugin attached for remote debugging to
// node 2 answers through node 3 (forwarded); node 1 is killed with SIGKILL while it runs an
// install and while 10,000 calls are spread over the three nodes. The install must be
// finished by another node, no installation lost, and every call answered or failed with a
// clear error (both counted). PLUGD_CLUSTER_BENCH=1 also measures calls/s at concurrency 64
// through one node and through three (docs/benchmarks.md).
func TestCluster(t *testing.T) {
	env, key := clusterEnv(t)
	pythons := sdkInterpreters(t)
	pythonTools(t)
	pk := packages(t)
	slow := slowPackage(t)
	env["PLUGIN_REMOTE_INSTALLING_ENABLED"], env["PLUGIN_REMOTE_INSTALLING_HOST"] = "true", "127.0.0.1"
	nodes := make([]*daemon, 3)
	debugPorts := make([]int, 3)
	for i := range nodes {
		e := maps(env)
		debugPorts[i] = freePort(t)
		e["PLUGIN_REMOTE_INSTALLING_PORT"] = strconv.Itoa(debugPorts[i])
		e["PLUGD_NODE_ID"] = fmt.Sprintf("n%d", i+1)
		nodes[i] = startDaemon(t, daemonOptions{Env: e})
		nodes[i].key = key
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	waitNodes(t, n3, []string{"n1", "n2", "n3"})

	// Installed through node 1, called through nodes 2 and 3.
	tenantA := newTenant()
	uid := installAndWait(ctx, t, n1.client(tenantA), pk.V1)
	for _, d := range []*daemon{n2, n3} {
		msgs, err := d.client(tenantA).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "via " + d.base, "mode": "text"})
		if err != nil || texts(msgs) != "via "+d.base {
			t.Fatalf("call through %s of the plugin installed through node 1: %v %+v", d.base, err, msgs)
		}
	}

	// A remote-debugging plugin attached to node 2 answers through node 3.
	tenantB := newTenant()
	python := pythons["sdk07"]
	if python == "" {
		python = pythons["sdknew"]
	}
	remote := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), "127.0.0.1:"+strconv.Itoa(debugPorts[1]), debugKey(ctx, t, n2.client(tenantB)))
	waitRemote(ctx, t, n3.client(tenantB), pluginID, true, remote)
	if msgs, err := n3.client(tenantB).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "forwarded", "mode": "text"}); err != nil || texts(msgs) != "forwarded" {
		t.Fatalf("call through node 3 of the plugin attached to node 2: %v %+v\nplugin output:\n%s", err, msgs, remote.out.String())
	}
	direct, forwarded := latencies(ctx, t, n2.client(tenantB), 200), latencies(ctx, t, n3.client(tenantB), 200)
	report(t, "remote-debug plugin, 200 sequential calls: p50 %s direct (node 2), %s forwarded (node 3 -> node 2): overhead %s",
		direct, forwarded, forwarded-direct)

	clusterMCP(ctx, t, n1, n2, n3, tenantA)

	if os.Getenv("PLUGD_CLUSTER_BENCH") == "1" {
		for _, set := range [][]*daemon{{n1}, nodes} {
			answered, failed, took := load(ctx, set, tenantA, 5000, 64, nil)
			report(t, "calls/s at concurrency 64 through %d node(s): %.0f (%d answered, %d failed in %s)",
				len(set), float64(answered)/took.Seconds(), answered, failed, took.Round(time.Millisecond))
		}
	}

	// Node 1 runs an install (the slow plugin takes 15 s to start) when it is killed, under
	// a 10,000-call load spread over the three nodes.
	tenantC := newTenant()
	c1 := n1.client(tenantC)
	if _, err := c1.uploadPackage(ctx, slow.Data, false); err != nil {
		t.Fatal(err)
	}
	st, err := c1.installFromIdentifiers(ctx, []string{slow.UID}, "package", []map[string]any{{}})
	if err != nil || st.TaskID == "" {
		t.Fatalf("install through node 1: %+v %v", st, err)
	}
	var done atomic.Int64
	killed := make(chan struct{})
	var killedAt, resumedAt time.Time
	go func() {
		defer close(killed)
		for done.Load() < 2000 || taskPhase(ctx, t, n2.client(tenantC), st.TaskID) != "starting" {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		killedAt = time.Now()
		n1.kill()
		t.Logf("node 1 killed (SIGKILL) after %d calls, with its install task starting the plugin", done.Load())
		// Watch for the take-over while the load goes on.
		for time.Since(killedAt) < time.Minute && ctx.Err() == nil {
			if taskResumed(ctx, n2.client(tenantC), st.TaskID) {
				resumedAt = time.Now()
				report(t, "install task taken over %s after kill -9 (lease ttl 5 s, scan every 2 s)", resumedAt.Sub(killedAt).Round(100*time.Millisecond))
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	perNode := make([]callCount, 3)
	answered, failed, took := load(ctx, nodes, tenantA, 10000, 32, func(node int, err error) {
		done.Add(1)
		perNode[node].add(err)
	})
	<-killed
	report(t, "10,000 calls over 3 nodes with node 1 killed: %d answered, %d failed with an error, in %s", answered, failed, took.Round(time.Millisecond))
	for i := range perNode {
		report(t, "  node %d: %d answered, %d failed; first error: %s", i+1, perNode[i].ok, perNode[i].failed, perNode[i].first)
	}
	if answered+failed != 10000 {
		t.Errorf("%d calls answered and %d failed: %d calls unaccounted for", answered, failed, 10000-answered-failed)
	}
	for i := 1; i < 3; i++ {
		if perNode[i].failed > 0 {
			t.Errorf("node %d, which stayed up, failed %d calls (first: %s)", i+1, perNode[i].failed, perNode[i].first)
		}
	}
	if perNode[0].failed > 0 && perNode[0].first == "" {
		t.Error("calls to the killed node failed without an error message")
	}

	// The install is resumed by another node and finishes.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		raw, err := call[json.RawMessage](ctx, n2.client(tenantC), http.MethodGet, n2.client(tenantC).p("management/install/tasks/"+st.TaskID), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var task struct {
			Status  string `json:"status"`
			Plugins []struct {
				Status, Message, Progress, Phase string
				Fence                            int64
			} `json:"plugins"`
		}
		json.Unmarshal(raw, &task)
		if task.Status == "success" {
			if task.Plugins[0].Fence < 2 {
				t.Errorf("the task succeeded under fencing token %d: not taken over by another node", task.Plugins[0].Fence)
			}
			break
		}
		if task.Status == "failed" {
			t.Fatalf("the install failed after the take-over: %s", raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("install task not finished 5 minutes after node 1 died: %s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resumedAt.IsZero() || resumedAt.Sub(killedAt) > 15*time.Second {
		t.Errorf("the install task was not taken over within 15 s of the kill (at %v)", resumedAt.Sub(killedAt))
	}
	if n := len(n2.logLines("took over an install task")) + len(n3.logLines("took over an install task")); n != 1 {
		t.Errorf("%d take-overs logged by nodes 2 and 3, want 1", n)
	}

	// No installation lost: both tenants' plugins are listed and answer on the survivors.
	for _, c := range []struct {
		tenant, uid string
	}{{tenantA, uid}, {tenantC, slow.UID}} {
		list, err := n3.client(c.tenant).listPlugins(ctx)
		if err != nil || !slices.ContainsFunc(list.List, func(raw json.RawMessage) bool { return strings.Contains(string(raw), c.uid) }) {
			t.Errorf("tenant %s: %s not listed after the kill: %v", c.tenant, c.uid, err)
		}
	}
	if msgs, err := n3.client(tenantC).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after", "mode": "text"}); err != nil || texts(msgs) != "after" {
		t.Errorf("the plugin installed by the take-over does not answer: %v %+v", err, msgs)
	}

	// Node 1 is gone from every list; `plugd nodes` shows the others with their plugins.
	waitNodes(t, n2, []string{"n2", "n3"})
	out, err := exec.CommandContext(ctx, binary(t), "nodes", "--json", "--url", n2.base).Output()
	if err != nil {
		t.Fatalf("plugd nodes: %v", err)
	}
	var listed []struct {
		ID      string `json:"id"`
		Plugins []struct {
			UID    string `json:"plugin_unique_identifier"`
			Remote bool   `json:"remote"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(out, &listed); err != nil || len(listed) != 2 {
		t.Fatalf("plugd nodes --json: %s (%v)", out, err)
	}
	remoteOn2 := slices.ContainsFunc(listed[0].Plugins, func(p struct {
		UID    string `json:"plugin_unique_identifier"`
		Remote bool   `json:"remote"`
	}) bool {
		return p.Remote
	})
	if listed[0].ID != "n2" || !remoteOn2 {
		t.Errorf("plugd nodes: node 2 should list its remote plugin: %s", out)
	}

	// SIGTERM drains node 3: a call in flight finishes, the node leaves the list at once (not
	// after its heartbeat expires), and calls go on through node 2.
	inFlight := make(chan error, 1)
	go func() {
		msgs, err := n3.client(tenantA).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "2", "mode": "sleep"})
		if err == nil && texts(msgs) != "slept 2" {
			err = fmt.Errorf("answer %q", texts(msgs))
		}
		inFlight <- err
	}()
	time.Sleep(500 * time.Millisecond)
	stopped := time.Now()
	n3.stop()
	report(t, "node 3 drained and stopped %s after SIGTERM", time.Since(stopped).Round(10*time.Millisecond))
	if err := <-inFlight; err != nil {
		t.Errorf("the call in flight on node 3 at SIGTERM: %v", err)
	}
	_, _, body := n2.rawRequest(t, http.MethodGet, "/health/ready", nil, nil)
	if strings.Contains(string(body), `"id":"n3"`) {
		t.Errorf("node 3 still listed right after it stopped (it must leave, not expire): %s", body)
	}
	if msgs, err := n2.client(tenantA).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "last", "mode": "text"}); err != nil || texts(msgs) != "last" {
		t.Errorf("call through node 2 after node 3 left: %v %+v", err, msgs)
	}
}

// clusterEnv is the environment of a node of a fresh cluster: one new PostgreSQL database,
// the shared S3 bucket, a Redis key prefix of its own; and its server key.
func clusterEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	dsn := needService(t, "PostgreSQL", "PLUGD_TEST_POSTGRES_DSN")[0]
	redisAddr := needService(t, "Redis", "PLUGD_TEST_REDIS_ADDR")[0]
	s3 := needService(t, "S3 storage", "PLUGD_TEST_S3_ENDPOINT", "PLUGD_TEST_S3_ACCESS_KEY", "PLUGD_TEST_S3_SECRET_KEY", "PLUGD_TEST_S3_BUCKET")
	redisHost, redisPort, _ := strings.Cut(redisAddr, ":")
	key := randomHex(16)
	env := map[string]string{
		"PLUGD_CLUSTER": "true", "REDIS_HOST": redisHost, "REDIS_PORT": redisPort,
		"PLUGD_CLUSTER_PREFIX": "plugd-e2e-" + randomHex(6) + ":", "SERVER_KEY": key,
		"PLUGIN_STORAGE_TYPE": "s3", "S3_ENDPOINT": s3[0], "AWS_ACCESS_KEY": s3[1], "AWS_SECRET_KEY": s3[2],
		"PLUGIN_STORAGE_OSS_BUCKET": s3[3], "S3_USE_AWS": "false", "S3_USE_PATH_STYLE": "true", "AWS_REGION": "us-east-1",
		"LOG_LEVEL": "INFO", "PLUGD_DRAIN_TIMEOUT": "5",
	}
	for k, v := range postgresEnv(t, dsn) {
		env[k] = v
	}
	return env, key
}

// TestClusterPluginCap: with PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN capping it at 1, a plugin installed
// through node 1 and called through both nodes runs on one node only (node 2 forwards its
// calls), as both nodes' /health/ready say; once the plugin is idle-stopped there, its
// slot is free and the next call through node 2 runs it on node 2.
func TestClusterPluginCap(t *testing.T) {
	env, key := clusterEnv(t)
	pythonTools(t)
	pk := packages(t)
	env["PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN"] = "0," + pluginID + "=1" // this plugin alone capped
	env["PLUGD_IDLE_STOP"] = "2"
	nodes := make([]*daemon, 2)
	for i := range nodes {
		e := maps(env)
		e["PLUGD_NODE_ID"] = fmt.Sprintf("c%d", i+1)
		nodes[i] = startDaemon(t, daemonOptions{Env: e})
		nodes[i].key = key
	}
	n1, n2 := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitNodes(t, n2, []string{"c1", "c2"})
	tenant := newTenant()
	uid := installAndWait(ctx, t, n1.client(tenant), pk.V1)

	callAll := func(label string) {
		t.Helper()
		for i := range 4 {
			d := nodes[i%2]
			text := fmt.Sprintf("%s %d via %s", label, i, d.base)
			if msgs, err := d.client(tenant).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": text, "mode": "text"}); err != nil || texts(msgs) != text {
				t.Fatalf("call %d through %s: %v %+v", i, d.base, err, msgs)
			}
		}
	}
	callAll("first")
	// The install warmed the plugin on node 1, which took the one slot: node 2 forwards.
	waitRunning(t, n2, uid, map[string]bool{"c1": true, "c2": false})

	// Idle-stopped on node 1 (2 s), its slot is given back (within ~10 s of the last call);
	// a call through node 2 then runs it on node 2, and node 1 forwards to it.
	waitRunning(t, n1, uid, map[string]bool{"c1": false, "c2": false})
	time.Sleep(12 * time.Second)
	text := "after the idle stop"
	if msgs, err := n2.client(tenant).invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": text, "mode": "text"}); err != nil || texts(msgs) != text {
		t.Fatalf("call through node 2 after the idle stop: %v %+v", err, msgs)
	}
	callAll("second")
	waitRunning(t, n1, uid, map[string]bool{"c1": false, "c2": true})
}

// waitRunning waits until d's /health/ready says, for each node, whether it runs uid (a
// process up), and fails with what it said last after 20 s. A node that runs the plugin
// when it should not fails at once.
func waitRunning(t *testing.T, d *daemon, uid string, want map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		_, _, body = d.rawRequest(t, http.MethodGet, "/health/ready", nil, nil)
		var r struct {
			Nodes []struct {
				ID      string `json:"id"`
				Plugins []struct {
					UID       string `json:"plugin_unique_identifier"`
					Processes int    `json:"processes"`
				} `json:"plugins"`
			} `json:"nodes"`
		}
		json.Unmarshal(body, &r)
		got := map[string]bool{}
		for _, n := range r.Nodes {
			got[n.ID] = slices.ContainsFunc(n.Plugins, func(p struct {
				UID       string `json:"plugin_unique_identifier"`
				Processes int    `json:"processes"`
			}) bool {
				return p.UID == uid && p.Processes > 0
			})
		}
		running := 0
		for _, r := range got {
			if r {
				running++
			}
		}
		if running > 1 {
			t.Fatalf("the plugin runs on %d nodes with a cap of 1: %s", running, body)
		}
		same := len(got) == len(want)
		for id, w := range want {
			same = same && got[id] == w
		}
		if same {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: want plugin running %v: %s", d.base, want, body)
}

// clusterMCP opens an MCP session on node 2 and sends every later request of it to node 3,
// which must forward them (the standalone notification stream included): tools are listed
// and called, and a catalog change made through node 1 arrives as list_changed.
func clusterMCP(ctx context.Context, t *testing.T, n1, n2, n3 *daemon, tenant string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, binary(t), "mcp", "token", "create", "--name", "cluster", "--json",
		"--url", n1.base, "--key", n1.key, "--tenant", tenant).Output()
	if err != nil {
		t.Fatalf("plugd mcp token create: %v", err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Token == "" {
		t.Fatalf("plugd mcp token create: %s", out)
	}
	var forwarded atomic.Int64
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+created.Token)
		if r.Header.Get("Mcp-Session-Id") != "" { // after initialize: the wrong node
			r.URL.Host = strings.TrimPrefix(n3.base, "http://")
			forwarded.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	changed := make(chan struct{}, 16)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-cluster", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	}).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: n2.base + "/mcp/" + tenant, HTTPClient: &http.Client{Transport: rt}}, nil)
	if err != nil {
		t.Fatalf("MCP session on node 2: %v", err)
	}
	defer cs.Close()
	const mcpTool = providerName + "__" + toolName
	if got := mcpToolNames(ctx, t, cs); !slices.Contains(got, mcpTool) {
		t.Fatalf("tools through node 3 of a session on node 2: %v", got)
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "mcp via node 3", "mode": "text"}})
	if err != nil || r.IsError || len(r.Content) == 0 {
		t.Fatalf("tools/call through node 3: %+v %v", r, err)
	}
	if tc, ok := r.Content[0].(*mcp.TextContent); !ok || tc.Text != "mcp via node 3" {
		t.Fatalf("tools/call answer: %+v", r.Content)
	}
	// A catalog change through node 1 reaches the session on node 2 (its notification stream
	// forwarded through node 3).
	petstore, err := filepath.Abs(filepath.Join("..", "apitools", "testdata", "petstore-3.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	changedAt := time.Now()
	if out, err := exec.CommandContext(ctx, binary(t), "tools", "import-openapi", "pets", "--file", petstore, "--server-url", "http://127.0.0.1:9/v2",
		"--url", n1.base, "--key", n1.key, "--tenant", tenant).CombinedOutput(); err != nil {
		t.Fatalf("plugd tools import-openapi through node 1: %v\n%s", err, out)
	}
	select {
	case <-changed:
		report(t, "MCP list_changed for a change made through node 1 reached the session on node 2 %s after the import returned", time.Since(changedAt).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("no list_changed in the session on node 2 after a catalog change through node 1")
	}
	if got := mcpToolNames(ctx, t, cs); !slices.Contains(got, "pets__getPetById") {
		t.Errorf("tools after the import: %v", got)
	}
	if forwarded.Load() == 0 {
		t.Error("no request of the session went to node 3")
	}

	// The older SSE transport: the stream is opened on node 2 and every message is posted
	// through node 3, which must forward it to node 2 (node 3 alone would answer "session
	// not found"); the answers arrive on the stream.
	var posted atomic.Int64
	sseRT := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+created.Token)
		if r.Method == http.MethodPost {
			r.URL.Host = strings.TrimPrefix(n3.base, "http://")
			posted.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	ss, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-cluster-sse", Version: "1"}, nil).
		Connect(ctx, &mcp.SSEClientTransport{Endpoint: n2.base + "/sse/" + tenant, HTTPClient: &http.Client{Transport: sseRT}}, nil)
	if err != nil {
		t.Fatalf("MCP SSE stream on node 2, messages through node 3: %v", err)
	}
	defer ss.Close()
	if got := mcpToolNames(ctx, t, ss); !slices.Contains(got, mcpTool) {
		t.Fatalf("SSE: tools through node 3 of a stream on node 2: %v", got)
	}
	r, err = ss.CallTool(ctx, &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "sse via node 3", "mode": "text"}})
	if err != nil || r.IsError || len(r.Content) == 0 {
		t.Fatalf("SSE tools/call through node 3: %+v %v", r, err)
	}
	if tc, ok := r.Content[0].(*mcp.TextContent); !ok || tc.Text != "sse via node 3" {
		t.Fatalf("SSE tools/call answer: %+v", r.Content)
	}
	if posted.Load() < 3 { // initialize, initialized, tools/list, tools/call
		t.Errorf("%d SSE messages posted through node 3", posted.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// slowPackage is the test plugin at version 0.0.3 whose process sleeps 15 s before it
// serves: an install of it spends that long in its "starting" phase.
func slowPackage(t *testing.T) testPackage {
	t.Helper()
	p, err := packagePlugin(binary(t), "slow", func(dir string) error {
		if err := setVersion(dir, "0.0.3"); err != nil {
			return err
		}
		return editFile(filepath.Join(dir, "main.py"), func(s string) string { return "import time\ntime.sleep(15)\n" + s })
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// waitNodes waits until d's /health/ready lists exactly want.
func waitNodes(t *testing.T, d *daemon, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		_, _, body := d.rawRequest(t, http.MethodGet, "/health/ready", nil, nil)
		var r struct {
			Nodes []struct {
				ID string `json:"id"`
			} `json:"nodes"`
		}
		json.Unmarshal(body, &r)
		got = got[:0]
		for _, n := range r.Nodes {
			got = append(got, n.ID)
		}
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s lists nodes %v, want %v", d.base, got, want)
}

// taskResumed tells whether another node has claimed the task (a fencing token above the
// first claim's).
func taskResumed(ctx context.Context, c *difyClient, id string) bool {
	raw, err := call[json.RawMessage](ctx, c, http.MethodGet, c.p("management/install/tasks/"+id), nil, nil)
	if err != nil {
		return false
	}
	var task struct {
		Plugins []struct {
			Fence int64 `json:"fence"`
		} `json:"plugins"`
	}
	json.Unmarshal(raw, &task)
	return len(task.Plugins) == 1 && task.Plugins[0].Fence > 1
}

// taskPhase is the phase of the task's only plugin as a node reports it.
func taskPhase(ctx context.Context, t *testing.T, c *difyClient, id string) string {
	raw, err := call[json.RawMessage](ctx, c, http.MethodGet, c.p("management/install/tasks/"+id), nil, nil)
	if err != nil {
		return ""
	}
	var task struct {
		Plugins []struct {
			Phase string `json:"phase"`
		} `json:"plugins"`
	}
	json.Unmarshal(raw, &task)
	if len(task.Plugins) != 1 {
		return ""
	}
	return task.Plugins[0].Phase
}

// latencies makes n sequential calls and returns their median duration.
func latencies(ctx context.Context, t *testing.T, c *difyClient, n int) time.Duration {
	t.Helper()
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x", "mode": "text"})
		if err != nil || texts(msgs) != "x" {
			t.Fatalf("call %d of %d: %v %+v", len(ds), n, err, msgs)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// callCount counts one node's calls.
type callCount struct {
	mu         sync.Mutex
	ok, failed int
	first      string
}

func (c *callCount) add(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.ok++
		return
	}
	c.failed++
	if c.first == "" {
		c.first = err.Error()
	}
}

// load makes total calls of the echo tool with conc workers, call i going to node i%len;
// each outcome goes to each (node index, error). A call counts as answered only when its
// answer is the right echo.
func load(ctx context.Context, nodes []*daemon, tenant string, total, conc int, each func(node int, err error)) (answered, failed int, took time.Duration) {
	var next, ok, bad atomic.Int64
	clients := make([]*difyClient, len(nodes))
	for i, d := range nodes {
		clients[i] = d.client(tenant)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				node := i % len(nodes)
				text := "c" + strconv.Itoa(i)
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				msgs, err := clients[node].invokeTool(cctx, pluginID, providerName, toolName, map[string]any{"text": text, "mode": "text"})
				cancel()
				if err == nil && texts(msgs) != text {
					err = fmt.Errorf("wrong answer %q to %q", texts(msgs), text)
				}
				if err == nil {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
				if each != nil {
					each(node, err)
				}
			}
		})
	}
	wg.Wait()
	return int(ok.Load()), int(bad.Load()), time.Since(start)
}
