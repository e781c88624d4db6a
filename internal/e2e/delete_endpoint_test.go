package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// TestDeleteEndpointAcceptsReferenceAnswer checks the Dify-like client against the
// reference's own answer for a missing endpoint (testdata/vectors/http/endpoint_remove_missing.json at the top,
// built from the reference's code at bdb5642a, see internal/httpapi TestEndpointRemoveMissing)
// and against plugd's former -404: Dify's delete_endpoint takes the first as success and raises
// the second, which is why plugd answers as the reference does.
func TestDeleteEndpointAcceptsReferenceAnswer(t *testing.T) {
	reference, err := os.ReadFile("../../testdata/vectors/http/endpoint_remove_missing.json")
	if err != nil {
		t.Fatal(err)
	}
	notFound := []byte(`{"code":-404,"message":"{\"message\":\"endpoint x: not found\",\"error_type\":\"PluginDaemonNotFoundError\",\"args\":null}","data":null}`)
	for _, tc := range []struct {
		name   string
		body   []byte
		wantOK bool
	}{
		{"reference record not found", reference, true},
		{"a -404 not found", notFound, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/plugin/t1/endpoint/remove" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.Write(tc.body)
			}))
			defer srv.Close()
			ok, err := newDifyClient(srv.URL, "k", "t1").deleteEndpoint(t.Context(), "x")
			if tc.wantOK && (err != nil || !ok) {
				t.Fatalf("delete_endpoint: %v, %v; want true", ok, err)
			}
			if !tc.wantOK && err == nil {
				t.Fatalf("delete_endpoint: %v, nil; want Dify to raise", ok)
			}
		})
	}
}
