package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/blob/blobtest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/scaffold"
	"github.com/plugd/plugd/internal/store"
)

// TestUploadWhenStorageDies: the S3 server (MinIO, scripts/s3.sh) goes away while a 24 MiB
// package is being stored. The upload fails with an error, no declaration is recorded, no
// package object is visible, and once the server is reachable again the same package uploads
// and installs: nothing half-written was left to be used or to stand in the way.
func TestUploadWhenStorageDies(t *testing.T) {
	endpoint := os.Getenv("PLUGD_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_S3_ENDPOINT is not set; run scripts/s3.sh")
		}
		t.Skip("PLUGD_TEST_S3_ENDPOINT is not set; run scripts/s3.sh and export what it prints")
	}
	ctx := context.Background()
	cfg := blob.S3Config{
		Endpoint:  endpoint,
		Bucket:    os.Getenv("PLUGD_TEST_S3_BUCKET"),
		AccessKey: os.Getenv("PLUGD_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("PLUGD_TEST_S3_SECRET_KEY"),
		PathStyle: true,
		Prefix:    "plugd-install-test-" + strings.ToLower(rand.Text()),
	}
	direct, err := blob.NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		keys, _ := direct.List(ctx, "")
		for _, k := range keys {
			direct.Delete(ctx, k)
		}
	})
	proxy := blobtest.NewCutProxy(t, strings.TrimPrefix(endpoint, "http://"))
	viaProxy := cfg
	viaProxy.Endpoint = "http://" + proxy.Addr()
	viaProxy.MaxRetries = 2
	dying, err := blob.NewS3(ctx, viaProxy)
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t)
	pkg := bigPackage(t, "heavy", 24<<20)
	limit := func(c *Config) { c.MaxPackageSize = 64 << 20 }
	e.blob = dying
	m := e.manager(t, limit)
	proxy.ArmAfter(8 << 20) // the icons are stored first; the package's body is cut
	start := time.Now()
	_, err = m.Upload(ctx, "t1", bytes.NewReader(pkg), false)
	if err == nil {
		t.Fatal("an upload whose storage went away succeeded")
	}
	if !strings.Contains(err.Error(), "storing the package") {
		t.Errorf("the error does not say what failed: %v", err)
	}
	t.Logf("upload failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	// The package's identifier, learnt from an upload elsewhere (a local folder).
	other := newEnv(t)
	known, err := other.manager(t, limit).Upload(ctx, "t1", bytes.NewReader(pkg), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetDeclaration(ctx, known.UniqueIdentifier); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("declaration after the failed upload: %v; want none", err)
	}
	keys, err := direct.List(ctx, "packages/")
	if err != nil || len(keys) != 0 {
		t.Fatalf("packages in storage after the failed upload: %q, %v", keys, err)
	}

	// The server is back (a store that does not go through the dead proxy).
	e.blob = direct
	m2 := e.manager(t, limit)
	d, err := m2.Upload(ctx, "t1", bytes.NewReader(pkg), false)
	if err != nil {
		t.Fatalf("upload once the storage is back: %v", err)
	}
	st, err := m2.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	if err != nil {
		t.Fatal(err)
	}
	if task := waitTask(t, e.store, "t1", st.TaskID); task.Status != store.TaskSuccess {
		t.Fatalf("install once the storage is back: %+v", task)
	}
	if keys, err := direct.List(ctx, "packages/"); err != nil || len(keys) != 1 {
		t.Fatalf("packages in storage: %q, %v", keys, err)
	}
	if size, err := direct.Stat(ctx, packageKeyOf(t, d.UniqueIdentifier)); err != nil || size != int64(len(pkg)) {
		t.Fatalf("stored package: %d bytes, %v; want %d", size, err, len(pkg))
	}
}

func packageKeyOf(t *testing.T, uid string) string {
	t.Helper()
	id, err := ParseIdentifier(uid)
	if err != nil {
		t.Fatal(err)
	}
	return packageKey(id)
}

// bigPackage is a tool plugin carrying extra bytes of incompressible data.
func bigPackage(t *testing.T, name string, extra int) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	err := scaffold.Generate(dir, scaffold.Options{
		Name: name, Author: "tester", Description: "test plugin", Category: scaffold.Tool,
		Permissions: scaffold.Permissions{}, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, extra)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := pkgfile.Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tree.WriteZip(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
