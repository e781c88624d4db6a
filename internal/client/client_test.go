package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/client"
	"github.com/plugd/plugd/internal/client/clienttest"
)

const testKey = "a-test-key-of-enough-length"

func newPackage(t *testing.T, name string, size int) string {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientInstallLifecycle(t *testing.T) {
	ctx := context.Background()
	fake := clienttest.New(t, testKey)
	c := client.New(fake.URL()+"/", testKey, "tenant-1", fake.Client())

	pkg := newPackage(t, "echo.difypkg", 3<<20+17)
	var calls, last, lastTotal int64
	decoded, err := c.UploadPackage(ctx, pkg, false, func(sent, total int64) {
		if sent < last {
			t.Errorf("progress went back from %d to %d", last, sent)
		}
		calls++
		last, lastTotal = sent, total
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(decoded.UniqueIdentifier, "test/echo:0.0.1@") || decoded.Verification != nil || len(decoded.Manifest) == 0 {
		t.Fatalf("decoded %+v", decoded)
	}
	if calls == 0 || last != 3<<20+17 || lastTotal != last {
		t.Fatalf("progress: %d calls, last %d of %d", calls, last, lastTotal)
	}
	up := fake.Uploads()[0]
	if up.Filename != "echo.difypkg" || up.ContentType != "application/octet-stream" || up.VerifySignature != "false" || up.Size != 3<<20+17 {
		t.Fatalf("upload seen by the daemon: %+v", up)
	}
	if up.ContentLength <= up.Size {
		t.Fatalf("upload sent without a Content-Length: %d", up.ContentLength)
	}

	all, taskID, err := c.InstallIdentifiers(ctx, []string{decoded.UniqueIdentifier}, "package")
	if err != nil || all || taskID == "" {
		t.Fatalf("install: all %v task %q err %v", all, taskID, err)
	}
	var statuses []string
	var task client.Task
	for i := 0; i < 10 && !task.Done(); i++ {
		if task, err = c.Task(ctx, taskID); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, task.Status)
		if task.Status == client.TaskRunning && (task.Plugins[0].Phase == "" || task.Plugins[0].Progress == "") {
			t.Fatalf("running task without phase and progress: %+v", task.Plugins[0])
		}
	}
	if strings.Join(statuses, ",") != "pending,running,success" {
		t.Fatalf("statuses %v", statuses)
	}
	if task.Plugins[0].UniqueIdentifier != decoded.UniqueIdentifier || task.CompletedPlugins != 1 || task.CreatedAt.IsZero() {
		t.Fatalf("task %+v", task)
	}

	items, err := c.List(ctx)
	if err != nil || len(items) != 1 {
		t.Fatalf("list %v, %v", items, err)
	}
	it := items[0]
	if it.PluginID != "test/echo" || it.Version != "0.0.1" || it.Source != "package" || it.InstallationID == "" || it.UniqueIdentifier != decoded.UniqueIdentifier {
		t.Fatalf("item %+v", it)
	}

	// Installing the same plugin again is a no-op.
	all, taskID, err = c.InstallIdentifiers(ctx, []string{decoded.UniqueIdentifier}, "package")
	if err != nil || !all || taskID != "" {
		t.Fatalf("reinstall: all %v task %q err %v", all, taskID, err)
	}

	if err := c.Uninstall(ctx, it.InstallationID); err != nil {
		t.Fatal(err)
	}
	if items, err := c.List(ctx); err != nil || len(items) != 0 {
		t.Fatalf("after uninstall: %v, %v", items, err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	fake := clienttest.New(t, testKey)
	pkg := newPackage(t, "echo.difypkg", 100)
	tests := []struct {
		name string
		call func(c *client.Client) error
		key  string
		want client.APIError
	}{
		{"wrong key", func(c *client.Client) error { _, err := c.List(ctx); return err }, "wrong",
			client.APIError{HTTPStatus: 401, Code: -401, Type: "PluginDaemonUnauthorizedError", Message: "invalid key"}},
		{"signature refused", func(c *client.Client) error { _, err := c.UploadPackage(ctx, pkg, true, nil); return err }, testKey,
			client.APIError{HTTPStatus: 200, Code: -500, Type: "PluginDaemonInternalServerError", Message: "plugin verification has been enabled, and the plugin you want to install has a bad signature"}},
		{"unknown identifier", func(c *client.Client) error {
			_, _, err := c.InstallIdentifiers(ctx, []string{"a/b:1.0.0@" + strings.Repeat("0", 64)}, "package")
			return err
		}, testKey, client.APIError{HTTPStatus: 200, Code: -400, Type: "PluginUniqueIdentifierError", Message: "package a/b:1.0.0@" + strings.Repeat("0", 64) + " was not uploaded"}},
		{"unknown task", func(c *client.Client) error { _, err := c.Task(ctx, "nope/../x"); return err }, testKey,
			client.APIError{HTTPStatus: 200, Code: -500, Type: "PluginDaemonInternalServerError", Message: "record not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client.New(fake.URL(), tt.key, "t", fake.Client()))
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want an *APIError", err)
			}
			if *ae != tt.want {
				t.Fatalf("error %+v\nwant %+v", *ae, tt.want)
			}
			if tt.want.Code == -401 && !ae.Unauthorized() {
				t.Fatal("Unauthorized() false")
			}
		})
	}
}

func TestClientUploadNotAFile(t *testing.T) {
	c := client.New("http://127.0.0.1:1", testKey, "t", nil)
	if _, err := c.UploadPackage(context.Background(), t.TempDir(), false, nil); err == nil || !strings.Contains(err.Error(), "is not a file") {
		t.Fatalf("error %v", err)
	}
	if _, err := c.UploadPackage(context.Background(), filepath.Join(t.TempDir(), "missing.difypkg"), false, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v", err)
	}
}

func TestClientListPages(t *testing.T) {
	fake := clienttest.New(t, testKey)
	for i := range 600 {
		fake.Install("t", fmt.Sprintf("test/p%03d:1.0.0@%064d", i, i), "marketplace")
	}
	fake.Install("other", "test/elsewhere:1.0.0@"+strings.Repeat("1", 64), "package")
	items, err := client.New(fake.URL(), testKey, "t", fake.Client()).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 600 || items[0].PluginID != "test/p000" || items[599].PluginID != "test/p599" {
		t.Fatalf("%d items, first %q", len(items), items[0].PluginID)
	}
}

func TestClientListIgnoredPaging(t *testing.T) {
	// A server that always answers the first page must not make List loop or duplicate.
	var page []map[string]any
	for i := range 256 {
		page = append(page, map[string]any{"installation_id": fmt.Sprint(i), "plugin_id": fmt.Sprintf("a/p%d", i)})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"code": 0, "message": "success", "data": map[string]any{"list": page, "total": 1000}})
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, testKey, "t", srv.Client()).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("error %v", err)
	}
}

