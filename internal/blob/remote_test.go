package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/blob/blobtest"
)

// Page-size hooks for the conformance suite's ManyKeysPaged.
func (s *S3) setListPage(n int)    { s.listPage = n }
func (a *Azure) setListPage(n int) { a.listPage = int32(n) }
func (g *GCS) setListPage(n int)   { g.listPage = n }

// needServer returns the value of a PLUGD_TEST_* variable a test server's script prints, or
// skips (fails under PLUGD_TEST_REQUIRE_SERVICES=1) when it is unset.
func needServer(t testing.TB, name, script string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PLUGD_TEST_REQUIRE_SERVICES=1 but %s is not set; run %s and export what it prints", name, script)
		}
		t.Skipf("%s is not set; run %s and export what it prints to test against it", name, script)
	}
	return v
}

func testPrefix() string { return "plugd-test-" + strings.ToLower(rand.Text()) }

// emptyOnCleanup deletes whatever the test left in its prefix.
func emptyOnCleanup(t testing.TB, s Store) {
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := s.List(ctx, "")
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, k := range keys {
			if err := s.Delete(ctx, k); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

func azureTestConfig(t testing.TB) AzureConfig {
	t.Helper()
	return AzureConfig{
		ConnectionString: AzuriteConnectionString(needServer(t, "PLUGD_TEST_AZURE_ENDPOINT", "scripts/azurite.sh"),
			os.Getenv("PLUGD_TEST_AZURE_ACCOUNT"), os.Getenv("PLUGD_TEST_AZURE_KEY")),
		Container:       "plugd-test",
		Prefix:          testPrefix(),
		CreateContainer: true,
	}
}

func newTestAzure(t testing.TB, cfg AzureConfig) *Azure {
	t.Helper()
	a, err := NewAzure(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	emptyOnCleanup(t, a)
	return a
}

func gcsTestConfig(t testing.TB) GCSConfig {
	t.Helper()
	return GCSConfig{
		Endpoint:     needServer(t, "PLUGD_TEST_GCS_ENDPOINT", "scripts/gcs.sh"),
		Bucket:       "plugd-test",
		Prefix:       testPrefix(),
		CreateBucket: true,
		Project:      "plugd-test",
	}
}

func newTestGCS(t testing.TB, cfg GCSConfig) *GCS {
	t.Helper()
	g, err := NewGCS(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	emptyOnCleanup(t, g)
	t.Cleanup(func() { g.Close() })
	return g
}

func TestAzureConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newTestAzure(t, azureTestConfig(t)) })
}

func TestGCSConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newTestGCS(t, gcsTestConfig(t)) })
}

func TestNewAzureContainer(t *testing.T) {
	ctx := context.Background()
	cfg := azureTestConfig(t)
	cfg.Container = "plugd-test-" + strings.ToLower(rand.Text())[:12]
	cfg.CreateContainer = false
	if _, err := NewAzure(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("NewAzure with a missing container = %v; want it to say the container does not exist", err)
	}
	cfg.CreateContainer = true
	a, err := NewAzure(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.client.Delete(ctx, nil)
	mustPut(t, a, "k", []byte("v"), 1)
	if got := mustGet(t, a, "k"); string(got) != "v" {
		t.Fatalf("Get = %q", got)
	}
	bad := cfg
	bad.ConnectionString = "AccountName=x;AccountKey=not-base64!!;BlobEndpoint=http://127.0.0.1:1/x"
	if _, err := NewAzure(ctx, bad); err == nil || strings.Contains(err.Error(), "not-base64") {
		t.Fatalf("NewAzure with a bad key = %v; want an error that does not echo the key", err)
	}
}

func TestNewAzureRefusesConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  AzureConfig
		want string
	}{
		{AzureConfig{Container: "c"}, "connection string is not set"},
		{AzureConfig{ConnectionString: "x"}, "container name is not set"},
		{AzureConfig{ConnectionString: "x", Container: "c", Prefix: "a/../b"}, `segment 2 is ".."`},
		{AzureConfig{ConnectionString: "garbage secret=abc", Container: "c"}, "want AccountName="},
	} {
		_, err := NewAzure(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret=abc") {
			t.Errorf("NewAzure(%+v) = %v; want an error saying %q", tt.cfg, err, tt.want)
		}
	}
}

