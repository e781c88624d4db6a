package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize is the part size of multipart uploads: the memory one upload of unknown size
// holds, and 1/10000 of the largest object (160 GiB, far above any plugin package).
const s3PartSize = 16 << 20

// S3Config says where an S3 store keeps its objects.
type S3Config struct {
	// Endpoint is host[:port] or a URL (http:// or https://, no path). Empty means AWS.
	Endpoint string
	Bucket   string
	// AccessKey and SecretKey are static credentials, required unless UseIAM.
	AccessKey, SecretKey string
	// Region is the bucket's region; empty lets the client ask the server.
	Region string
	// UseSSL selects TLS for an Endpoint given without a scheme; a URL's scheme decides
	// otherwise (http:// together with UseSSL is refused as contradictory).
	UseSSL bool
	// PathStyle addresses the bucket as endpoint/bucket rather than as bucket.endpoint; most
	// self-hosted S3-compatible servers need it.
	PathStyle bool
	// Prefix is prepended to every key, so several daemons or tests can share a bucket.
	Prefix string
	// CreateBucket creates the bucket when it does not exist; otherwise NewS3 fails.
	CreateBucket bool
	// UseIAM takes credentials from the environment, the AWS credentials file, or the
	// instance's or task's IAM role instead of AccessKey and SecretKey.
	UseIAM bool
	// MaxRetries bounds the client's attempts of one request (0: minio-go's 10). Tests lower
	// it so that a server that went away fails the call in seconds.
	MaxRetries int
	// Transport carries the requests; nil for the default. Tests use it to reach a local
	// server under the host names of virtual-host-style addressing.
	Transport http.RoundTripper
}

// S3ConfigFromEnv reads the variables the reference daemon uses for S3 storage (lookup is
// os.Getenv in production): S3_ENDPOINT, S3_USE_PATH_STYLE (default true), AWS_ACCESS_KEY,
// AWS_SECRET_KEY, AWS_REGION, PLUGIN_STORAGE_OSS_BUCKET (required) and S3_USE_AWS_MANAGED_IAM
// (default false). TLS follows the endpoint's scheme, and is on for an endpoint without one.
func S3ConfigFromEnv(lookup func(string) string) (S3Config, error) {
	get := func(name string) string { return strings.TrimSpace(lookup(name)) }
	cfg := S3Config{
		Endpoint:  get("S3_ENDPOINT"),
		Bucket:    get("PLUGIN_STORAGE_OSS_BUCKET"),
		AccessKey: get("AWS_ACCESS_KEY"),
		SecretKey: get("AWS_SECRET_KEY"),
		Region:    get("AWS_REGION"),
		UseSSL:    !strings.HasPrefix(strings.ToLower(get("S3_ENDPOINT")), "http://"),
	}
	if cfg.Bucket == "" {
		return S3Config{}, errors.New("blob: PLUGIN_STORAGE_OSS_BUCKET is not set; S3 storage needs a bucket")
	}
	var err error
	if cfg.PathStyle, err = envBool(get, "S3_USE_PATH_STYLE", true); err != nil {
		return S3Config{}, err
	}
	if cfg.UseIAM, err = envBool(get, "S3_USE_AWS_MANAGED_IAM", false); err != nil {
		return S3Config{}, err
	}
	return cfg, nil
}

func envBool(get func(string) string, name string, def bool) (bool, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("blob: %s=%q is not a boolean (use true or false)", name, v)
	}
	return b, nil
}

// S3 is a Store in a bucket of an S3-compatible object storage service. Uploads of unknown
// size, and of known size above 16 MiB, go up in parts; an upload that fails or is cancelled
// is aborted, so no object and no stray parts stay behind.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // "" or ends with "/"
	// listPage is the page size of List; 0 for the service's default (1000).
	listPage int
}

var _ Store = (*S3)(nil)

// NewS3 connects to the service and checks that the bucket exists, creating it when
// cfg.CreateBucket is set.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	host, secure, err := s3Endpoint(cfg.Endpoint, cfg.UseSSL)
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		return nil, errors.New("blob: S3 bucket is not set")
	}
	prefix, err := cleanPrefix("S3", cfg.Prefix)
	if err != nil {
		return nil, err
	}
	var creds *credentials.Credentials
	switch {
	case cfg.UseIAM:
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, errors.New("blob: S3 access key and secret key are both required unless IAM credentials are used")
	default:
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.MaxRetries,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: S3 client for %s: %w", host, err)
	}
	where := fmt.Sprintf("bucket %q at %s", cfg.Bucket, host)
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: S3 %s: %w", where, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("blob: S3 %s does not exist", where)
		}
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return nil, fmt.Errorf("blob: S3 create %s: %w", where, err)
		}
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix}, nil
}

// s3Endpoint splits an endpoint into the host[:port] minio-go wants and whether to use TLS.
func s3Endpoint(endpoint string, useSSL bool) (string, bool, error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(endpoint, "://") {
		if strings.ContainsAny(endpoint, "/?#@") {
			return "", false, fmt.Errorf("blob: S3 endpoint %q: want host[:port] or a URL such as https://host:port", endpoint)
		}
		return endpoint, useSSL, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("blob: S3 endpoint: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("blob: S3 endpoint %q: scheme %q is neither http nor https", endpoint, u.Scheme)
	case u.Host == "":
		return "", false, fmt.Errorf("blob: S3 endpoint %q has no host", endpoint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		return "", false, fmt.Errorf("blob: S3 endpoint %q: only scheme, host and port are allowed (the bucket is set apart)", endpoint)
	case u.Scheme == "http" && useSSL:
		return "", false, fmt.Errorf("blob: S3 endpoint %q is plain http but TLS (UseSSL) is requested", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// object turns a key into the object name in the bucket.
func (s *S3) object(key string) (string, error) { return objectName(s.prefix, key) }

// Put uploads the object; the service makes it visible only once complete.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	if err := checkPut(ctx, key, size); err != nil {
		return err
	}
	b := newBody(ctx, r, size)
	if size == 0 {
		// The client sends an empty body without reading it; check that r is empty too.
		if _, err := b.Read(make([]byte, 1)); err != io.EOF {
			return fmt.Errorf("blob: put %q: %w", key, b.failure(err))
		}
	}
	_, err = s.client.PutObject(ctx, s.bucket, name, b, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s3PartSize,
	})
	if err != nil {
		return fmt.Errorf("blob: put %q: %w", key, b.failure(err))
	}
	return nil
}

// Get starts the download, so a missing object is reported here rather than at the first read.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error("get", key, err)
	}
	return rc, nil
}

func (s *S3) Stat(ctx context.Context, key string) (int64, error) {
	name, err := s.object(key)
	if err != nil {
		return 0, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return 0, s3Error("stat", key, err)
	}
	return info.Size, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s3Error("delete", key, err), ErrNotFound) {
		return s3Error("delete", key, err)
	}
	return nil
}

// List returns the keys under prefix. Objects whose names are not valid keys (put there by
// other tools, such as "folder/" markers) are left out: no method could address them.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx) // stops the lister if we return early
	defer cancel()
	keys := []string{}
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true, MaxKeys: s.listPage}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("blob: list %q: %w", prefix, obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if ok && ValidKey(key) == nil {
			keys = append(keys, key)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// s3Error maps the service's "no such key" to ErrNotFound. A missing bucket is not mapped:
// it is a misconfiguration, not a missing object.
func s3Error(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket") {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %q: %w", op, key, err)
}
