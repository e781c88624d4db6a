package mcpserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

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
		progress = map[string]pending{} // the relay's progress token -> who asked, with what token
		seq      int
		have     = map[string]string{} // tool name -> checksum of its definition
		up       *mcp.ClientSession
		syncMu   sync.Mutex
	)
	forward := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		params := &mcp.CallToolParams{Name: req.Params.Name, Arguments: req.Params.Arguments}
		if tok := req.Params.GetProgressToken(); tok != nil {
			// The local token may be any JSON number or string; upstream gets one of the
			// relay's own, mapped back when progress arrives.
			mu.Lock()
			seq++
			own := fmt.Sprintf("relay-%d", seq)
			progress[own] = pending{req.Session, tok}
			mu.Unlock()
			params.SetProgressToken(own)
			// Notifications are handled apart from responses, so the last ones may arrive
			// after the call returned: the mapping outlives the call a little.
			defer time.AfterFunc(10*time.Second, func() { mu.Lock(); delete(progress, own); mu.Unlock() })
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
			own, _ := req.Params.ProgressToken.(string)
			mu.Lock()
			p, ok := progress[own]
			mu.Unlock()
			if ok {
				fwd := *req.Params
				fwd.ProgressToken = p.token
				_ = p.session.NotifyProgress(ctx, &fwd)
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

// pending is a relayed call that asked for progress.
type pending struct {
	session *mcp.ServerSession
	token   any
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
