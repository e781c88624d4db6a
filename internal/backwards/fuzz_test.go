package backwards

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
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
