package signature

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/pkgfile"
)

const vectors = "../../testdata/vectors/"

func openPkg(t *testing.T, path string) *pkgfile.Package {
	t.Helper()
	p, err := pkgfile.Open(path, pkgfile.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func readPkg(t *testing.T, data []byte) *pkgfile.Package {
	t.Helper()
	p, err := pkgfile.Read(bytes.NewReader(data), int64(len(data)), pkgfile.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadKeys(t *testing.T, paths ...string) []TrustedKey {
	t.Helper()
	keys, err := LoadTrustedKeys(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func testPrivateKey(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(vectors + "testkey.private.pem")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestVerifyVectors(t *testing.T) {
	ctx := context.Background()
	testKey := loadKeys(t, vectors+"testkey.public.pem")
	official := loadKeys(t, vectors+"official/langgenius_public_key.pem")

	res, err := Verify(ctx, openPkg(t, vectors+"vec1.signed.difypkg"), testKey)
	if err != nil {
		t.Fatalf("vec1.signed: %v", err)
	}
	if res.Category != Community || !res.HasVerificationFile || res.KeyName != vectors+"testkey.public.pem" || res.Time.IsZero() {
		t.Errorf("vec1.signed: %+v", res)
	}

	_, err = Verify(ctx, openPkg(t, vectors+"vec1.tampered.difypkg"), testKey)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "signature does not match any trusted key (tried: testkey.public.pem)") {
		t.Errorf("tampered: %v", err)
	}

	_, err = Verify(ctx, openPkg(t, vectors+"vec1.difypkg"), testKey)
	if !errors.Is(err, ErrUnsigned) || !strings.Contains(err.Error(), "package is not signed") {
		t.Errorf("unsigned: %v", err)
	}

	res, err = Verify(ctx, openPkg(t, vectors+"official/langgenius-agent_0.0.14.difypkg"), official)
	if err != nil {
		t.Fatalf("official package: %v", err)
	}
	if res.Category != Langgenius || res.HasVerificationFile {
		t.Errorf("official package without a verification file: %+v", res)
	}

	// The wrong key fails; trying several keys succeeds as soon as one matches.
	if _, err := Verify(ctx, openPkg(t, vectors+"vec1.signed.difypkg"), official); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	both := append(append([]TrustedKey{}, official...), testKey...)
	if res, err := Verify(ctx, openPkg(t, vectors+"vec1.signed.difypkg"), both); err != nil || res.KeyName != testKey[0].Name {
		t.Errorf("two keys: %+v, %v", res, err)
	}
}

// TestSignReproducesReference signs vec1 at the signed vector's time: RSA PKCS#1 v1.5 is
// deterministic and the writer matches archive/zip, so the bytes must be the reference's.
func TestSignReproducesReference(t *testing.T) {
	ctx := context.Background()
	signed := openPkg(t, vectors+"vec1.signed.difypkg")
	var c comment
	if err := json.Unmarshal([]byte(signed.Comment()), &c); err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(testPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Sign(ctx, openPkg(t, vectors+"vec1.difypkg"), &out, key, Community, time.Unix(c.Time, 0)); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(vectors + "vec1.signed.difypkg")
	if !bytes.Equal(out.Bytes(), want) {
		t.Error("signing vec1 does not reproduce vec1.signed.difypkg")
	}
	if _, err := Verify(ctx, readPkg(t, out.Bytes()), loadKeys(t, vectors+"testkey.public.pem")); err != nil {
		t.Errorf("own signature: %v", err)
	}
}

func TestResign(t *testing.T) {
	ctx := context.Background()
	key, err := ParsePrivateKey(testPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Sign(ctx, openPkg(t, vectors+"vec1.signed.difypkg"), &out, key, Partner, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := readPkg(t, out.Bytes())
	res, err := Verify(ctx, p, loadKeys(t, vectors+"testkey.public.pem"))
	if err != nil {
		t.Fatalf("re-signed package: %v", err)
	}
	if res.Category != Partner {
		t.Errorf("category %q, want partner", res.Category)
	}
	n := 0
	entries := p.Entries()
	for _, e := range entries {
		if e.Name == VerificationFile {
			n++
		}
	}
	if n != 1 || entries[len(entries)-1].Name != VerificationFile {
		t.Errorf("%d verification files, want exactly one, last: %v", n, entries)
	}
	if err := Sign(ctx, p, io.Discard, key, Category(""), time.Now()); err == nil {
		t.Error("signing with an empty category should fail")
	}
	// Categories are written lower-case whatever the caller typed.
	out.Reset()
	if err := Sign(ctx, p, &out, key, Category("Community"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if v, _ := readPkg(t, out.Bytes()).ReadFile(VerificationFile); string(v) != `{"authorized_category":"community"}` {
		t.Errorf("verification file %s", v)
	}
}

// TestOpenSSLVerifies checks a plugd signature with openssl, computing the signed data
// independently from archive/zip, as package-and-cli.md §10 describes.
func TestOpenSSLVerifies(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is required for this test")
	}
	ctx := context.Background()
	key, err := ParsePrivateKey(testPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	if err := Sign(ctx, openPkg(t, vectors+"vec1.difypkg"), &signed, key, Community, time.Now()); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(signed.Bytes()), int64(signed.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var c comment
	if err := json.Unmarshal([]byte(zr.Comment), &c); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(rc)
		rc.Close()
		sum := sha256.Sum256(content)
		data = append(data, sum[:]...)
	}
	data = append(data, strconv.FormatInt(c.Time, 10)...)
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spki := filepath.Join(dir, "k.spki.pem")
	if out, err := exec.Command(openssl, "rsa", "-RSAPublicKey_in", "-in", vectors+"testkey.public.pem", "-pubout", "-out", spki).CombinedOutput(); err != nil {
		t.Fatalf("openssl rsa: %v\n%s", err, out)
	}
	out, err := exec.Command(openssl, "dgst", "-sha256", "-verify", spki, "-signature", write("sig.bin", sig), write("data.bin", data)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "Verified OK" {
		t.Fatalf("openssl dgst: %v: %s", err, out)
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	keys := loadKeys(t, vectors+"testkey.public.pem")
	small, err := GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	var smallSigned bytes.Buffer
	if err := Sign(ctx, openPkg(t, vectors+"vec1.difypkg"), &smallSigned, small, Community, time.Now()); err != nil {
		t.Fatal(err)
	}
	withComment := func(c string) []byte {
		var out bytes.Buffer
		err := openPkg(t, vectors+"vec1.difypkg").Rewrite(ctx, &out, pkgfile.RewriteOptions{
			Comment: func([][sha256.Size]byte) (string, error) { return c, nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	tests := []struct {
		name string
		pkg  []byte
		keys []TrustedKey
		kind error
		msg  string
	}{
		{"not JSON", withComment("made with zip -z"), keys, ErrBadSignature, "zip comment is not a signature"},
		{"missing time", withComment(`{"signature":"AAAA"}`), keys, ErrBadSignature, `lacks "signature" or "time"`},
		{"bad base64", withComment(`{"signature":"%%%","time":1}`), keys, ErrBadSignature, "not valid base64"},
		{"empty signature", withComment(`{"signature":"","time":1}`), keys, ErrBadSignature, "signature is empty"},
		{"float time", withComment(`{"signature":"AAAA","time":1.5}`), keys, ErrBadSignature, "not a signature"},
		{"trailing data", withComment(`{"signature":"AAAA","time":1} {}`), keys, ErrBadSignature, "data after the signature"},
		{"wrong length", withComment(`{"signature":"AAAA","time":1}`), keys, ErrBadSignature, "signature is 3 bytes, which fits none of the trusted keys (tried: testkey.public.pem)"},
		{"key of another size", smallSigned.Bytes(), keys, ErrBadSignature, "256 bytes"},
		{"no keys", smallSigned.Bytes(), nil, ErrBadSignature, "no trusted keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(ctx, readPkg(t, tc.pkg), tc.keys)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestBadVerificationFile(t *testing.T) {
	ctx := context.Background()
	key, err := ParsePrivateKey(testPrivateKey(t))
	if err != nil {
		t.Fatal(err)
	}
	// Signed by a trusted key, but the category is not one we know.
	var out bytes.Buffer
	err = openPkg(t, vectors+"vec1.difypkg").Rewrite(ctx, &out, pkgfile.RewriteOptions{
		Append: []pkgfile.File{{Name: VerificationFile, Data: []byte(`{"authorized_category":""}`)}},
		Comment: func(sums [][sha256.Size]byte) (string, error) {
			d := signedDigest(sums, 7)
			sig, err := signDigest(key, d)
			return formatComment(sig, 7), err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, readPkg(t, out.Bytes()), loadKeys(t, vectors+"testkey.public.pem"))
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "invalid "+VerificationFile) {
		t.Errorf("empty category: %v", err)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	key, err := GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyPair(1024); err == nil {
		t.Error("1024-bit keys should be refused")
	}
	priv, pub, err := WriteKeyPair(key, filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm()&^mode != 0 {
			t.Errorf("%s: mode %v, want at most %v (%v)", path, info.Mode(), mode, err)
		}
	}
	privPEM, _ := os.ReadFile(priv)
	pubPEM, _ := os.ReadFile(pub)
	if !strings.HasPrefix(string(privPEM), "-----BEGIN RSA PRIVATE KEY-----") || !strings.HasPrefix(string(pubPEM), "-----BEGIN RSA PUBLIC KEY-----") {
		t.Errorf("PEM types:\n%s\n%s", privPEM[:40], pubPEM[:40])
	}
	if _, _, err := WriteKeyPair(key, filepath.Join(dir, "k")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("overwrite: %v", err)
	}
	if got, _ := os.ReadFile(priv); !bytes.Equal(got, privPEM) {
		t.Error("the existing key was changed")
	}
	if k, err := ParsePrivateKey(privPEM); err != nil || !k.Equal(key) {
		t.Errorf("ParsePrivateKey round trip: %v", err)
	}
	if k, err := ParsePublicKey(pubPEM); err != nil || !k.Equal(&key.PublicKey) {
		t.Errorf("ParsePublicKey round trip: %v", err)
	}

	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	if k, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})); err != nil || !k.Equal(key) {
		t.Errorf("PKCS#8: %v", err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if k, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})); err != nil || !k.Equal(&key.PublicKey) {
		t.Errorf("SPKI: %v", err)
	}

	bad := []struct {
		name, pem, msg string
		private        bool
	}{
		{"public as private", string(pubPEM), `is "RSA PUBLIC KEY", want "RSA PRIVATE KEY"`, true},
		{"private as public", string(privPEM), `is "RSA PRIVATE KEY", want "RSA PUBLIC KEY"`, false},
		{"not PEM", "hello", "no PEM block found", false},
		{"trailing data", string(pubPEM) + "junk", "extra data after the PEM block", false},
		{"encrypted", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", "encrypted", true},
		{"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", `"CERTIFICATE"`, false},
	}
	for _, tc := range bad {
		var err error
		if tc.private {
			_, err = ParsePrivateKey([]byte(tc.pem))
		} else {
			_, err = ParsePublicKey([]byte(tc.pem))
		}
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func TestLoadTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	pub, _ := os.ReadFile(vectors + "testkey.public.pem")
	official, _ := os.ReadFile(vectors + "official/langgenius_public_key.pem")
	os.WriteFile(filepath.Join(dir, "b.pem"), pub, 0o644)
	os.WriteFile(filepath.Join(dir, "a.pem"), official, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a key"), 0o644)
	keys, err := LoadTrustedKeys(dir, vectors+"testkey.public.pem")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || filepath.Base(keys[0].Name) != "a.pem" || filepath.Base(keys[1].Name) != "b.pem" {
		t.Errorf("keys: %v", keys)
	}
	if _, err := LoadTrustedKeys(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.pem files") {
		t.Errorf("empty folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "c.pem"), []byte("garbage"), 0o644)
	if _, err := LoadTrustedKeys(dir); err == nil || !strings.Contains(err.Error(), "c.pem") {
		t.Errorf("bad key file: %v", err)
	}
	if _, err := LoadTrustedKeys(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing file")
	}
}

func TestParseCategory(t *testing.T) {
	for in, want := range map[string]Category{"langgenius": Langgenius, "Partner": Partner, "COMMUNITY": Community} {
		if got, err := ParseCategory(in); err != nil || got != want {
			t.Errorf("ParseCategory(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "official", " community"} {
		if _, err := ParseCategory(in); err == nil {
			t.Errorf("ParseCategory(%q) should fail", in)
		}
	}
}

func FuzzParseComment(f *testing.F) {
	for _, s := range []string{"", `{"signature":"AAAA","time":1}`, `{"signature":"","time":-1}`, `{}`, `[]`, `{"time":1e99}`, "null"} {
		f.Add(s)
	}
	signed, err := os.ReadFile(vectors + "vec1.signed.difypkg")
	if err == nil {
		if zr, err := zip.NewReader(bytes.NewReader(signed), int64(len(signed))); err == nil {
			f.Add(zr.Comment)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, ts, err := parseComment(s)
		if err != nil {
			if !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What parses, formats back to something that parses to the same values.
		sig2, ts2, err := parseComment(formatComment(sig, ts))
		if err != nil || !bytes.Equal(sig, sig2) || ts != ts2 {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}
