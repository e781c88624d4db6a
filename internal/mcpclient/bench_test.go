package mcpclient_test

import (
	"testing"

	"github.com/plugd/plugd/internal/mcpclient"
)

// BenchmarkCall is one tools/call through the catalog and the pooled session: to the Go SDK's
// streamable HTTP server in-process (loopback, through the egress guard), and to
// server-everything over stdio (node). Sequential and 16 callers at a time on one session.
func BenchmarkCall(b *testing.B) {
	run := func(b *testing.B, e env, id, tool string, args map[string]any) {
		ctx := b.Context()
		if _, err := e.call(ctx, "t1", id, tool, args); err != nil { // start the session
			b.Fatal(err)
		}
		b.Run("sequential", func(b *testing.B) {
			for b.Loop() {
				if _, err := e.call(ctx, "t1", id, tool, args); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("parallel16", func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.call(ctx, "t1", id, tool, args); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("sdk-http", func(b *testing.B) {
		up := newSDKServer(b)
		e := newEnv(b, mcpclient.Options{Egress: loopbackAllowed(b)})
		p := e.add(b, "t1", mcpclient.Server{Name: "sdk", URL: up.url})
		run(b, e, p.ID, "upper", map[string]any{"text": "abc"})
	})
	b.Run("everything-stdio", func(b *testing.B) {
		js := need(b, "PLUGD_TEST_MCP_EVERYTHING")
		e := newEnv(b, mcpclient.Options{})
		p := e.add(b, "t1", mcpclient.Server{Name: "everything", Command: node(b), Args: []string{js, "stdio"}})
		run(b, e, p.ID, "echo", map[string]any{"message": "abc"})
	})
}