func TestGCSCredentialsType(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"type":"service_account"}`, ""},
		{`{"type":"authorized_user"}`, ""},
		{`{"type":"external_account"}`, ""},
		{`{"type":"api_key"}`, `of type "api_key"`},
		{`not json`, "not a JSON credentials file"},
	} {
		_, err := gcsCredentialsType([]byte(tt.json))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("gcsCredentialsType(%s) = %v; want %q", tt.json, err, tt.want)
		}
	}
}

// testServerGoesAway: a server that goes away in the middle of a large upload makes Put fail
// (not hang) and leaves nothing visible: no new object, and the old object under the same key
// whole. via builds a store that reaches the server through a fresh proxy; direct reaches the
// same objects without it, as another daemon would.
func testServerGoesAway(t *testing.T, via func(t *testing.T) (*blobtest.CutProxy, Store), direct Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	old := []byte("the previous, complete version")
	mustPut(t, direct, "pkg/kept.difypkg", old, int64(len(old)))
	const size = 40 << 20
	for _, key := range []string{"pkg/kept.difypkg", "pkg/fresh.difypkg"} {
		proxy, s := via(t)
		proxy.ArmAfter(12 << 20) // past the first part, chunk or block
		start := time.Now()
		err := s.Put(ctx, key, &generator{left: size, seed: 9}, size)
		if err == nil {
			t.Fatalf("Put(%q) through a server that went away after 12 MiB succeeded", key)
		}
		if ctx.Err() != nil {
			t.Fatalf("Put(%q) did not return before the test's deadline: %v", key, err)
		}
		if sent := proxy.Sent(); sent >= size {
			t.Fatalf("the proxy passed %d bytes before the cut; the cut came too late to test anything", sent)
		}
		t.Logf("Put(%q) failed %s after the start: %v", key, time.Since(start).Round(time.Millisecond), err)
		// The server is still away: the next call fails too, with a connection error rather
		// than an answer such as "not found".
		if _, err := s.Stat(ctx, "pkg/kept.difypkg"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat through the dead server = %v; want a connection error", err)
		}
	}
	if got := mustGet(t, direct, "pkg/kept.difypkg"); !bytes.Equal(got, old) {
		t.Fatalf("the object under the key of the failed Put is now %d bytes, not the old version", len(got))
	}
	assertMissing(t, direct, "pkg/fresh.difypkg")
	if keys := mustList(t, direct, ""); !slices.Equal(keys, []string{"pkg/kept.difypkg"}) {
		t.Fatalf("List = %q; a failed upload left something visible", keys)
	}
}

func TestS3ServerGoesAway(t *testing.T) {
	direct := newTestS3(t)
	testServerGoesAway(t, func(t *testing.T) (*blobtest.CutProxy, Store) {
		cfg := s3TestConfig(t)
		cfg.Prefix = strings.TrimSuffix(direct.prefix, "/")
		host, _, _ := s3Endpoint(cfg.Endpoint, false)
		proxy := blobtest.NewCutProxy(t, host)
		cfg.Endpoint = "http://" + proxy.Addr()
		cfg.MaxRetries = 2
		s, err := NewS3(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return proxy, s
	}, direct)
}

func TestAzureServerGoesAway(t *testing.T) {
	base := azureTestConfig(t)
	direct := newTestAzure(t, base)
	testServerGoesAway(t, func(t *testing.T) (*blobtest.CutProxy, Store) {
		cfg := base
		target := azuriteHost(t, cfg.ConnectionString)
		proxy := blobtest.NewCutProxy(t, target)
		cfg.ConnectionString = strings.Replace(cfg.ConnectionString, "//"+target+"/", "//"+proxy.Addr()+"/", 1)
		cfg.MaxRetries = 1
		s, err := NewAzure(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return proxy, s
	}, direct)
}

func TestGCSServerGoesAway(t *testing.T) {
	base := gcsTestConfig(t)
	direct := newTestGCS(t, base)
	testServerGoesAway(t, func(t *testing.T) (*blobtest.CutProxy, Store) {
		cfg := base
		target := strings.TrimPrefix(strings.SplitN(cfg.Endpoint, "/storage/", 2)[0], "http://")
		proxy := blobtest.NewCutProxy(t, target)
		cfg.Endpoint = strings.Replace(cfg.Endpoint, target, proxy.Addr(), 1)
		cfg.RetryDeadline = 3 * time.Second
		cfg.CreateBucket = false
		s, err := NewGCS(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return proxy, s
	}, direct)
}

// azuriteHost is the host:port of the BlobEndpoint in a connection string.
func azuriteHost(t *testing.T, conn string) string {
	t.Helper()
	for _, part := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(part, "BlobEndpoint="); ok {
			v = strings.TrimPrefix(strings.TrimPrefix(v, "http://"), "https://")
			return strings.SplitN(v, "/", 2)[0]
		}
	}
	t.Fatalf("no BlobEndpoint in the connection string")
	return ""
}

// BenchmarkPutGet stores and reads back a 4 MiB object on each backend whose server is
// configured (a plugin package of a typical size), streamed from and to memory.
func BenchmarkPutGet(b *testing.B) {
	const size = 4 << 20
	payload := data(size, 3)
	stores := map[string]func(t testing.TB) Store{
		"dir": func(t testing.TB) Store {
			d, err := NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"s3":    func(t testing.TB) Store { return newTestS3(t) },
		"azure": func(t testing.TB) Store { return newTestAzure(t, azureTestConfig(t)) },
		"gcs":   func(t testing.TB) Store { return newTestGCS(t, gcsTestConfig(t)) },
	}
	for _, name := range []string{"dir", "s3", "azure", "gcs"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			ctx := context.Background()
			b.SetBytes(size)
			for b.Loop() {
				if err := s.Put(ctx, "bench/pkg.difypkg", bytes.NewReader(payload), size); err != nil {
					b.Fatal(err)
				}
				rc, err := s.Get(ctx, "bench/pkg.difypkg")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
					b.Fatalf("read %d, %v", n, err)
				}
				rc.Close()
			}
		})
	}
}
