package daemon

import (
	"strings"
	"testing"
)

func TestParsePluginCaps(t *testing.T) {
	const big = "acme/big-model:1.2.0@0123456789abcdef0123456789abcdef"
	const openai = "langgenius/openai:0.0.1@0123456789abcdef0123456789abcdef"
	const other = "someone/else:2.0.0@0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		raw              string
		big, openai, oth int
		enabled          bool
		err              string
	}{
		{raw: "", enabled: false},
		{raw: "0", enabled: false},
		{raw: "2", big: 2, openai: 2, oth: 2, enabled: true},
		{raw: " 2 , langgenius/openai=0, acme/big-model = 1", big: 1, openai: 0, oth: 2, enabled: true},
		{raw: "acme/big-model=1", big: 1, enabled: true},
		{raw: "acme/big-model=0", enabled: false},
		{raw: "two", err: `"two": want a number`},
		{raw: "-1", err: `"-1": want a number`},
		{raw: "65", err: "from 0 (no cap) to 64"},
		{raw: "1,2", err: "a second bare number"},
		{raw: "acme=1", err: "want author/name=N"},
		{raw: "acme/big-model:1.2.0=1", err: "want author/name=N"},
		{raw: "acme/big-model=1,acme/big-model=2", err: "given twice"},
		{raw: "acme/big-model=", err: "want a number"},
	} {
		got, err := ParsePluginCaps(c.raw)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want one with %q", c.raw, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.raw, err)
			continue
		}
		if got.For(big) != c.big || got.For(openai) != c.openai || got.For(other) != c.oth || got.Enabled() != c.enabled {
			t.Errorf("%q: caps %d %d %d enabled %v; want %d %d %d %v", c.raw, got.For(big), got.For(openai), got.For(other), got.Enabled(), c.big, c.openai, c.oth, c.enabled)
		}
		again, err := ParsePluginCaps(got.String())
		if err != nil || again.String() != got.String() {
			t.Errorf("%q: written back as %q, which reads as %q (%v)", c.raw, got.String(), again.String(), err)
		}
	}
}

// FuzzParsePluginCaps: any value is read or refused with an error, and what is read writes
// back to a value that reads the same.
func FuzzParsePluginCaps(f *testing.F) {
	for _, s := range []string{"", "2", "2,langgenius/openai=0,acme/big=1", "a/b=64", "a=1", "1,1", ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParsePluginCaps(raw)
		if err != nil {
			return
		}
		again, err := ParsePluginCaps(c.String())
		if err != nil || again.String() != c.String() {
			t.Fatalf("%q reads as %q, which reads as %q (%v)", raw, c.String(), again.String(), err)
		}
		if c.Default < 0 || c.Default > maxCap {
			t.Fatalf("%q: default %d", raw, c.Default)
		}
	})
}
