package catalog

import (
	"reflect"
	"testing"
)

// The cases of Dify's api/tests/unit_tests/utils/position_helper/test_position_helper.py,
// with its two position files as data.

const examplePositions = `- first
- second
# - commented
- third

- 9999999999999
- forth
`

const allCommentedPositions = `# - commented1
# - commented2
-
-

`

func TestParsePositionsDify(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want PositionMap
	}{
		{"test_position_helper", examplePositions, PositionMap{"first": 0, "second": 1, "third": 2, "forth": 3}},
		{"test_position_helper_with_all_commented", allCommentedPositions, PositionMap{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePositions([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOrderingDify(t *testing.T) {
	data := []string{"forth", "first", "second", "third", "9999999999999", "extra1", "extra2"}
	for _, tc := range []struct {
		name             string
		pins             []string
		include, exclude []string
		want             []string
	}{
		{"test_excluded_position_data", []string{"forth", "first"}, nil, []string{"9999999999999"},
			[]string{"forth", "first", "second", "third", "extra1", "extra2"}},
		{"test_included_position_data", []string{"forth", "first"}, []string{"forth", "first"}, nil,
			[]string{"forth", "first"}},
		// Beyond Dify's tests, the rule its comment states: exclude beats pin.
		{"exclude_beats_pin", []string{"forth", "first"}, nil, []string{"first"},
			[]string{"forth", "second", "third", "9999999999999", "extra1", "extra2"}},
		{"no_pins_keeps_file_order_then_input_order", nil, nil, nil,
			[]string{"first", "second", "third", "forth", "9999999999999", "extra1", "extra2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			positions, err := ParsePositions([]byte(examplePositions))
			if err != nil {
				t.Fatal(err)
			}
			m := positions.Pin(tc.pins)
			inc, exc := setOf(tc.include), setOf(tc.exclude)
			var kept []string
			for _, d := range data {
				if !Filtered(inc, exc, d) {
					kept = append(kept, d)
				}
			}
			SortByPosition(m, kept, func(s string) string { return s })
			if !reflect.DeepEqual(kept, tc.want) {
				t.Errorf("got %v, want %v", kept, tc.want)
			}

			// The same case through the catalog's own path: providers named like Dify's data,
			// the settings as POSITION_PROVIDER_* and as POSITION_TOOL_* for tools.
			o := Ordering{ProviderPositions: positions, ProviderPins: tc.pins, ProviderIncludes: tc.include, ProviderExcludes: tc.exclude,
				ToolPositions: positions, ToolPins: tc.pins, ToolIncludes: tc.include, ToolExcludes: tc.exclude}
			var provs []Provider
			var tools []Tool
			for _, d := range data {
				provs = append(provs, Provider{ID: "x/y/" + d, Name: d})
				tools = append(tools, Tool{Name: d})
			}
			provs[0].Tools = tools
			got := o.arrange(provs, nil, false)
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("providers: got %v, want %v", names, tc.want)
			}
			if got[0].Name != "forth" && len(tc.pins) > 0 && tc.name != "exclude_beats_pin" {
				t.Fatalf("first provider %s", got[0].Name)
			}
			for _, p := range got {
				if p.Name != "forth" {
					continue
				}
				var tn []string
				for _, tl := range p.Tools {
					tn = append(tn, tl.Name)
				}
				if !reflect.DeepEqual(tn, tc.want) {
					t.Errorf("tools: got %v, want %v", tn, tc.want)
				}
			}
		})
	}
}

func TestOrderingTenantPreferences(t *testing.T) {
	o := Ordering{ProviderPins: []string{"b"}}
	provs := []Provider{{ID: "a", Name: "a"}, {ID: "b", Name: "b"}, {ID: "c", Name: "c"}, {ID: "d", Name: "d",
		Tools: []Tool{{Name: "t1"}, {Name: "t2"}, {Name: "t3"}}}}
	prefs := []Preference{
		{Target: TargetProvider, Name: "d", Pinned: true, Position: 2},
		{Target: TargetProvider, Name: "c", Pinned: true, Position: 1},
		{Target: TargetProvider, Name: "a", Hidden: true},
		{Target: TargetTool, Name: "d/t3", Pinned: true, Position: 3},
		{Target: TargetTool, Name: "d/t1", Hidden: true},
	}
	got := o.arrange(append([]Provider(nil), provs...), prefs, false)
	var names []string
	for _, p := range got {
		names = append(names, p.ID)
	}
	if want := []string{"c", "d", "b"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("providers %v, want %v", names, want)
	}
	if tl := got[1].Tools; len(tl) != 2 || tl[0].Name != "t3" || !tl[0].Pinned || tl[1].Name != "t2" {
		t.Fatalf("tools of d: %+v", tl)
	}
	all := o.arrange(append([]Provider(nil), provs...), prefs, true)
	if len(all) != 4 || !all[3].Hidden || all[3].ID != "a" {
		t.Fatalf("with hidden: %+v", all)
	}
}

func TestParsePositionFile(t *testing.T) {
	p, tl, err := ParsePositionFile([]byte("providers: [a, b]\ntools: [x]\n"))
	if err != nil || p["b"] != 1 || tl["x"] != 0 {
		t.Fatalf("%v %v %v", p, tl, err)
	}
	if _, _, err := ParsePositionFile([]byte("providers: a\n")); err == nil {
		t.Fatal("a scalar providers was accepted")
	}
	if _, _, err := ParsePositionFile([]byte("colours: [a]\n")); err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if got := ParseList(" a, ,b ,"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("ParseList: %v", got)
	}
}

func FuzzParsePositionFile(f *testing.F) {
	f.Add([]byte(examplePositions))
	f.Add([]byte(allCommentedPositions))
	f.Add([]byte("providers: [a]\ntools: [b, 1, null]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, tl, err := ParsePositionFile(data)
		if err != nil {
			return
		}
		for _, m := range []PositionMap{p, tl} {
			seen := map[int]bool{}
			for n, r := range m {
				if n == "" || r < 0 || r >= len(m) || seen[r] {
					t.Fatalf("bad map %v", m)
				}
				seen[r] = true
			}
		}
	})
}
