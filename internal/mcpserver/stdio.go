package mcpserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Relay serves a daemon's MCP endpoint over another transport: `plugd mcp serve` puts a
// tenant's tools on stdio for desktop clients, which start servers as commands. Plugins keep
// running in the daemon; the relay is an SDK client of the daemon's streamable-HTTP endpoint
// and an SDK server on the local transport, mirroring the daemon's tools (again on
// list_changed), forwarding calls with their progress tokens and cancellation, and passing
// progress notifications back.
type Relay struct {
	Endpoint string // the daemon's /mcp/{tenant}[/sets/{set}] URL
	Token    string // a bearer token for it
	Version  string
	// HTTPClient is the base client (nil: http.DefaultClient's transport).
	HTTPClient *http.Client
}

// Serve runs until the local side disconnects or ctx ends.
func (r Relay) Serve(ctx context.Context, local mcp.Transport) error {
	base := http.DefaultTransport
	if r.HTTPClient != nil && r.HTTPClient.Transport != nil {
		base = r.HTTPClient.Transport
	}
	hc := &http.Client{Transport: bearer{token: r.Token, next: base}}
	down := mcp.NewServer(&mcp.Implementation{Name: "plugd", Title: "plugd tools", Version: r.Version}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})

	var (
		mu       sync.Mutex
		progress = map[any]*mcp.ServerSession{} // progress token -> the session that asked
		have     = map[string]string{}          // tool name -> checksum of its definition
		up       *mcp.ClientSession
		syncMu   sync.Mutex
	)
	forward := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		params := &mcp.CallToolParams{Name: req.Params.Name, Arguments: req.Params.Arguments}
		if tok := req.Params.GetProgressToken(); tok != nil {
			params.SetProgressToken(tok)
			mu.Lock()
			progress[tok] = req.Session
			mu.Unlock()
			defer func() { mu.Lock(); delete(progress, tok); mu.Unlock() }()
		}
		return up.CallTool(ctx, params)
	}
	mirror := func(ctx context.Context) error {
		syncMu.Lock()
		defer syncMu.Unlock()
		seen := map[string]bool{}
		for t, err := range up.Tools(ctx, nil) {
			if err != nil {
				return fmt.Errorf("listing the daemon's tools: %w", err)
			}
			seen[t.Name] = true
			sum := checksum(t)
			if have[t.Name] == sum {
				continue
			}
			if err := addTool(down, t, forward); err != nil {
				continue
			}
			have[t.Name] = sum
		}
		var gone []string
		for name := range have {
			if !seen[name] {
				gone = append(gone, name)
				delete(have, name)
			}
		}
		if len(gone) > 0 {
			slices.Sort(gone)
			down.RemoveTools(gone...)
		}
		return nil
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "plugd-relay", Version: r.Version}, &mcp.ClientOptions{
		ToolListChangedHandler: func(ctx context.Context, _ *mcp.ToolListChangedRequest) {
			go mirror(context.WithoutCancel(ctx))
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			ss := progress[req.Params.ProgressToken]
			mu.Unlock()
			if ss != nil {
				_ = ss.NotifyProgress(ctx, req.Params)
			}
		},
	})
	var err error
	up, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.Endpoint, HTTPClient: hc}, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", r.Endpoint, err)
	}
	defer up.Close()
	if err := mirror(ctx); err != nil {
		return err
	}
	return down.Run(ctx, local)
}

// bearer adds the token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
