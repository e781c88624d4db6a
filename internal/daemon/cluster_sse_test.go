package daemon

import "testing"

func TestSSESessionID(t *testing.T) {
	for _, c := range []struct {
		head, want string
		ok         bool
	}{
		{"event: endpoint\ndata: /sse/t1?sessionid=ABC234\n\n", "ABC234", true},
		{"event: endpoint\ndata: /sse/t1/sets/s?sessionid=X%2BY&z=1\n\n", "X+Y", true},
		{"event: endpoint\ndata: /sse/t1?sessionid=ABC", "", false}, // the line is not whole yet
		{"event: endpoint\ndata: /sse/t1?sessionid=\n", "", false},
		{"event: endpoint\ndata: /sse/t1?sessionid=a%20b\n", "", false},
		{"event: endpoint\ndata: /sse/t1\n\n", "", false},
	} {
		got, ok := sseSessionID([]byte(c.head))
		if got != c.want || ok != c.ok {
			t.Errorf("sseSessionID(%q) = %q, %v; want %q, %v", c.head, got, ok, c.want, c.ok)
		}
	}
}

// FuzzSSESessionID: whatever a stream starts with, the id found is a non-empty word.
func FuzzSSESessionID(f *testing.F) {
	f.Add([]byte("event: endpoint\ndata: /sse/t?sessionid=ABC\n\n"))
	f.Add([]byte("sessionid=%zz\n"))
	f.Add([]byte("sessionid=&"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := sseSessionID(b)
		if ok && (id == "" || len(id) > len(b)) {
			t.Fatalf("sseSessionID(%q) = %q", b, id)
		}
	})
}