func TestClientDispatch(t *testing.T) {
	ctx := context.Background()
	fake := clienttest.New(t, testKey)
	fake.Install("t", "test/echo:0.0.1@"+strings.Repeat("a", 64), "package")
	c := client.New(fake.URL(), testKey, "t", fake.Client())
	body := func(tool string) map[string]any {
		return map[string]any{"user_id": "u1", "data": map[string]any{"provider": "echo_tools", "tool": tool, "tool_parameters": map[string]any{"text": "hi"}, "credentials": map[string]any{}, "credential_type": "api-key"}}
	}
	tests := []struct {
		name, plugin, tool string
		wantChunks         int
		wantErr            *client.APIError
	}{
		{"stream", "test/echo", "echo", 3, nil},
		{"plugin error mid-stream", "test/echo", "fail", 1, &client.APIError{HTTPStatus: 200, Code: -500, Type: "PluginInvokeError", PluginType: "ValueError", Message: "the tool failed on purpose"}},
		{"not installed", "test/nope", "echo", 0, &client.APIError{HTTPStatus: 404, Code: -404, Type: "PluginNotFoundError", Message: "plugin test/nope is not installed"}},
		{"failure before streaming", "test/echo", "boom", 0, &client.APIError{HTTPStatus: 500, Code: -500, Type: "PluginDaemonInternalServerError", Message: "no runtime for test/echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks []json.RawMessage
			err := c.Dispatch(ctx, tt.plugin, "tool/invoke", body(tt.tool), func(m json.RawMessage) error {
				chunks = append(chunks, m)
				return nil
			})
			if len(chunks) != tt.wantChunks {
				t.Fatalf("%d chunks, want %d: %s", len(chunks), tt.wantChunks, chunks)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				var first struct {
					Type    string `json:"type"`
					Message struct{ Text string }
				}
				if json.Unmarshal(chunks[0], &first) != nil || first.Type != "text" || first.Message.Text != "hi" {
					t.Fatalf("first chunk %s", chunks[0])
				}
				return
			}
			var ae *client.APIError
			if !errors.As(err, &ae) || *ae != *tt.wantErr {
				t.Fatalf("error %#v, want %+v", err, *tt.wantErr)
			}
		})
	}
	d := fake.Dispatches()[0]
	if d.Path != "tool/invoke" || d.PluginID != "test/echo" || !bytes.Contains(d.Body, []byte(`"credential_type":"api-key"`)) {
		t.Fatalf("request seen by the daemon: %+v", d)
	}
}

func TestClientDispatchCallbackError(t *testing.T) {
	fake := clienttest.New(t, testKey)
	fake.Install("t", "test/echo:0.0.1@"+strings.Repeat("a", 64), "package")
	c := client.New(fake.URL(), testKey, "t", fake.Client())
	stop := errors.New("stop")
	n := 0
	err := c.Dispatch(context.Background(), "test/echo", "/tool/invoke", map[string]any{"data": map[string]any{"tool": "echo"}}, func(json.RawMessage) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("error %v after %d chunks", err, n)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := client.New(url, testKey, "t", nil).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(url, "http://")) {
		t.Fatalf("error %v does not name the address", err)
	}
}
