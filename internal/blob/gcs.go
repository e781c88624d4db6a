package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// gcsChunkSize is the size of one resumable-upload request, and the buffer one Put holds.
const gcsChunkSize = 8 << 20

// GCSConfig says where a Google Cloud Storage store keeps its objects.
type GCSConfig struct {
	Bucket string
	// CredentialsJSON is a credentials file's content (the reference's GCS_CREDENTIALS,
	// base64-decoded): a service account key, an authorized user or an external account.
	// Empty: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata
	// server of the machine).
	CredentialsJSON []byte
	// Endpoint overrides the JSON API's address, e.g. http://127.0.0.1:4443/storage/v1/ for an
	// emulator; requests then go unauthenticated, as emulators expect.
	Endpoint string
	// Prefix is prepended to every key, so several daemons or tests can share a bucket.
	Prefix string
	// CreateBucket creates a missing bucket in Project; otherwise NewGCS fails.
	CreateBucket bool
	Project      string
	// RetryDeadline bounds the retries of one upload chunk (0: the library's 32 s). Tests
	// lower it so that a server that went away fails the call in seconds.
	RetryDeadline time.Duration
	// MaxAttempts bounds the attempts of every other request (0: 5). The library's own
	// default is to retry until the context ends, which turns a storage outage into an
	// install that hangs until PLUGIN_INSTALL_TIMEOUT instead of an error.
	MaxAttempts int
}

// GCS is a Store in a Google Cloud Storage bucket. Put is a resumable upload that the service
// finalizes only after its last chunk; a failed or cancelled Put is never finalized, so no
// object (and no old object's replacement) appears.
type GCS struct {
	client        *storage.Client
	bucket        *storage.BucketHandle
	prefix        string // "" or ends with "/"
	retryDeadline time.Duration
	listPage      int // page size of List; 0 for the service's default (1000)
}

var _ Store = (*GCS)(nil)

// NewGCS connects and checks that the bucket exists, creating it when asked.
func NewGCS(ctx context.Context, cfg GCSConfig) (*GCS, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blob: GCS bucket is not set")
	}
	prefix, err := cleanPrefix("GCS", cfg.Prefix)
	if err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	switch {
	case cfg.Endpoint != "":
		opts = append(opts, option.WithEndpoint(cfg.Endpoint), option.WithoutAuthentication(), storage.WithJSONReads())
	case len(cfg.CredentialsJSON) > 0:
		kind, err := gcsCredentialsType(cfg.CredentialsJSON)
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithAuthCredentialsJSON(kind, cfg.CredentialsJSON))
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: GCS client: %w", err)
	}
	attempts := cfg.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	client.SetRetry(storage.WithMaxAttempts(attempts))
	bucket := client.Bucket(cfg.Bucket)
	if _, err := bucket.Attrs(ctx); err != nil {
		if !errors.Is(err, storage.ErrBucketNotExist) {
			client.Close()
			return nil, fmt.Errorf("blob: GCS bucket %q: %w", cfg.Bucket, err)
		}
		if !cfg.CreateBucket {
			client.Close()
			return nil, fmt.Errorf("blob: GCS bucket %q does not exist", cfg.Bucket)
		}
		if err := bucket.Create(ctx, cfg.Project, nil); err != nil {
			client.Close()
			return nil, fmt.Errorf("blob: GCS create bucket %q: %w", cfg.Bucket, err)
		}
	}
	return &GCS{client: client, bucket: bucket, prefix: prefix, retryDeadline: cfg.RetryDeadline}, nil
}

// gcsCredentialsType reads the "type" of a credentials file, which the client library needs
// to be told (it no longer trusts the file to say what it is).
func gcsCredentialsType(data []byte) (option.CredentialsType, error) {
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return "", fmt.Errorf("blob: GCS credentials are not a JSON credentials file: %w", err)
	}
	switch f.Type {
	case "service_account":
		return option.ServiceAccount, nil
	case "authorized_user":
		return option.AuthorizedUser, nil
	case "external_account":
		return option.ExternalAccount, nil
	case "impersonated_service_account":
		return option.ImpersonatedServiceAccount, nil
	}
	return "", fmt.Errorf("blob: GCS credentials of type %q: want service_account, authorized_user, external_account or impersonated_service_account", f.Type)
}

// Close releases the client's connections.
func (g *GCS) Close() error { return g.client.Close() }

func (g *GCS) object(key string) (*storage.ObjectHandle, error) {
	name, err := objectName(g.prefix, key)
	if err != nil {
		return nil, err
	}
	return g.bucket.Object(name), nil
}

// Put streams r in chunks of 8 MiB; the object exists only once the last one is accepted.
func (g *GCS) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := g.object(key)
	if err != nil {
		return err
	}
	if err := checkPut(ctx, key, size); err != nil {
		return err
	}
	b := newBody(ctx, r, size)
	// Cancelling the writer's context is the library's way to abandon an upload.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ChunkSize = gcsChunkSize
	w.ContentType = "application/octet-stream"
	if g.retryDeadline > 0 {
		w.ChunkRetryDeadline = g.retryDeadline
	}
	if _, err := io.Copy(w, b); err != nil {
		cancel()
		w.Close()
		return fmt.Errorf("blob: put %q: %w", key, b.failure(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, b.failure(err))
	}
	return nil
}

// Get opens the object; a missing one is reported here.
func (g *GCS) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := g.object(key)
	if err != nil {
		return nil, err
	}
	rc, err := obj.NewReader(ctx)
	if err != nil {
		return nil, gcsError("get", key, err)
	}
	return rc, nil
}

func (g *GCS) Stat(ctx context.Context, key string) (int64, error) {
	obj, err := g.object(key)
	if err != nil {
		return 0, err
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return 0, gcsError("stat", key, err)
	}
	return attrs.Size, nil
}

func (g *GCS) Delete(ctx context.Context, key string) error {
	obj, err := g.object(key)
	if err != nil {
		return err
	}
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return gcsError("delete", key, err)
	}
	return nil
}

// List pages through the objects under prefix, leaving out names that are not valid keys.
func (g *GCS) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	q := &storage.Query{Prefix: g.prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	it := g.bucket.Objects(ctx, q)
	pageSize := 1000
	if g.listPage > 0 {
		pageSize = g.listPage
	}
	pager := iterator.NewPager(it, pageSize, "")
	keys := []string{}
	for {
		var page []*storage.ObjectAttrs
		next, err := pager.NextPage(&page)
		if err != nil {
			return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
		}
		for _, o := range page {
			key, ok := strings.CutPrefix(o.Name, g.prefix)
			if ok && ValidKey(key) == nil {
				keys = append(keys, key)
			}
		}
		if next == "" {
			break
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func gcsError(op, key string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %q: %w", op, key, err)
}
