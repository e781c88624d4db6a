package backwards

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// FuzzStorageRequest feeds the decoder what a plugin could send. It must never panic, must
// refuse with ErrBadRequest or ErrInvalidKey, and anything it accepts must be a known op with a
// valid key that survives a round trip through the wire form.
func FuzzStorageRequest(f *testing.F) {
	for _, s := range []string{
		`{"opt":"get","key":"k"}`,
		`{"opt":"set","key":"k","value":"776f726c64"}`,
		`{"opt":"del","key":"k"}`,
		`{"opt":"exist","key":"k","tenant_id":"t","user_id":"u","type":"storage"}`,
		`{"opt":"set","key":"k","value":""}`,
		`{"opt":"set","key":"../../etc/passwd","value":"00"}`,
		`{"opt":"set","key":"k","value":"0"}`,
		`{"opt":"get"}`,
		`{"opt":null,"key":null}`,
		`{"opt":"get","key":"\u0000"}`,
		`[]`, `null`, `"get"`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeStorageRequest(data)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is neither ErrBadRequest nor ErrInvalidKey", err)
			}
			return
		}
		switch r.Op {
		case StorageGet, StorageDel, StorageExist:
			if r.Value != nil {
				t.Fatalf("%s carries a value", r.Op)
			}
		case StorageSet:
		default:
			t.Fatalf("accepted op %q", r.Op)
		}
		if err := ValidateKey(r.Key); err != nil {
			t.Fatalf("accepted key %q: %v", r.Key, err)
		}
		in := map[string]string{"opt": string(r.Op), "key": r.Key}
		if r.Op == StorageSet {
			in["value"] = hex.EncodeToString(r.Value)
		}
		b, _ := json.Marshal(in)
		again, err := DecodeStorageRequest(b)
		if err != nil || again.Op != r.Op || again.Key != r.Key || !bytes.Equal(again.Value, r.Value) {
			t.Fatalf("round trip of %+v gave %+v, %v", r, again, err)
		}
	})
}

// recordInner is an Inner that answers every call with {"data": <the body's data>}, the
// shape of invoke/encrypt, and keeps the last body.
type recordInner struct{ body map[string]any }

func (r *recordInner) Unary(_ context.Context, _ string, body any) (json.RawMessage, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	r.body = nil
	if err := json.Unmarshal(b, &r.body); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"data": r.body["data"]})
}

func (r *recordInner) Stream(ctx context.Context, path string, body any, each func(json.RawMessage) error) error {
	d, err := r.Unary(ctx, path, body)
	if err != nil {
		return err
	}
	return each(d)
}

// FuzzDifyRequest feeds Dify what a plugin could send as a request. It must refuse anything
// but a JSON object with ErrBadRequest, and whatever it sends on must carry the session's
// tenant, user and type, never the plugin's.
func FuzzDifyRequest(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"tenant_id":"evil","user_id":"x","type":"tool"}`, `{"a":[1,{"b":null}]}`,
		`[]`, `null`, `"s"`, `{`, `{"a":1}{}`, ``, `{"tenant_id":{"nested":true}}`,
	} {
		f.Add([]byte(s))
	}
	c := Caller{PluginID: "me/p", TenantID: "t1", UserID: "u1", Access: wire.AccessTool,
		Permissions: &manifest.Permission{Model: &manifest.ModelPermission{Enabled: true, LLM: true}}}
	f.Fuzz(func(t *testing.T, req []byte) {
		in := &recordInner{}
		err := NewDify(nil, in).Invoke(context.Background(), c, wire.Invocation{Type: wire.BackwardsSystemSummary, RequestID: "r", Request: req},
			func(json.RawMessage) error { return nil })
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(req, &obj) == nil && obj != nil
		if !isObject {
			if !errors.Is(err, ErrBadRequest) || in.body != nil {
				t.Fatalf("request %q: error %v, body sent %v", req, err, in.body)
			}
			return
		}
		if in.body == nil {
			t.Fatalf("request %q was not sent (%v)", req, err)
		}
		if in.body["tenant_id"] != "t1" || in.body["user_id"] != "u1" || in.body["type"] != "system_summary" {
			t.Fatalf("request %q went out as %v", req, in.body)
		}
	})
}

// FuzzEndpointSettings feeds Endpoint settings and configs as a database row or an HTTP
// caller could hold them. Bad ones are refused with ErrBadRequest; good ones come back as a
// JSON object, through Dify only when the config has a secret field.
func FuzzEndpointSettings(f *testing.F) {
	for _, s := range [][2]string{
		{`{"k":"v"}`, `[{"name":"k","type":"secret-input"}]`},
		{`{"k":"v"}`, `[{"name":"k","type":"text-input"}]`},
		{``, ``}, {`null`, `null`}, {`[1]`, `[]`}, {`{}`, `{}`}, {`{"k":1}`, `[1]`}, {`{`, `[`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, settings, config []byte) {
		in := &recordInner{}
		out, err := NewDify(nil, in).Endpoint(context.Background(), "t", "e", EndpointDecrypt, settings, config)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v is neither ErrBadRequest nor ErrBadReply", err)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(out, &m) != nil || m == nil {
			t.Fatalf("result %q is not a JSON object", out)
		}
		secret := bytes.Contains(config, []byte("secret-input"))
		if !secret && in.body != nil {
			t.Fatalf("Dify called for config %q", config)
		}
	})
}
