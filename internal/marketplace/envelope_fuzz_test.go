package marketplace

import (
	"errors"
	"testing"
)

// FuzzDecodeEnvelope feeds arbitrary Marketplace answers to the envelope decoder: it must
// return an error or data, never panic, and never succeed on a non-200 status.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(200, []byte(`{"code":0,"msg":"","data":{"plugins":[{"org":"a","name":"b","latest_package_identifier":"a/b:1.0.0@`+"0123456789abcdef0123456789abcdef"+`"}]}}`))
	f.Add(200, []byte(`{"code":-1,"msg":"plugin not found","data":null}`))
	f.Add(404, []byte(`not found`))
	f.Add(500, []byte(`{"msg":"boom"}`))
	f.Add(200, []byte(`{"data":{"versions":[{"version":"1","unique_identifier":7}]}}`))
	f.Fuzz(func(t *testing.T, status int, data []byte) {
		var out struct {
			Plugins  []Plugin  `json:"plugins"`
			Versions []Version `json:"versions"`
		}
		err := decodeEnvelope(status, data, &out, func(err error) error { return &Error{URL: "u", Err: err} })
		if status != 200 && err == nil {
			t.Fatalf("status %d decoded without error", status)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error %v is not *Error", err)
		}
	})
}
