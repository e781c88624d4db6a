package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azureblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// azureBlockSize and azureConcurrency bound one upload's memory (blocks in flight, each in a
// buffer of this size): 16 MiB per Put, whatever the object's size. Azure allows 50,000 blocks,
// so the largest object is about 195 GiB.
const (
	azureBlockSize   = 4 << 20
	azureConcurrency = 4
)

// AzureConfig says where an Azure Blob store keeps its objects. The reference daemon's
// settings are AZURE_BLOB_STORAGE_CONNECTION_STRING and AZURE_BLOB_STORAGE_CONTAINER_NAME;
// AZURE_BLOB_STORAGE_ACCOUNT_URL with AZURE_BLOB_STORAGE_USE_MANAGED_IDENTITY is the other way
// in, and plugd refuses it with a clear error (see NewAzure).
type AzureConfig struct {
	// ConnectionString is the account's connection string as the Azure portal (or Azurite's
	// documentation) gives it: AccountName, AccountKey and BlobEndpoint or EndpointSuffix.
	ConnectionString string
	Container        string
	// Prefix is prepended to every key, so several daemons or tests can share a container.
	Prefix string
	// CreateContainer creates the container when it does not exist; otherwise NewAzure fails.
	CreateContainer bool
	// MaxRetries bounds the SDK's retries of one request (0: 3). Tests lower it so that a
	// server that went away fails the call in seconds.
	MaxRetries int32
}

// Azure is a Store in a container of Azure Blob Storage (or Azurite). Objects are block
// blobs: Put stages blocks and commits the list only once every byte has been read and sent,
// so a failed or cancelled Put leaves at most uncommitted blocks, which no read sees and
// Azure discards after a week.
type Azure struct {
	client    *container.Client
	container string
	prefix    string // "" or ends with "/"
	listPage  int32  // page size of List; 0 for the service's default (5000)
}

var _ Store = (*Azure)(nil)

// NewAzure connects and checks that the container exists, creating it when asked.
func NewAzure(ctx context.Context, cfg AzureConfig) (*Azure, error) {
	if cfg.ConnectionString == "" {
		return nil, errors.New("blob: Azure connection string is not set")
	}
	if cfg.Container == "" {
		return nil, errors.New("blob: Azure container name is not set")
	}
	prefix, err := cleanPrefix("Azure", cfg.Prefix)
	if err != nil {
		return nil, err
	}
	retries := cfg.MaxRetries
	if retries == 0 {
		retries = 3
	}
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: retries},
	}}
	svc, err := azblob.NewClientFromConnectionString(cfg.ConnectionString, opts)
	if err != nil {
		// The SDK's message can quote the string, and with it the account key.
		return nil, errors.New("blob: Azure connection string: want AccountName=...;AccountKey=...;BlobEndpoint=... (or EndpointSuffix=...)")
	}
	c := svc.ServiceClient().NewContainerClient(cfg.Container)
	where := fmt.Sprintf("container %q at %s", cfg.Container, c.URL())
	if _, err := c.GetProperties(ctx, nil); err != nil {
		if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("blob: Azure %s: %w", where, azureCause(err))
		}
		if !cfg.CreateContainer {
			return nil, fmt.Errorf("blob: Azure %s does not exist", where)
		}
		if _, err := c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return nil, fmt.Errorf("blob: Azure create %s: %w", where, azureCause(err))
		}
	}
	return &Azure{client: c, container: cfg.Container, prefix: prefix}, nil
}

// AzuriteConnectionString is the connection string of an account at an explicit blob
// endpoint, such as Azurite's http://127.0.0.1:10000/devstoreaccount1.
func AzuriteConnectionString(endpoint, account, key string) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", account, key, endpoint)
}

func (a *Azure) name(key string) (string, error) { return objectName(a.prefix, key) }

// Put streams r into block blobs of 4 MiB, four in flight.
func (a *Azure) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := a.name(key)
	if err != nil {
		return err
	}
	if err := checkPut(ctx, key, size); err != nil {
		return err
	}
	b := newBody(ctx, r, size)
	ct := "application/octet-stream"
	_, err = a.client.NewBlockBlobClient(name).UploadStream(ctx, b, &azblob.UploadStreamOptions{
		BlockSize:   azureBlockSize,
		Concurrency: azureConcurrency,
		HTTPHeaders: &azureblob.HTTPHeaders{BlobContentType: &ct},
	})
	if err != nil {
		return fmt.Errorf("blob: put %q: %w", key, b.failure(azureCause(err)))
	}
	return nil
}

// Get starts the download, so a missing object is reported here.
func (a *Azure) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := a.name(key)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, azureError("get", key, err)
	}
	return resp.Body, nil
}

func (a *Azure) Stat(ctx context.Context, key string) (int64, error) {
	name, err := a.name(key)
	if err != nil {
		return 0, err
	}
	props, err := a.client.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return 0, azureError("stat", key, err)
	}
	if props.ContentLength == nil {
		return 0, fmt.Errorf("blob: stat %q: the service sent no Content-Length", key)
	}
	return *props.ContentLength, nil
}

func (a *Azure) Delete(ctx context.Context, key string) error {
	name, err := a.name(key)
	if err != nil {
		return err
	}
	_, err = a.client.NewBlobClient(name).Delete(ctx, nil)
	if err != nil && !errors.Is(azureError("delete", key, err), ErrNotFound) {
		return azureError("delete", key, err)
	}
	return nil
}

// List pages through the blobs under prefix. Names that are not valid keys (written by
// other tools) are left out, as S3's List does.
func (a *Azure) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	opts := &container.ListBlobsFlatOptions{Prefix: ptr(a.prefix + prefix)}
	if a.listPage > 0 {
		opts.MaxResults = &a.listPage
	}
	keys := []string{}
	pager := a.client.NewListBlobsFlatPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("blob: list %q: %w", prefix, azureCause(err))
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			key, ok := strings.CutPrefix(*item.Name, a.prefix)
			if ok && ValidKey(key) == nil {
				keys = append(keys, key)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// azureError maps a missing blob to ErrNotFound. A missing container is a misconfiguration,
// not a missing object, and stays an error of its own.
func azureError(op, key string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrNotFound)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "" {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrNotFound) // HEAD answers carry no code
	}
	return fmt.Errorf("blob: %s %q: %w", op, key, azureCause(err))
}

// azureCause shortens the SDK's multi-line error (request, headers, body) to its status and
// code: the whole text belongs in a debug log, not in an install's failure message.
func azureCause(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = http.StatusText(re.StatusCode)
		}
		return &azureStatusError{status: re.StatusCode, code: code, err: err}
	}
	return err
}

type azureStatusError struct {
	status int
	code   string
	err    error
}

func (e *azureStatusError) Error() string {
	return fmt.Sprintf("Azure answered %d %s", e.status, e.code)
}
func (e *azureStatusError) Unwrap() error { return e.err }

func ptr[T any](v T) *T { return &v }
