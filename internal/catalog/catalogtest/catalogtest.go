// Package catalogtest has helpers for tests of the catalog and its adapters. Secrets is a real
// AES-256-GCM sealer with a random in-memory key, binding tenant and reference as associated
// data, so tests exercise sealing and refusal the way the vault does without its key files.
package catalogtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"github.com/plugd/plugd/internal/catalog"
)

// Secrets seals with one random key per value of the struct.
type Secrets struct{ aead cipher.AEAD }

var _ catalog.Secrets = (*Secrets)(nil)

// NewSecrets returns a sealer with a fresh random key.
func NewSecrets() *Secrets {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Secrets{aead: aead}
}

func ad(tenant, ref string) []byte { return []byte(tenant + "\x00" + ref) }

// Seal encrypts plaintext for (tenant, ref).
func (s *Secrets) Seal(_ context.Context, tenant, ref string, plaintext []byte) ([]byte, error) {
	if tenant == "" || ref == "" {
		// As the real vault: a secret is always bound to a tenant and a credential.
		return nil, errors.New("catalogtest: seal needs a tenant id and a credential id")
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, ad(tenant, ref)), nil
}

// Open decrypts what Seal made for the same (tenant, ref).
func (s *Secrets) Open(_ context.Context, tenant, ref string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], ad(tenant, ref))
}
