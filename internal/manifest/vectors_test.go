package manifest

import (
	"archive/zip"
	"os"
	"testing"
)

// The echo fixture and a real package signed by langgenius are reference-valid plugins: they
// must load without any problem, strict or not.
func TestVectorsLoadClean(t *testing.T) {
	t.Run("echo-fixture", func(t *testing.T) {
		p, probs := Load(os.DirFS("../../testdata/vectors/echo-fixture"))
		if len(probs) != 0 || p == nil {
			t.Fatalf("problems: %v", probs)
		}
		if p.Identity() != "test/echo:0.0.1" || p.Category() != CategoryTool {
			t.Errorf("identity %q category %q", p.Identity(), p.Category())
		}
		if p.Tool == nil || len(p.Tool.Tools) != 1 || p.Tool.Tools[0].Parameters[0].Name != "text" {
			t.Errorf("tool not resolved: %+v", p.Tool)
		}
	})
	t.Run("official-agent", func(t *testing.T) {
		zr, err := zip.OpenReader("../../testdata/vectors/official/langgenius-agent_0.0.14.difypkg")
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		p, probs := Load(zr)
		if len(probs) != 0 || p == nil {
			t.Fatalf("problems: %v", probs)
		}
		if p.Identity() != "langgenius/agent:0.0.14" || p.Category() != CategoryAgentStrategy {
			t.Errorf("identity %q category %q", p.Identity(), p.Category())
		}
		if a := p.AgentStrategy; a == nil || len(a.Strategies) != 2 || a.Strategies[0].Identity.Name != "function_calling" {
			t.Errorf("strategies not resolved: %+v", a)
		}
	})
}
