package cluster

import (
	"encoding/json"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoders of what other nodes write to Redis (bus
// messages, heartbeats): they must refuse or decode, never panic, and what they accept must
// survive a round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"t":"release","p":"a/b:1@x","from":"n1"}`))
	f.Add([]byte(`{"id":"n1","addr":"http://127.0.0.1:5002","started_at":"2026-12-07T10:00:00Z","seen_at":"2026-12-07T10:00:01Z","draining":false,"leader":true,"active_requests":3,"plugins":[{"plugin_unique_identifier":"a/b:1@x","state":"ready","in_flight":1,"processes":1}]}`))
	f.Add([]byte(`{"t":""}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, ok := decodeMessage(b); ok {
			again, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if m2, ok := decodeMessage(again); !ok || m2 != m {
				t.Fatalf("message round trip: %+v -> %+v", m, m2)
			}
		}
		if n, ok := decodeNode(b); ok {
			again, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			if n2, ok := decodeNode(again); !ok || n2.ID != n.ID || len(n2.Plugins) != len(n.Plugins) {
				t.Fatalf("node round trip: %+v -> %+v", n, n2)
			}
		}
	})
}
