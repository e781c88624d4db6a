package mcpserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
)

// toolRef is which catalog tool an MCP tool name stands for.
type toolRef struct {
	ProviderID string
	Tool       string
}

// entryTool is one tool as a server has it registered; def is compared on refresh so that a
// changed description or schema is re-announced.
type entryTool struct {
	ref toolRef
	def *mcp.Tool
	sum string
}

// mcpName is the MCP name of a catalog tool: provider name and tool name joined by "__",
// reduced to the characters MCP allows. Names are unique per server: a clash (two providers
// of the same name, of different kinds) gets a short hash of the provider id appended.
func mcpName(p catalog.Provider, t catalog.Tool, taken map[string]bool) string {
	base := sanitize(p.Name) + "__" + sanitize(t.Name)
	if len(base) > 110 {
		base = base[:110]
	}
	if !taken[base] {
		return base
	}
	h := sha256.Sum256([]byte(p.ID + "/" + t.Name))
	return base + "_" + hex.EncodeToString(h[:4])
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// definition is the MCP form of a catalog tool. The input schema comes from plugins and
// imported descriptions, so anything that is not a JSON object schema is replaced by an empty
// object schema rather than handed to the SDK (which refuses it). No output schema is
// announced: a plugin's output_schema describes its variables, and clients reject results
// whose structured content does not match an announced schema.
func definition(p catalog.Provider, t catalog.Tool, name string) *mcp.Tool {
	schema := map[string]any{}
	if err := json.Unmarshal(t.InputSchema, &schema); err != nil || schema == nil {
		schema = map[string]any{}
	}
	if schema["type"] != "object" {
		schema = map[string]any{"type": "object"}
	}
	title := t.Label
	if title == "" {
		title = t.Name
	}
	if p.Label != "" {
		title = p.Label + ": " + title
	}
	return &mcp.Tool{
		Name: name, Title: title, Description: t.Description, InputSchema: schema,
		Meta: mcp.Meta{"plugd/provider_id": p.ID, "plugd/provider_kind": string(p.Kind), "plugd/tool": t.Name},
	}
}

// checksum identifies a definition, so a refresh re-announces only changed tools.
func checksum(def *mcp.Tool) string {
	b, _ := json.Marshal(def)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// selects tells whether set includes tool t of provider p (MCP name name). A nil set is the
// whole catalog.
func selects(set *ToolSet, p catalog.Provider, t catalog.Tool, name string) bool {
	if set == nil {
		return true
	}
	if slices.Contains(set.Providers, p.ID) || slices.Contains(set.Providers, p.Name) {
		return true
	}
	for _, tag := range set.Tags {
		if slices.Contains(p.Tags, tag) {
			return true
		}
	}
	return slices.Contains(set.Tools, p.ID+"/"+t.Name) || slices.Contains(set.Tools, name)
}

// callHandler runs a catalog tool for an MCP tools/call. Every message the tool streams is
// reported as progress when the client asked for it; the request's context reaches the
// catalog call, so a cancelled request (notifications/cancelled, a closed connection) stops
// the plugin session. Failures of the tool itself come back as an error result the model can
// read; only a cancelled call is a protocol error.
func callHandler(cat Catalog, tenant string, ref toolRef) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args := map[string]any{}
		if len(req.Params.Arguments) > 0 && string(req.Params.Arguments) != "null" {
			if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
				return errorResult(fmt.Errorf("arguments of %s must be a JSON object: %w", req.Params.Name, err)), nil
			}
		}
		userID := ""
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			userID = req.Extra.TokenInfo.UserID
		}
		st, err := cat.Call(ctx, tenant, catalog.CallRequest{ProviderID: ref.ProviderID, Tool: ref.Tool, Arguments: args, UserID: userID})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return errorResult(err), nil
		}
		stop := context.AfterFunc(ctx, st.Close)
		defer stop()
		defer st.Close()
		token := req.Params.GetProgressToken()
		var msgs []catalog.Message
		for {
			m, err := st.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				res := Result(msgs)
				res.IsError = true
				res.Content = append(res.Content, &mcp.TextContent{Text: err.Error()})
				return res, nil
			}
			msgs = append(msgs, m)
			if token != nil && req.Session != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: float64(len(msgs)), Message: progressText(m),
				})
			}
		}
		return Result(msgs), nil
	}
}

