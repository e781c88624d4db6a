package bundle

import "testing"

func TestMatchVersion(t *testing.T) {
	cases := []struct {
		pattern string
		yes, no []string
	}{
		{"1.2.3", []string{"1.2.3"}, []string{"1.2.4", "1.2.3-beta", "1.2", "v1.2.3"}},
		{"1.2.3-beta", []string{"1.2.3-beta"}, []string{"1.2.3", "1.2.3-rc"}},
		{"^1.2.3", []string{"1.2.3", "1.2.10", "1.9.0"}, []string{"1.2.2", "2.0.0", "1.3.0-beta", "0.9.9"}},
		{"^0.2.3", []string{"0.2.3", "0.2.9"}, []string{"0.3.0", "0.2.2", "1.0.0"}},
		{"^0.0.3", []string{"0.0.3"}, []string{"0.0.4", "0.0.2"}},
		{"~1.2.3", []string{"1.2.3", "1.2.99"}, []string{"1.3.0", "1.2.2", "2.2.3"}},
		{"1.x.x", []string{"1.0.0", "1.99.3"}, []string{"2.0.0", "0.1.0", "1.0.0-beta"}},
		{"1.2.X", []string{"1.2.0", "1.2.7"}, []string{"1.3.0"}},
		{"x.x.x", []string{"0.0.1", "9.9.9"}, []string{"1.0.0-rc"}},
		{"1.0.0-2.0.0", []string{"1.0.0", "1.5.0", "2.0.0"}, []string{"0.9.9", "2.0.1", "1.5.0-beta"}},
		{"1.0.0-beta-1.0.0", []string{"1.0.0-beta", "1.0.0"}, []string{"1.0.0-alpha", "1.0.1"}},
		{"nonsense", nil, []string{"1.0.0"}},
		{"^x.1.1", nil, []string{"1.1.1"}},
	}
	for _, c := range cases {
		for _, v := range c.yes {
			if !MatchVersion(c.pattern, v) {
				t.Errorf("MatchVersion(%q, %q) = false, want true", c.pattern, v)
			}
		}
		for _, v := range c.no {
			if MatchVersion(c.pattern, v) {
				t.Errorf("MatchVersion(%q, %q) = true, want false", c.pattern, v)
			}
		}
	}
}

func TestIsExactVersion(t *testing.T) {
	for p, want := range map[string]bool{
		"1.2.3": true, "1.2.3-beta": true, "1.0.0-2": true,
		"^1.2.3": false, "~1.2.3": false, "1.x.x": false, "1.0.0-2.0.0": false,
	} {
		if got := IsExactVersion(p); got != want {
			t.Errorf("IsExactVersion(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestNewestMatching(t *testing.T) {
	published := []string{"1.0.0", "1.4.0-beta", "1.3.2", "2.0.0", "1.10.0", "garbage"}
	for pattern, want := range map[string]string{
		"^1.0.0": "1.10.0", "~1.3.0": "1.3.2", "x.x.x": "2.0.0", "1.0.0-1.5.0": "1.3.2", "1.4.0-beta": "1.4.0-beta",
	} {
		if got, ok := NewestMatching(pattern, published); !ok || got != want {
			t.Errorf("NewestMatching(%q) = %q, %v; want %q", pattern, got, ok, want)
		}
	}
	if got, ok := NewestMatching("^3.0.0", published); ok {
		t.Errorf("NewestMatching(^3.0.0) = %q, want none", got)
	}
}

// FuzzMatchVersion: patterns come from uploaded bundles and versions from the Marketplace;
// neither may panic, and a version that matches an exact pattern is that version (leading
// zeros aside: 0.0.00 is 0.0.0).
func FuzzMatchVersion(f *testing.F) {
	for _, s := range [][2]string{{"^1.2.3", "1.2.4"}, {"1.x.x", "1.0.0"}, {"1.0.0-2.0.0", "1.5.0"}, {"~0.0.1", "0.0.1-a"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, version string) {
		ok := MatchVersion(pattern, version)
		if ok && IsExactVersion(pattern) {
			p, _ := parseSemver(pattern)
			if v, _ := parseSemver(version); p.compare(v) != 0 {
				t.Fatalf("exact pattern %q matched %q", pattern, version)
			}
		}
		if got, found := NewestMatching(pattern, []string{version}); found != ok || (found && got != version) {
			t.Fatalf("NewestMatching(%q, [%q]) = %q, %v; MatchVersion %v", pattern, version, got, found, ok)
		}
	})
}
