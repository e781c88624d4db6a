package install

import (
	"bytes"
	"context"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/signature"
)

func readPackage(t *testing.T, data []byte) *pkgfile.Package {
	t.Helper()
	pkg, err := pkgfile.Read(bytes.NewReader(data), int64(len(data)), pkgfile.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// packageBy builds a package whose manifest names author, signed by key with category cat
// (unsigned when key is nil).
func packageBy(t *testing.T, author string, key *rsa.PrivateKey, cat signature.Category) *pkgfile.Package {
	t.Helper()
	data := buildPackageBy(t, author, "probe", "0.0.1")
	if key == nil {
		return readPackage(t, data)
	}
	var buf bytes.Buffer
	if err := signature.Sign(context.Background(), readPackage(t, data), &buf, key, cat, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return readPackage(t, buf.Bytes())
}

func TestSignaturePolicyLanggeniusAuthor(t *testing.T) {
	ctx := context.Background()
	priv, err := signature.GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := staticKeys{{Name: "operator.pem", Key: &priv.PublicKey}}
	tests := []struct {
		name    string
		policy  SignaturePolicy
		pkg     *pkgfile.Package
		want    string // in the error; "" is success
		wantCat string
	}{
		{"langgenius unsigned, enforced", SignaturePolicy{EnforceLanggenius: true, Keys: keys}, packageBy(t, "langgenius", nil, ""), "it is not signed", ""},
		{"LangGenius community-signed, enforced", SignaturePolicy{EnforceLanggenius: true, Keys: keys}, packageBy(t, "langgenius", priv, signature.Community), "community category", ""},
		{"langgenius partner-signed, enforced and forced", SignaturePolicy{Force: true, EnforceLanggenius: true, Keys: keys}, packageBy(t, "langgenius", priv, signature.Partner), "ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES", ""},
		{"langgenius signed by an untrusted key, enforced", SignaturePolicy{EnforceLanggenius: true}, packageBy(t, "langgenius", priv, signature.Langgenius), "does not verify", ""},
		{"langgenius langgenius-signed, enforced", SignaturePolicy{EnforceLanggenius: true, Keys: keys}, packageBy(t, "langgenius", priv, signature.Langgenius), "", "langgenius"},
		{"langgenius unsigned, not enforced", SignaturePolicy{Keys: keys}, packageBy(t, "langgenius", nil, ""), "", ""},
		{"other author unsigned, enforced", SignaturePolicy{EnforceLanggenius: true, Keys: keys}, packageBy(t, "someone", nil, ""), "", ""},
		{"other author community-signed, enforced and forced", SignaturePolicy{Force: true, EnforceLanggenius: true, Keys: keys}, packageBy(t, "someone", priv, signature.Community), "", "community"},
		{"unsigned, forced", SignaturePolicy{Force: true, Keys: keys}, packageBy(t, "someone", nil, ""), "FORCE_VERIFYING_SIGNATURE", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			author := "someone"
			if strings.HasPrefix(strings.ToLower(tc.name), "langgenius") {
				author = strings.Fields(tc.name)[0]
			}
			ver, err := tc.policy.Check(ctx, tc.pkg, author, false)
			if tc.want != "" {
				var ie *InputError
				if err == nil || !strings.Contains(err.Error(), tc.want) || !asInputError(err, &ie) {
					t.Fatalf("got %v, want an InputError saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ver != nil {
				got = ver.AuthorizedCategory
			}
			if got != tc.wantCat {
				t.Fatalf("category %q, want %q", got, tc.wantCat)
			}
		})
	}
}

func asInputError(err error, target **InputError) bool {
	ie, ok := err.(*InputError)
	if ok {
		*target = ie
	}
	return ok
}

// A manager's policy is the one CheckPackage applies, reading the author from the manifest.
func TestCheckPackageReadsTheAuthor(t *testing.T) {
	m := New(Config{EnforceLanggeniusSignatures: true})
	defer m.Close()
	if _, err := m.CheckPackage(context.Background(), packageBy(t, "langgenius", nil, ""), false); err == nil || !strings.Contains(err.Error(), `author is "langgenius"`) {
		t.Fatalf("CheckPackage of an unsigned langgenius package: %v", err)
	}
	if _, err := m.CheckPackage(context.Background(), packageBy(t, "someone", nil, ""), false); err != nil {
		t.Fatalf("CheckPackage of an unsigned package by someone: %v", err)
	}
}