func errorResult(err error) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
}

// progressText describes one message for a progress notification.
func progressText(m catalog.Message) string {
	if m.Type == "text" {
		var v struct{ Text string }
		if json.Unmarshal(m.Message, &v) == nil && len(v.Text) <= 200 {
			return v.Text
		}
	}
	return m.Type + " message"
}

// Result turns the messages of a catalog call into an MCP result: text as text content;
// json as its text plus structured content (the object itself for one json message, else
// {"results": [...]}); blobs by MIME type as image, audio or embedded-resource content;
// links and image links as resource links; variables collected into structured content
// under "variables"; log messages left out (they were progress). An unknown kind is kept as
// its JSON text, so nothing a tool said is dropped.
func Result(msgs []catalog.Message) *mcp.CallToolResult {
	res := &mcp.CallToolResult{Content: []mcp.Content{}}
	var objects []any
	vars := map[string]any{}
	blobs := 0
	for _, m := range msgs {
		switch m.Type {
		case "text":
			var v struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(m.Message, &v)
			res.Content = append(res.Content, &mcp.TextContent{Text: v.Text})
		case "json":
			var v struct {
				Object json.RawMessage `json:"json_object"`
			}
			_ = json.Unmarshal(m.Message, &v)
			var obj any
			if json.Unmarshal(v.Object, &obj) == nil {
				objects = append(objects, obj)
			}
			res.Content = append(res.Content, &mcp.TextContent{Text: string(v.Object)})
		case "blob":
			var v struct {
				Blob []byte `json:"blob"`
			}
			var meta struct {
				MimeType string `json:"mime_type"`
				FileName string `json:"file_name"`
			}
			_ = json.Unmarshal(m.Message, &v)
			_ = json.Unmarshal(m.Meta, &meta)
			blobs++
			res.Content = append(res.Content, blobContent(v.Blob, meta.MimeType, meta.FileName, blobs))
		case "link", "image", "image_link":
			var v struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(m.Message, &v)
			name := path.Base(v.Text)
			if name == "." || name == "/" || name == "" {
				name = v.Text
			}
			res.Content = append(res.Content, &mcp.ResourceLink{URI: v.Text, Name: name})
		case "variable":
			var v struct {
				Name  string `json:"variable_name"`
				Value any    `json:"variable_value"`
			}
			if json.Unmarshal(m.Message, &v) == nil && v.Name != "" {
				if s, ok := v.Value.(string); ok {
					if prev, ok := vars[v.Name].(string); ok { // streamed variables arrive in pieces
						s = prev + s
					}
					vars[v.Name] = s
				} else {
					vars[v.Name] = v.Value
				}
			}
		case "log":
		default:
			b, _ := json.Marshal(m)
			res.Content = append(res.Content, &mcp.TextContent{Text: string(b)})
		}
	}
	var structured map[string]any
	switch {
	case len(objects) == 1:
		if obj, ok := objects[0].(map[string]any); ok {
			structured = obj
		} else {
			structured = map[string]any{"result": objects[0]}
		}
	case len(objects) > 1:
		structured = map[string]any{"results": objects}
	}
	if len(vars) > 0 {
		if structured == nil {
			structured = map[string]any{}
		}
		structured["variables"] = vars
	}
	if structured != nil {
		res.StructuredContent = structured
	}
	return res
}

// blobContent is a binary result as MCP content: images and audio as such, anything else
// as an embedded resource with its MIME type.
func blobContent(data []byte, mimeType, fileName string, n int) mcp.Content {
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	switch {
	case strings.HasPrefix(mimeType, "image/"):
		return &mcp.ImageContent{Data: data, MIMEType: mimeType}
	case strings.HasPrefix(mimeType, "audio/"):
		return &mcp.AudioContent{Data: data, MIMEType: mimeType}
	}
	uri := fmt.Sprintf("plugd://blob/%d", n)
	if fileName != "" {
		uri += "/" + sanitize(fileName)
	}
	return &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: uri, MIMEType: mimeType, Blob: data}}
}
