package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
)

// Call runs one tool of an mcp provider through its pooled session. The call is bounded by
// the provider's sse_read_timeout; a server that never answers fails the call (and the SDK
// sends notifications/cancelled) without holding anything else up, since other calls and
// the catalog's listings never wait on it.
func (p *Pool) Call(ctx context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	e, sess, err := p.acquire(ctx, inv.Tenant, inv.Provider, inv.Credentials)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", catalog.ErrCallFailed, err)
	}
	defer e.release()
	limit := e.cfg.callTimeout()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := sess.CallTool(cctx, &mcp.CallToolParams{Name: inv.Tool.Name, Arguments: inv.Arguments})
	if err != nil {
		if connectionLost(err) {
			e.dropped(sess)
		}
		switch {
		case errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, fmt.Errorf("mcp server %q did not answer tools/call %s within %s (sse_read_timeout): %w",
				inv.Provider.Name, inv.Tool.Name, limit, catalog.ErrCallFailed)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("mcp server %q, tools/call %s: %w%s: %w", inv.Provider.Name, inv.Tool.Name, err, e.stderrTail(), catalog.ErrCallFailed)
	}
	msgs, err := Messages(res)
	if err != nil {
		return nil, fmt.Errorf("mcp server %q, tools/call %s: %w", inv.Provider.Name, inv.Tool.Name, err)
	}
	return &sliceStream{msgs: msgs}, nil
}

// connectionLost tells an error of a session whose connection ended (the process exited, the
// stream broke) from an error answer.
func connectionLost(err error) bool {
	return errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Discover lists the server's tools (every page) as catalog tools.
func (p *Pool) Discover(ctx context.Context, tenant string, prov catalog.Provider) ([]catalog.Tool, error) {
	e, sess, err := p.acquire(ctx, tenant, prov, prov.Credentials)
	if err != nil {
		return nil, err
	}
	defer e.release()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout())
	defer cancel()
	return listTools(ctx, sess)
}

// maxTools caps what one server may list: a server paging for ever fills no memory.
const maxTools = 10000

func listTools(ctx context.Context, sess *mcp.ClientSession) ([]catalog.Tool, error) {
	tools := []catalog.Tool{}
	for t, err := range sess.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		if len(tools) == maxTools {
			return nil, fmt.Errorf("tools/list: the server lists more than %d tools", maxTools)
		}
		ct, err := catalogTool(t)
		if err != nil {
			return nil, err
		}
		tools = append(tools, ct)
	}
	return tools, nil
}

// catalogTool turns an MCP tool into the catalog's form; the input schema is kept as given
// (an object schema, as MCP requires).
func catalogTool(t *mcp.Tool) (catalog.Tool, error) {
	if t == nil || t.Name == "" {
		return catalog.Tool{}, errors.New("tools/list: a tool has no name")
	}
	in := json.RawMessage(`{"type":"object"}`)
	if t.InputSchema != nil {
		b, err := json.Marshal(t.InputSchema)
		if err != nil {
			return catalog.Tool{}, fmt.Errorf("tools/list: the input schema of %s: %w", t.Name, err)
		}
		in = b
	}
	ct := catalog.Tool{Name: t.Name, Label: t.Title, Description: t.Description, InputSchema: in}
	if ct.Label == "" && t.Annotations != nil {
		ct.Label = t.Annotations.Title
	}
	if ct.Label == "" {
		ct.Label = t.Name
	}
	if t.OutputSchema != nil {
		b, err := json.Marshal(t.OutputSchema)
		if err != nil {
			return catalog.Tool{}, fmt.Errorf("tools/list: the output schema of %s: %w", t.Name, err)
		}
		ct.OutputSchema = b
	}
	return ct, nil
}

