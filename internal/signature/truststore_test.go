package signature

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

// The built-in key verifies the official vector package, which has no verification file
// and so counts as langgenius.
func TestOfficialKeyVerifiesTheOfficialPackage(t *testing.T) {
	res, err := Verify(context.Background(), readPkg(t, marketplacetest.AgentPackage(t)), []TrustedKey{Official()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Category != Langgenius || res.KeyName != OfficialKeyName || res.HasVerificationFile {
		t.Fatalf("%+v", res)
	}
}

func writePub(t *testing.T, path string, k *TrustedKey) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(k.Key)})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Keys added to, changed in or removed from the folder count at the next Keys call.
func TestTrustStoreFollowsTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trusted-keys")
	s := NewTrustStore([]TrustedKey{Official()}, dir)
	names := func() string {
		t.Helper()
		keys, err := s.Keys()
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, k := range keys {
			n = append(n, filepath.Base(k.Name))
		}
		return strings.Join(n, ",")
	}
	if got := names(); got != OfficialKeyName {
		t.Fatalf("missing folder: %s", got)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	a, err := GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	ka := TrustedKey{Key: &a.PublicKey}
	writePub(t, filepath.Join(dir, "a.pem"), &ka)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a key"), 0o644)
	if got := names(); got != OfficialKeyName+",a.pem" {
		t.Fatalf("after adding a.pem: %s", got)
	}
	// A broken key file is an error naming it, until it is fixed.
	os.WriteFile(filepath.Join(dir, "b.pem"), []byte("garbage"), 0o644)
	if _, err := s.Keys(); err == nil || !strings.Contains(err.Error(), "b.pem") {
		t.Fatalf("broken key: %v", err)
	}
	b, err := GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	kb := TrustedKey{Key: &b.PublicKey}
	writePub(t, filepath.Join(dir, "b.pem"), &kb)
	keys, err := s.Keys()
	if err != nil || len(keys) != 3 || !keys[2].Key.Equal(&b.PublicKey) {
		t.Fatalf("after fixing b.pem: %v, %v", keys, err)
	}
	// Replacing a key in place (same name and size, new time) is seen too.
	writePub(t, filepath.Join(dir, "a.pem"), &kb)
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "a.pem"), later, later)
	if keys, _ := s.Keys(); !keys[1].Key.Equal(&b.PublicKey) {
		t.Fatal("a.pem rewritten with another key: still the old key")
	}
	os.Remove(filepath.Join(dir, "a.pem"))
	if got := names(); got != OfficialKeyName+",b.pem" {
		t.Fatalf("after removing a.pem: %s", got)
	}
}

// BenchmarkTrustStoreKeys is the cost the folder check adds to every verification.
func BenchmarkTrustStoreKeys(b *testing.B) {
	dir := b.TempDir()
	k, err := GenerateKeyPair(2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{"a.pem", "b.pem", "c.pem"} {
		pem := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
		os.WriteFile(filepath.Join(dir, n), pem, 0o644)
	}
	s := NewTrustStore([]TrustedKey{Official()}, dir)
	for b.Loop() {
		if _, err := s.Keys(); err != nil {
			b.Fatal(err)
		}
	}
}
