package mcpserver

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
)

// FuzzPluginInput feeds what plugins and imported descriptions control — a tool's names and
// input schema, and the messages a call streams — through the MCP mapping: registering the
// tool must not panic (the SDK panics on schemas it refuses; addTool must turn that into an
// error), and every result must marshal.
func FuzzPluginInput(f *testing.F) {
	f.Add("prov", "tool", []byte(`{"type":"object","properties":{"a":{"type":"string"}}}`), "text", []byte(`{"text":"hi"}`), []byte(``))
	f.Add("p/q", "t t", []byte(`{"type":"array"}`), "blob", []byte(`{"blob":"aGk="}`), []byte(`{"mime_type":"image/png"}`))
	f.Add("", "", []byte(`null`), "json", []byte(`{"json_object":[1,2]}`), []byte(`{}`))
	f.Add("x", "y", []byte(`{"type":"object","properties":{"a":{"x-mcp-header":"Bad Header\n"}}}`), "variable", []byte(`{"variable_name":"v","variable_value":{"k":1}}`), []byte(`null`))
	f.Add("x", "y", []byte(`{"type":"object","required":"nope"}`), "link", []byte(`{"text":"/"}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, provider, tool string, schema []byte, kind string, message, meta []byte) {
		p := catalog.Provider{ID: "a/b/" + provider, Name: provider, Kind: catalog.KindPlugin}
		tl := catalog.Tool{Name: tool, InputSchema: schema}
		name := mcpName(p, tl, map[string]bool{})
		def := definition(p, tl, name)
		srv := mcp.NewServer(&mcp.Implementation{Name: "fuzz"}, nil)
		_ = addTool(srv, def, func(_ context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil })
		msg := catalog.Message{Type: kind}
		if json.Valid(message) {
			msg.Message = message
		}
		if json.Valid(meta) {
			msg.Meta = meta
		}
		res := Result([]catalog.Message{msg, msg})
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result of a %q message does not marshal: %v", kind, err)
		}
	})
}