// Messages maps a tools/call result to the catalog's message kinds: text to text, images,
// audio and embedded resources to blobs with their MIME type (a text resource's text as its
// bytes), resource links to links, and structuredContent to one json message after them. A
// result flagged isError is an error carrying its text.
func Messages(res *mcp.CallToolResult) ([]catalog.Message, error) {
	if res == nil {
		return nil, errors.New("empty result")
	}
	if res.IsError {
		var texts []string
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				texts = append(texts, t.Text)
			}
		}
		msg := strings.Join(texts, "\n")
		if msg == "" {
			msg = "the tool reported an error without text"
		}
		return nil, fmt.Errorf("%s: %w", msg, catalog.ErrCallFailed)
	}
	var out []catalog.Message
	for i, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			out = append(out, catalog.TextMessage(c.Text))
		case *mcp.ImageContent:
			out = append(out, catalog.BlobMessage(c.Data, orMIME(c.MIMEType, "image/png")))
		case *mcp.AudioContent:
			out = append(out, catalog.BlobMessage(c.Data, orMIME(c.MIMEType, "audio/wav")))
		case *mcp.EmbeddedResource:
			if c.Resource == nil {
				return nil, fmt.Errorf("result content %d is a resource without its contents: %w", i, catalog.ErrCallFailed)
			}
			if r := c.Resource; r != nil {
				data := r.Blob
				if data == nil {
					data = []byte(r.Text)
				}
				def := "application/octet-stream"
				if r.Blob == nil {
					def = "text/plain"
				}
				m := catalog.BlobMessage(data, orMIME(r.MIMEType, def))
				m.Meta, _ = json.Marshal(map[string]string{"mime_type": orMIME(r.MIMEType, def), "uri": r.URI})
				out = append(out, m)
			}
		case *mcp.ResourceLink:
			b, _ := json.Marshal(map[string]string{"text": c.URI})
			out = append(out, catalog.Message{Type: "link", Message: b})
		default:
			b, _ := json.Marshal(c)
			out = append(out, catalog.TextMessage(string(b)))
		}
	}
	if res.StructuredContent != nil {
		m, err := catalog.JSONMessage(res.StructuredContent)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func orMIME(m, def string) string {
	if m == "" {
		return def
	}
	return m
}

// sliceStream is a finished call's messages.
type sliceStream struct {
	msgs []catalog.Message
	i    int
}

func (s *sliceStream) Next() (catalog.Message, error) {
	if s.i >= len(s.msgs) {
		return catalog.Message{}, io.EOF
	}
	s.i++
	return s.msgs[s.i-1], nil
}

func (s *sliceStream) Close() { s.i = len(s.msgs) }

// NewProvider connects to the server described by s once (detecting a remote server's
// transport), lists its tools and returns the provider to add to the catalog. Secrets go
// into the credentials, which the catalog seals. The session is not kept: calls start their
// own through the pool.
func (p *Pool) NewProvider(ctx context.Context, tenant string, s Server) (catalog.NewProvider, error) {
	if strings.TrimSpace(s.Name) == "" {
		return catalog.NewProvider{}, invalid("name is required")
	}
	cfg, creds, err := s.split()
	if err != nil {
		return catalog.NewProvider{}, err
	}
	if s.Unmask != nil {
		if creds, err = s.Unmask(creds); err != nil {
			return catalog.NewProvider{}, err
		}
	}
	raw, _ := json.Marshal(cfg)
	if cfg.OAuth {
		// Nothing can be listed before the tenant connects: the provider is stored without
		// tools, which the connection lists (catalog.Refresh) once it is made.
		if cfg.Transport == "" {
			cfg.Transport = detectTransport(cfg.URL)
		}
		if cfg.Transport == "" {
			cfg.Transport = TransportStreamable
		}
		raw, _ = json.Marshal(cfg)
		return catalog.NewProvider{Kind: catalog.KindMCP, Name: s.Name, Label: s.Label, Description: s.Description, Config: raw,
			Credentials: creds, Tools: []catalog.Tool{}}, nil
	}
	// A provider id of its own for the probe, so that it never shares a session with a
	// stored provider; the entry is stopped right after.
	probe := catalog.Provider{ID: probePrefix + s.Name, Name: s.Name, Config: raw}
	e, sess, err := p.acquire(ctx, tenant, probe, creds)
	if err != nil {
		p.forget(key{tenant: tenant, provider: probe.ID, hash: hash(cfg, creds)}) // a failed probe leaves nothing behind
		return catalog.NewProvider{}, fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	defer func() {
		p.forget(e.key)
		e.release()
	}()
	lctx, cancel := context.WithTimeout(ctx, e.cfg.timeout())
	defer cancel()
	tools, err := listTools(lctx, sess)
	if err != nil {
		return catalog.NewProvider{}, fmt.Errorf("mcp server %q: %w: %w", s.Name, err, catalog.ErrInvalid)
	}
	e.mu.Lock()
	cfg.Transport = e.cfg.Transport // as detected
	e.mu.Unlock()
	raw, _ = json.Marshal(cfg)
	desc := s.Description
	if desc == "" {
		if ir := sess.InitializeResult(); ir != nil && ir.ServerInfo != nil {
			desc = strings.TrimSpace(ir.ServerInfo.Name + " " + ir.ServerInfo.Version)
			if ir.Instructions != "" {
				desc = firstLine(ir.Instructions)
			}
		}
	}
	return catalog.NewProvider{Kind: catalog.KindMCP, Name: s.Name, Label: s.Label, Description: desc, Config: raw,
		Credentials: creds, Tools: tools}, nil
}

// probePrefix marks the pool entry of an import's probe (no stored provider to refresh).
const probePrefix = "probe:"

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
