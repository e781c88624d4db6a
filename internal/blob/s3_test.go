package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// s3TestConfig is the S3 service named by PLUGD_TEST_S3_* (scripts/s3.sh starts one), with a
// key prefix of its own so that runs and subtests sharing the bucket see only their objects.
func s3TestConfig(t testing.TB) S3Config {
	t.Helper()
	endpoint := os.Getenv("PLUGD_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_S3_ENDPOINT is not set; run scripts/s3.sh and export what it prints")
		}
		t.Skip("PLUGD_TEST_S3_ENDPOINT is not set; run scripts/s3.sh and export what it prints to test against S3")
	}
	return S3Config{
		Endpoint:  endpoint,
		Bucket:    os.Getenv("PLUGD_TEST_S3_BUCKET"),
		AccessKey: os.Getenv("PLUGD_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("PLUGD_TEST_S3_SECRET_KEY"),
		PathStyle: true,
		Prefix:    "plugd-test-" + strings.ToLower(rand.Text()),
	}
}

func newTestS3(t testing.TB) *S3 {
	t.Helper()
	s, err := NewS3(context.Background(), s3TestConfig(t))
	if err != nil {
		t.Fatal(err)
	}
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
	return s
}

func TestS3Conformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		s := newTestS3(t)
		// No failed or cancelled upload may leave parts behind.
		t.Cleanup(func() {
			if ups := incompleteUploads(t, s); len(ups) != 0 {
				t.Errorf("incomplete multipart uploads left behind: %q", ups)
			}
		})
		return s
	})
}

func incompleteUploads(t *testing.T, s *S3) []string {
	t.Helper()
	res, err := minio.Core{Client: s.client}.ListMultipartUploads(context.Background(), s.bucket, s.prefix, "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range res.Uploads {
		keys = append(keys, u.Key)
	}
	return keys
}

// TestS3ForeignObjects: objects other tools put in the bucket under names that are not valid
// keys stay out of List, and objects outside the store's prefix stay out entirely.
func TestS3ForeignObjects(t *testing.T) {
	ctx := context.Background()
	s := newTestS3(t)
	for _, name := range []string{s.prefix + "folder/", s.prefix + "x/.~partial", strings.TrimSuffix(s.prefix, "/") + "-sibling"} {
		if _, err := s.client.PutObject(ctx, s.bucket, name, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}) })
	}
	mustPut(t, s, "folder/real", []byte("x"), 1)
	if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"folder/real"}) {
		t.Fatalf("List = %q", keys)
	}
}

func TestNewS3Bucket(t *testing.T) {
	ctx := context.Background()
	cfg := s3TestConfig(t)
	cfg.Bucket = "plugd-test-" + strings.ToLower(rand.Text())
	if _, err := NewS3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("NewS3 with a missing bucket = %v; want it to say the bucket does not exist", err)
	}
	cfg.CreateBucket = true
	s, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatalf("NewS3 with CreateBucket: %v", err)
	}
	defer s.client.RemoveBucket(ctx, cfg.Bucket)
	mustPut(t, s, "k", []byte("v"), 1)
	if got := mustGet(t, s, "k"); string(got) != "v" {
		t.Fatalf("Get = %q", got)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewS3(ctx, cfg); err != nil { // the bucket exists now
		t.Fatalf("NewS3 on the created bucket: %v", err)
	}
}

func TestS3LongKeyWithPrefix(t *testing.T) {
	s := &S3{prefix: "p/"}
	if _, err := s.object(longKey(1023)); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("object() = %v; want a KeyError about the prefix", err)
	}
	if name, err := s.object("k"); err != nil || name != "p/k" {
		t.Fatalf("object(k) = %q, %v", name, err)
	}
}

