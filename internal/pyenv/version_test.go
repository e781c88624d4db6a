package pyenv

import "testing"

func TestVersionOrder(t *testing.T) {
	// Each version sorts strictly before the next.
	order := []string{
		"0.0.1.dev1", "0.0.1a1", "0.0.1b6", "0.0.1b65", "0.0.1b69", "0.0.1b70", "0.0.1b75",
		"0.0.1rc1", "0.0.1", "0.0.1.post1", "0.1.0", "0.1.0.post2", "0.1.1.dev0", "0.1.1",
		"0.2.0", "0.10.0",
	}
	for i := 0; i+1 < len(order); i++ {
		a, okA := parseVersion(order[i])
		b, okB := parseVersion(order[i+1])
		if !okA || !okB {
			t.Fatalf("parse %q: %v, %q: %v", order[i], okA, order[i+1], okB)
		}
		if c := compareVersions(a, b); c >= 0 {
			t.Errorf("compare(%s, %s) = %d, want < 0", order[i], order[i+1], c)
		}
		if c := compareVersions(b, a); c <= 0 {
			t.Errorf("compare(%s, %s) = %d, want > 0", order[i+1], order[i], c)
		}
	}
	for _, eq := range [][2]string{{"1.0", "1.0.0"}, {"0.0.1b75", "0.0.1-beta75"}, {"1.0+local", "1.0"}} {
		a, _ := parseVersion(eq[0])
		b, _ := parseVersion(eq[1])
		if compareVersions(a, b) != 0 {
			t.Errorf("%s != %s", eq[0], eq[1])
		}
	}
}

func TestVersionBelow(t *testing.T) {
	for _, tc := range []struct {
		v, limit string
		want     bool
	}{
		{"0.0.1b65", "0.0.1b70", true},
		{"0.0.1b70", "0.0.1b70", false},
		{"0.0.1b75", "0.1.1", true},
		{"0.1.0", "0.1.1", true},
		{"0.2.2", "0.1.1", false},
		{"not a version", "0.1.1", false},
		{"", "0.1.1", false},
	} {
		if got := versionBelow(tc.v, tc.limit); got != tc.want {
			t.Errorf("versionBelow(%q, %q) = %v", tc.v, tc.limit, got)
		}
	}
}

func TestSatisfiesRequiresPython(t *testing.T) {
	py311 := [3]int{3, 11, 7}
	for _, tc := range []struct {
		spec string
		want bool
	}{
		{"", true},
		{">=3.11", true},
		{">=3.12", false},
		{">=3.11,<4", true},
		{">= 3.10, < 3.11", false},
		{"~=3.11", true},
		{"~=3.12", false},
		{"~=3.11.8", false},
		{"==3.11.*", true},
		{"==3.12.*", false},
		{"!=3.11.*", false},
		{"!=3.11.6", true},
		{">3.11", true},
		{"<=3.11", false},
		{">=3.11,@weird", true},
	} {
		if got := satisfiesRequiresPython(py311, tc.spec); got != tc.want {
			t.Errorf("3.11.7 satisfies %q = %v, want %v", tc.spec, got, tc.want)
		}
	}
}
