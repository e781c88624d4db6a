package manifest

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestOfficialCorpus loads every plugin folder of a checkout of
// langgenius/dify-official-plugins named by PLUGD_OFFICIAL_PLUGINS. It is a development aid
// (the corpus is not part of this repository): every plugin must be installable (no
// problem that is not strict); strict problems are logged, grouped by kind, for review.
func TestOfficialCorpus(t *testing.T) {
	root := os.Getenv("PLUGD_OFFICIAL_PLUGINS")
	if root == "" {
		t.Skip("set PLUGD_OFFICIAL_PLUGINS to a checkout of langgenius/dify-official-plugins")
	}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "manifest.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clean := 0
	kinds := map[string][]string{}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		p, probs := Load(os.DirFS(dir))
		if p == nil {
			t.Errorf("%s: no plugin: %v", rel, probs)
			continue
		}
		for _, pr := range probs.Install() {
			t.Errorf("%s: install problem: %s", rel, pr)
		}
		if len(probs) == 0 {
			clean++
		}
		for _, pr := range probs {
			if pr.Strict {
				kinds[problemKind(pr)] = append(kinds[problemKind(pr)], rel+": "+pr.String())
			}
		}
	}
	t.Logf("%d/%d plugins have no problem at all", clean, len(dirs))
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		plugins := map[string]bool{}
		for _, e := range kinds[k] {
			plugins[strings.SplitN(e, ":", 2)[0]] = true
		}
		t.Logf("strict %q: %d problems in %d plugins, e.g.\n  %s", k, len(kinds[k]), len(plugins), strings.Join(first(kinds[k], 3), "\n  "))
	}
}

// problemKind groups problems by message with quoted values and numbers removed.
func problemKind(p Problem) string {
	var b strings.Builder
	in := false
	for _, r := range p.Message {
		switch {
		case r == '"':
			in = !in
			if in {
				b.WriteString("…")
			}
		case in:
		case r >= '0' && r <= '9':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestReferenceJSON compares the JSON of our declarations with the reference daemon's. It
// reads PLUGD_REFERENCE_JSON, a folder of files {"dir": <plugin folder or .difypkg>,
// "declaration": <json.Marshal of the reference decoder's Manifest()>}, made by a small
// program outside this repository that imports the reference's pkg/plugin_packager/decoder.
// A development aid like TestOfficialCorpus; differences are logged, not failed, since some
// are deliberate (template help texts, verified).
func TestReferenceJSON(t *testing.T) {
	refDir := os.Getenv("PLUGD_REFERENCE_JSON")
	if refDir == "" {
		t.Skip("set PLUGD_REFERENCE_JSON to a folder of reference declarations")
	}
	files, _ := filepath.Glob(filepath.Join(refDir, "*.json"))
	diffs := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ref struct {
			Dir         string `json:"dir"`
			Declaration any    `json:"declaration"`
		}
		if err := json.Unmarshal(raw, &ref); err != nil {
			t.Fatal(err)
		}
		var fsys fs.FS = os.DirFS(ref.Dir)
		if strings.HasSuffix(ref.Dir, ".difypkg") {
			zr, err := zip.OpenReader(ref.Dir)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			fsys = zr
		}
		p, _ := Load(fsys)
		ours, err := json.Marshal(p)
		if err != nil {
			t.Errorf("%s: %v", ref.Dir, err)
			continue
		}
		var got any
		_ = json.Unmarshal(ours, &got)
		// We order models by their position lists; the reference keeps the walk order.
		sortModels(ref.Declaration)
		sortModels(got)
		for _, d := range jsonDiff("", ref.Declaration, got) {
			diffs[d.kind] = append(diffs[d.kind], filepath.Base(ref.Dir)+": "+d.text)
		}
	}
	keys := make([]string, 0, len(diffs))
	for k := range diffs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%d× %s, e.g.\n  %s", len(diffs[k]), k, strings.Join(first(diffs[k], 3), "\n  "))
	}
}

type diff struct{ kind, text string }

var indexRE = regexp.MustCompile(`\[\d+\]`)

func jsonDiff(path string, want, got any) []diff {
	kind := indexRE.ReplaceAllString(path, "[]")
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []diff{{kind, fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))}}
		}
		var out []diff
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, diff{kind + "." + k + " missing", fmt.Sprintf("%s.%s missing (want %v)", path, k, short(wv))})
				continue
			}
			out = append(out, jsonDiff(path+"."+k, wv, gv)...)
		}
		for k, gv := range g {
			if _, ok := w[k]; !ok {
				out = append(out, diff{kind + "." + k + " extra", fmt.Sprintf("%s.%s extra (%v)", path, k, short(gv))})
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []diff{{kind, fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))}}
		}
		var out []diff
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(want, got) {
			return []diff{{kind, fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))}}
		}
	}
	return nil
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

func sortModels(decl any) {
	m, _ := decl.(map[string]any)
	model, _ := m["model"].(map[string]any)
	models, _ := model["models"].([]any)
	key := func(v any) string {
		mm, _ := v.(map[string]any)
		return fmt.Sprint(mm["model_type"], "/", mm["model"])
	}
	sort.SliceStable(models, func(i, j int) bool { return key(models[i]) < key(models[j]) })
}

// TestDumpInvalidCases writes every invalid case of manifest_test.go as a plugin folder under
// PLUGD_DUMP_CASES, with a cases.txt listing for each whether Load finds install problems, so
// that the reference daemon's decoder (with ManifestValidate and the unique identifier) can
// be run on them to confirm it refuses exactly those. When last run, the only differences
// were the deliberate ones: a UUID author (refused by the reference's upload handler, which
// that run did not exercise), "./" paths (refused by its zip decoder, not its folder decoder)
// and our 1 MiB file limit.
func TestDumpInvalidCases(t *testing.T) {
	out := os.Getenv("PLUGD_DUMP_CASES")
	if out == "" {
		t.Skip("set PLUGD_DUMP_CASES to a folder")
	}
	var index strings.Builder
	for i, tc := range invalidCases {
		dir := filepath.Join(out, fmt.Sprint(i))
		for name, f := range tc.fs() {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, probs := Load(tc.fs())
		fmt.Fprintf(&index, "%d\t%v\t%s\n", i, len(probs.Install()) > 0, tc.name)
	}
	if err := os.WriteFile(filepath.Join(out, "cases.txt"), []byte(index.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
