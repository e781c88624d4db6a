package openapi

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must return a document or an error, never
// panic or hang, and a document it returns must be usable (named tools, encodable schemas).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"petstore-2.0.json", "petstore-3.0.yaml", "petstore-3.1.json", "server-variables-3.0.json", "schema-circular-3.0.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema_version":"v1","api":{"type":"openapi","url":"/x"}}`))
	f.Add([]byte("openapi: 3.1.0\npaths: {/a: {get: {}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, "https://example.com/spec")
		if err != nil {
			return
		}
		for _, o := range doc.Operations {
			if o.Name == "" || o.InputSchema["type"] != "object" {
				t.Fatalf("operation %+v", o)
			}
			if _, err := json.Marshal(o); err != nil {
				t.Fatalf("%s does not encode: %v", o.Name, err)
			}
		}
	})
}
