package debugging

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzRegistration feeds arbitrary bytes as a connection's stream to the registration reader:
// it must not panic, must stop within its bounds, and whatever it decides must be consistent
// (a refusal is one line and never echoes the valid key; an accepted registration is whole).
func FuzzRegistration(f *testing.F) {
	seeds := []string{
		fullRegistration,
		lineHeartbeat + lineHandshake + lineHeartbeat + lineManifest + lineTools + lineIcon + "\n\n" + lineEnd + lineHeartbeat,
		lineHandshake + lineManifest + lineTools + lineEnd,
		lineHandshake + lineManifest + lineIcon + lineEnd,
		lineHandshake + lineTools + lineEnd,
		lineHandshake + lineHandshake,
		lineHandshake + lineManifest + lineManifest,
		lineManifest + lineHandshake,
		`{"type":"handshake","data":{"key":"99999999-aaaa-bbbb-cccc-dddddddddddd"}}` + "\n",
		`{"type":"handshake","data":{"key":"` + storeDown + `"}}` + "\n",
		`{"type":"handshake","data":{"key":null}}` + "\n",
		`{"type":"handshake"}` + "\n",
		`{"type":7,"data":{}}` + "\n",
		lineHandshake + `{"type":"model_declaration","data":{}}` + "\n",
		lineHandshake + `{"type":"endpoint_declaration","data":[]}` + "\n",
		lineHandshake + `{"type":"trigger_declaration","data":[1,{}]}` + "\n",
		lineHandshake + `{"type":"asset_chunk","data":{"filename":"../a","data":"eA=="}}` + "\n",
		lineHandshake + `{"type":"asset_chunk","data":{"filename":"a","data":"%%"}}` + "\n",
		lineHandshake + `{"type":"widget","data":{}}` + "\n",
		lineHandshake + strings.Replace(lineManifest, `"name":"echo"`, `"name":"bad"`, 1) + lineTools + lineEnd,
		lineHandshake + lineManifest + lineTools + lineEnd[:10],
		"\x00\xff{\n}\n\n[]\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s := New(Config{
		Keys:      fakeKeys{},
		Decode:    fakeDecode,
		Attach:    func(context.Context, Attachment) error { return nil },
		MaxLine:   8 << 10,
		MaxAssets: 4 << 10,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := s.register(context.Background(), bytes.NewReader(data), nil, time.Now(), nil)
		if reg == nil {
			t.Fatal("no registration returned")
		}
		if reg.assetBytes > s.cfg.MaxAssets {
			t.Fatalf("assets %d bytes over the bound %d", reg.assetBytes, s.cfg.MaxAssets)
		}
		var ref *refusal
		switch {
		case err == nil:
			if reg.plugin == nil || reg.tenant != goodTenant || reg.manifest == nil || len(reg.providers) == 0 || reg.rest == nil {
				t.Fatalf("accepted an incomplete registration: %+v", reg)
			}
		case errors.As(err, &ref):
			if strings.ContainsAny(ref.reply, "\r\n") {
				t.Fatalf("reply is not one line: %q", ref.reply)
			}
			if strings.Contains(ref.reply, goodKey) || strings.Contains(ref.reply, storeDown) {
				t.Fatalf("reply echoes a key: %q", ref.reply)
			}
		case !errors.Is(err, errPeerGone):
			t.Fatalf("unexpected error %v", err)
		}
	})
}
