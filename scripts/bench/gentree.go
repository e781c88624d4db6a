//go:build ignore

// gentree writes the benchmark plugin of docs/benchmarks.md: a valid tool plugin plus
// 2,000 files of 8 KiB and four of 8 MiB of random bytes (48 MiB in all).
//
//	go run scripts/bench/gentree.go DIR
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/bench/gentree.go DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, 0o644))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := 0; i < 2000; i++ {
		write(fmt.Sprintf("data/d%02d/f%04d.bin", i%20, i), random(8<<10))
	}
	for i := 0; i < 4; i++ {
		write(fmt.Sprintf("data/big%d.bin", i), random(8<<20))
	}
	for name, text := range plugin {
		write(name, []byte(text))
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var plugin = map[string]string{
	"manifest.yaml": `version: 0.0.1
type: plugin
author: bench
name: big
label: {en_US: Big}
description: {en_US: A 48 MiB plugin for benchmarks}
icon: icon.svg
created_at: "2026-01-01T00:00:00Z"
resource: {memory: 268435456}
plugins: {tools: [provider/big.yaml]}
meta:
  version: 0.0.1
  arch: [amd64, arm64]
  runner: {language: python, version: "3.12", entrypoint: main}
`,
	"_assets/icon.svg":  `<svg xmlns="http://www.w3.org/2000/svg"/>`,
	"main.py":           "from dify_plugin import Plugin, DifyPluginEnv\n\nPlugin(DifyPluginEnv()).run()\n",
	"requirements.txt":  "dify_plugin>=0.7.0,<0.11.0\n",
	"README.md":         "# Big\n",
	"provider/big.py":   "from dify_plugin import ToolProvider\n\n\nclass BigProvider(ToolProvider):\n    def _validate_credentials(self, credentials):\n        pass\n",
	"tools/big.py":      "from dify_plugin import Tool\n\n\nclass BigTool(Tool):\n    def _invoke(self, tool_parameters):\n        yield self.create_text_message('big')\n",
	"provider/big.yaml": "identity:\n  author: bench\n  name: big\n  label: {en_US: Big}\n  description: {en_US: Big}\n  icon: icon.svg\ntools: [tools/big.yaml]\nextra: {python: {source: provider/big.py}}\n",
	"tools/big.yaml":    "identity: {name: big, author: bench, label: {en_US: Big}}\ndescription: {human: {en_US: Big}, llm: Big}\nparameters: []\nextra: {python: {source: tools/big.py}}\n",
}
