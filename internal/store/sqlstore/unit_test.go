package sqlstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/store"
)

func TestNewHookID(t *testing.T) {
	seen := map[string]bool{}
	var counts [256]int
	for range 2000 {
		id := newHookID()
		if !hookPattern.MatchString(id) {
			t.Fatalf("hook id %q is not 16 of [a-z0-9]", id)
		}
		if seen[id] {
			t.Fatalf("hook id %q drawn twice", id)
		}
		seen[id] = true
		for i := range len(id) {
			counts[id[i]]++
		}
	}
	// 32000 characters over 36 letters: each about 889; a missing or doubled letter would show.
	for _, ch := range []byte(hookAlphabet) {
		if counts[ch] < 600 || counts[ch] > 1200 {
			t.Errorf("letter %c drawn %d times of 32000", ch, counts[ch])
		}
	}
}

func TestTimeCol(t *testing.T) {
	utc := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	cases := []struct {
		in      any
		want    time.Time
		wantErr bool
	}{
		{"2025-01-02T03:04:05.678901Z", utc, false},
		{[]byte("2025-01-02T11:04:05.678901+08:00"), utc, false},
		{"2025-01-02 03:04:05.678901+00:00", utc, false},
		{"2025-01-02 03:04:05.678901", utc, false},
		{utc.In(time.FixedZone("x", 3600)), utc, false},
		{nil, time.Time{}, false},
		{"yesterday", time.Time{}, true},
		{int64(5), time.Time{}, true},
	}
	for _, c := range cases {
		var got time.Time
		err := timeCol{&got}.Scan(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("Scan(%v): error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !got.Equal(c.want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("Scan(%v) = %v, want %v in UTC", c.in, got, c.want)
		}
	}
	// What we write, we read back.
	var got time.Time
	ok(t, timeCol{&got}.Scan(conn{d: dialectSQLite}.ts(utc.Add(999))))
	equal(t, "sqlite round trip", got, utc)
}

func TestJSONText(t *testing.T) {
	cases := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "null", false},
		{`{"a": 1}`, `{"a": 1}`, false},
		{`[1, 2`, "", true},
		{`nope`, "", true},
	}
	for _, c := range cases {
		got, err := jsonText("meta", json.RawMessage(c.in))
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("jsonText(%q) = %q, %v", c.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "meta") {
			t.Errorf("error %q does not name the field", err)
		}
	}
}

func TestLimit(t *testing.T) {
	cases := []struct {
		p       store.Page
		clause  string
		args    []any
		wantErr bool
	}{
		{store.Page{}, "", nil, false},
		{store.Page{Page: 5}, "", nil, false},
		{store.Page{Page: 1, Size: 10}, " LIMIT ? OFFSET ?", []any{10, 0}, false},
		{store.Page{Page: 3, Size: 10}, " LIMIT ? OFFSET ?", []any{10, 20}, false},
		{store.Page{Page: 0, Size: 10}, " LIMIT ? OFFSET ?", []any{10, 0}, false},
		{store.Page{Page: 1, Size: -1}, "", nil, true},
		{store.Page{Page: -1, Size: 1}, "", nil, true},
	}
	for _, c := range cases {
		clause, args, err := limit(c.p)
		if (err != nil) != c.wantErr || clause != c.clause {
			t.Errorf("limit(%+v) = %q, %v, %v", c.p, clause, args, err)
			continue
		}
		equal(t, "args", args, c.args)
	}
}