// TestNewS3RefusesConfig covers mistakes NewS3 finds before it contacts any service.
func TestNewS3RefusesConfig(t *testing.T) {
	ok := S3Config{Endpoint: "127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s"}
	tests := []struct {
		name    string
		edit    func(*S3Config)
		wantErr string
	}{
		{"no bucket", func(c *S3Config) { c.Bucket = "" }, "bucket is not set"},
		{"no secret", func(c *S3Config) { c.SecretKey = "" }, "secret key"},
		{"no access key", func(c *S3Config) { c.AccessKey = "" }, "access key"},
		{"bad prefix", func(c *S3Config) { c.Prefix = "a/../b" }, `segment 2 is ".."`},
		{"bad endpoint", func(c *S3Config) { c.Endpoint = "ftp://host" }, "neither http nor https"},
		{"http with TLS", func(c *S3Config) { c.Endpoint = "http://host"; c.UseSSL = true }, "plain http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := NewS3(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewS3 = %v; want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestS3Endpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		useSSL   bool
		host     string
		secure   bool
		wantErr  string
	}{
		{"", false, "s3.amazonaws.com", true, ""},
		{"minio:9000", false, "minio:9000", false, ""},
		{"minio:9000", true, "minio:9000", true, ""},
		{"http://127.0.0.1:9000", false, "127.0.0.1:9000", false, ""},
		{"http://127.0.0.1:9000/", false, "127.0.0.1:9000", false, ""},
		{"https://s3.eu-west-1.amazonaws.com", false, "s3.eu-west-1.amazonaws.com", true, ""},
		{"HTTPS://host", true, "host", true, ""},
		{"http://host", true, "", false, "plain http"},
		{"https://host/bucket", false, "", false, "only scheme, host and port"},
		{"https://user:pw@host", false, "", false, "only scheme, host and port"},
		{"https://", false, "", false, "no host"},
		{"s3://host", false, "", false, "neither http nor https"},
		{"host/bucket", false, "", false, "want host[:port]"},
		{"http://[::1", false, "", false, "S3 endpoint"},
	}
	for _, tt := range tests {
		host, secure, err := s3Endpoint(tt.endpoint, tt.useSSL)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("s3Endpoint(%q, %v) = %v; want an error saying %q", tt.endpoint, tt.useSSL, err, tt.wantErr)
			}
			continue
		}
		if err != nil || host != tt.host || secure != tt.secure {
			t.Errorf("s3Endpoint(%q, %v) = %q, %v, %v; want %q, %v", tt.endpoint, tt.useSSL, host, secure, err, tt.host, tt.secure)
		}
	}
}

func TestS3ConfigFromEnv(t *testing.T) {
	base := map[string]string{
		"S3_ENDPOINT":               "http://minio:9000",
		"AWS_ACCESS_KEY":            "ak",
		"AWS_SECRET_KEY":            "sk",
		"AWS_REGION":                "eu-west-1",
		"PLUGIN_STORAGE_OSS_BUCKET": "plugins",
	}
	tests := []struct {
		name    string
		env     map[string]string // merged over base; "" deletes
		want    S3Config
		wantErr string
	}{
		{"reference defaults", nil, S3Config{Endpoint: "http://minio:9000", Bucket: "plugins", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", PathStyle: true}, ""},
		{"https endpoint", map[string]string{"S3_ENDPOINT": "https://s3.example.com"}, S3Config{Endpoint: "https://s3.example.com", Bucket: "plugins", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", UseSSL: true, PathStyle: true}, ""},
		{"no endpoint (AWS)", map[string]string{"S3_ENDPOINT": ""}, S3Config{Bucket: "plugins", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", UseSSL: true, PathStyle: true}, ""},
		{"virtual host style and IAM", map[string]string{"S3_USE_PATH_STYLE": "false", "S3_USE_AWS_MANAGED_IAM": "true", "AWS_ACCESS_KEY": "", "AWS_SECRET_KEY": ""}, S3Config{Endpoint: "http://minio:9000", Bucket: "plugins", Region: "eu-west-1", UseIAM: true}, ""},
		{"spaces trimmed", map[string]string{"PLUGIN_STORAGE_OSS_BUCKET": " plugins ", "S3_USE_PATH_STYLE": " 1 "}, S3Config{Endpoint: "http://minio:9000", Bucket: "plugins", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", PathStyle: true}, ""},
		{"no bucket", map[string]string{"PLUGIN_STORAGE_OSS_BUCKET": ""}, S3Config{}, "PLUGIN_STORAGE_OSS_BUCKET is not set"},
		{"bad path style", map[string]string{"S3_USE_PATH_STYLE": "yes"}, S3Config{}, `S3_USE_PATH_STYLE="yes" is not a boolean`},
		{"bad IAM flag", map[string]string{"S3_USE_AWS_MANAGED_IAM": "on"}, S3Config{}, `S3_USE_AWS_MANAGED_IAM="on" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := S3ConfigFromEnv(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("S3ConfigFromEnv = %v; want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("S3ConfigFromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
