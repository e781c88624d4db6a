package client

import (
	"encoding/json"
	"testing"
)

func TestBundleDependencyDecoding(t *testing.T) {
	var deps []BundleDependency
	answer := `[
  {"type": "package", "value": {"manifest": {"name": "e2etool"}, "unique_identifier": "plugd/e2etool:0.0.1@abc"}},
  {"type": "marketplace", "value": {"organization": "langgenius", "plugin": "maths", "version": "0.0.8"}},
  {"type": "github", "value": {"packages": "e2etool.difypkg", "release": "^1.0.0", "repo": "langgenius/e2etool", "repo_address": "https://github.com/langgenius/e2etool"}},
  {"type": "svn", "value": 42}
]`
	if err := json.Unmarshal([]byte(answer), &deps); err != nil {
		t.Fatal(err)
	}
	if p := deps[0].Package; p == nil || p.UniqueIdentifier != "plugd/e2etool:0.0.1@abc" || string(p.Manifest) != `{"name": "e2etool"}` {
		t.Errorf("package: %+v", deps[0])
	}
	if m := deps[1].Marketplace; m == nil || m.Organization != "langgenius" || m.Plugin != "maths" || m.Version != "0.0.8" {
		t.Errorf("marketplace: %+v", deps[1])
	}
	if g := deps[2].Github; g == nil || g.Repo != "langgenius/e2etool" || g.Release != "^1.0.0" || g.Packages != "e2etool.difypkg" {
		t.Errorf("github: %+v", deps[2])
	}
	if d := deps[3]; d.Type != "svn" || d.Package != nil || d.Marketplace != nil || d.Github != nil {
		t.Errorf("unknown type: %+v", d)
	}
	if err := json.Unmarshal([]byte(`[{"type":"marketplace","value":"langgenius/maths"}]`), &deps); err == nil {
		t.Error("a marketplace value that is a string was accepted")
	}
}

// FuzzBundleDependency: the daemon's answer is outside input; whatever it holds, decoding
// does not panic and sets at most the one field its type names.
func FuzzBundleDependency(f *testing.F) {
	f.Add([]byte(`{"type":"package","value":{"unique_identifier":"a/b:1.0.0@c"}}`))
	f.Add([]byte(`{"type":"github","value":{"repo":"a/b"}}`))
	f.Add([]byte(`{"type":"marketplace","value":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d BundleDependency
		if json.Unmarshal(data, &d) != nil {
			return
		}
		set := 0
		for _, ok := range []bool{d.Package != nil, d.Marketplace != nil, d.Github != nil} {
			if ok {
				set++
			}
		}
		if set > 1 || (d.Package != nil && d.Type != "package") || (d.Marketplace != nil && d.Type != "marketplace") || (d.Github != nil && d.Type != "github") {
			t.Fatalf("%s decoded to %+v", data, d)
		}
	})
}
