package adopt

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	in := "# reference .env\n\nDB_HOST=db.internal\nexport DB_PORT=5433\nDB_PASSWORD='p#ss word'\nS3_ENDPOINT=\"http://minio:9000\"\nPLUGIN_STORAGE_TYPE=local # inline comment\nEMPTY=\n"
	got, err := ParseEnvFile([]byte(in), ".env")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"DB_HOST": "db.internal", "DB_PORT": "5433", "DB_PASSWORD": "p#ss word",
		"S3_ENDPOINT": "http://minio:9000", "PLUGIN_STORAGE_TYPE": "local", "EMPTY": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"DB_HOST", ".env:1: \"DB_HOST\" is not KEY=VALUE"},
		{"\n1DB=x", ".env:2: \"1DB\" is not a variable name"},
		{"A=\"unterminated", ".env:1: value of A: bad double-quoted string"},
	} {
		_, err := ParseEnvFile([]byte(bad.in), ".env")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want it to contain %q", bad.in, err, bad.want)
		}
	}
}

func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\nB='2'\nC=\"3\\n\"", "# c\nexport X=y # z", "=", "A", "\ufeffA=b", "A=\"\\q\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseEnvFile(data, "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for k := range m {
			if !validEnvName(k) {
				t.Fatalf("accepted name %q", k)
			}
		}
	})
}

func TestParseKVObjectKey(t *testing.T) {
	for _, c := range []struct {
		prefix, object string
		want           KVObject
		err            string
	}{
		{"persistence", "persistence/t1/plugd/adoptkv/greeting", KVObject{"t1", "plugd/adoptkv", "greeting"}, ""},
		{"persistence/", "persistence/t1/a/b/notes/2026/first", KVObject{"t1", "a/b", "notes/2026/first"}, ""},
		{"kv", "persistence/t1/a/b/k", KVObject{}, "is not under"},
		{"persistence", "persistence/t1/a/b", KVObject{}, "want persistence/<tenant>"},
		{"persistence", "persistence/t1//b/k", KVObject{}, "empty plugin author"},
	} {
		got, err := ParseKVObjectKey(c.prefix, c.object)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.object, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.object, got, err, c.want)
		}
	}
}

func FuzzParseKVObjectKey(f *testing.F) {
	f.Add("persistence", "persistence/t/a/b/k")
	f.Add("persistence", "persistence/t/a/b/k/l/m")
	f.Add("p", "p//a/b/c")
	f.Fuzz(func(t *testing.T, prefix, object string) {
		o, err := ParseKVObjectKey(prefix, object)
		if err != nil {
			return
		}
		// What comes out names the same object again.
		back := strings.TrimSuffix(prefix, "/") + "/" + o.TenantID + "/" + o.PluginID + "/" + o.Key
		if back != object || strings.Contains(o.TenantID, "/") || strings.Count(o.PluginID, "/") != 1 || o.Key == "" {
			t.Fatalf("%q under %q parsed as %+v", object, prefix, o)
		}
	})
}

func TestParseTaskPlugins(t *testing.T) {
	raw := `[{"plugin_unique_identifier":"a/b:0.0.1@abc","labels":{"en_US":"B"},"icon":"i.svg","icon_dark":"","plugin_id":"a/b","status":"success","message":"","source":"package"}]`
	got, err := ParseTaskPlugins([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UniqueIdentifier != "a/b:0.0.1@abc" || got[0].Status != "success" || string(got[0].Labels) != `{"en_US":"B"}` || got[0].Source != "package" {
		t.Fatalf("got %+v", got)
	}
	if _, err := ParseTaskPlugins([]byte(`[{"status":"done"}]`)); err == nil || !strings.Contains(err.Error(), `status "done"`) {
		t.Fatalf("bad status: %v", err)
	}
	if _, err := ParseTaskPlugins([]byte(`{}`)); err == nil {
		t.Fatal("an object was taken for a list")
	}
}

func FuzzParseReferenceJSON(f *testing.F) {
	for _, s := range []string{`[]`, `null`, ``, `{"a":1}`, `[{"status":"failed","labels":null}]`, `[1]`, `{"api_key":"enc:x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if items, err := ParseTaskPlugins(raw); err == nil {
			for _, it := range items {
				if !json.Valid(it.Labels) {
					t.Fatalf("labels %q are not JSON", it.Labels)
				}
			}
		}
		if m, err := ParseObject(raw, "settings"); err == nil {
			if m == nil {
				t.Fatal("nil map without an error")
			}
			if _, err := json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
	})
}
