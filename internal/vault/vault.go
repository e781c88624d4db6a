// Package vault keeps tool credentials (API keys, OAuth client secrets and tokens, workflow app
// keys, MCP headers) encrypted at rest, so a copy of the database, a dump or a backup reveals
// none of them.
//
// Why this shape (envelope encryption): each tenant has a random 256-bit data key; secrets are
// sealed with AES-256-GCM under it. Data keys are stored only wrapped (AES-256-GCM) under one
// master key that never enters the database (it comes from PLUGD_MASTER_KEY or a 0600 file in
// the data folder). Rotating the master key then means re-wrapping one small row per tenant and
// key version, not re-encrypting every credential, and it can be resumed if interrupted.
//
// Every seal binds its context as associated data: the tenant, the credential id and the data
// key version. A sealed value copied into another row or another tenant fails to open instead
// of handing one tenant's secret to another. The key version is stored beside the ciphertext
// (in the sealed text), so opening knows which data key to use and rotation knows what to
// re-wrap. Unlike Dify (RSA-2048 per tenant with a private key in its storage), nothing here
// is readable with database access alone.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/plugd/plugd/internal/store"
)

// KeyStore keeps the wrapped data keys. sqlstore.DB implements it.
type KeyStore interface {
	// DataKeys returns every version of a tenant's data key, newest first.
	DataKeys(ctx context.Context, tenantID string) ([]store.DataKey, error)
	// CreateDataKey adds a version; store.ErrConflict when it exists.
	CreateDataKey(ctx context.Context, k store.DataKey) error
	// AllDataKeys lists every tenant's keys (for rotation).
	AllDataKeys(ctx context.Context) ([]store.DataKey, error)
	// RewrapDataKey replaces a wrapped key if it is still under fromMasterKeyID;
	// store.ErrConflict otherwise.
	RewrapDataKey(ctx context.Context, tenantID string, version int, fromMasterKeyID, toMasterKeyID string, wrapped []byte) error
}

// ErrOpen is returned (wrapped) for a sealed value that cannot be opened: tampered, moved to
// another row or tenant, or sealed under a key this vault does not have.
var ErrOpen = errors.New("vault: cannot open sealed value")

// Vault seals and opens secrets for tenants. Safe for concurrent use; it caches unwrapped data
// keys in memory (they do not change when the master key is rotated).
type Vault struct {
	keys KeyStore
	ring Keyring

	mu    sync.Mutex
	cache map[string]*tenantKeys
}

type tenantKeys struct {
	current  int
	versions map[int]cipher.AEAD
}

// New returns a vault over keys; ring.Current wraps new data keys, ring.Previous only unwraps.
func New(keys KeyStore, ring Keyring) (*Vault, error) {
	if ring.Current == nil {
		return nil, errors.New("vault: no master key")
	}
	return &Vault{keys: keys, ring: ring, cache: map[string]*tenantKeys{}}, nil
}

// sealedPrefix starts every sealed value; "v1" is this format (AES-256-GCM, 12-byte nonce).
const sealedPrefix = "vault:v1:"

// Sealed is a secret as stored: its data key version and nonce+ciphertext+tag.
type Sealed struct {
	KeyVersion int
	Box        []byte
}

// String is the stored text form, "vault:v1:<key version>:<base64url(nonce|ciphertext|tag)>".
func (s Sealed) String() string {
	return sealedPrefix + strconv.Itoa(s.KeyVersion) + ":" + base64.RawURLEncoding.EncodeToString(s.Box)
}

// ParseSealed reads the text form.
func ParseSealed(text string) (Sealed, error) {
	rest, ok := strings.CutPrefix(text, sealedPrefix)
	if !ok {
		return Sealed{}, fmt.Errorf("%w: not a sealed value (want the prefix %q)", ErrOpen, sealedPrefix)
	}
	ver, box, ok := strings.Cut(rest, ":")
	if !ok {
		return Sealed{}, fmt.Errorf("%w: sealed value has no key version", ErrOpen)
	}
	v, err := strconv.Atoi(ver)
	if err != nil || v < 1 {
		return Sealed{}, fmt.Errorf("%w: bad key version %q", ErrOpen, ver)
	}
	b, err := base64.RawURLEncoding.DecodeString(box)
	if err != nil {
		return Sealed{}, fmt.Errorf("%w: sealed value is not base64url: %v", ErrOpen, err)
	}
	return Sealed{KeyVersion: v, Box: b}, nil
}

// IsSealed tells whether text looks like a sealed value (to tell it from a clear one while
// migrating old rows).
func IsSealed(text string) bool { return strings.HasPrefix(text, sealedPrefix) }

// secretAD binds a sealed secret to where it belongs. Each part is length-prefixed so that
// ("ab","c") and ("a","bc") differ.
func secretAD(tenantID, credentialID string, version int) []byte {
	ad := []byte("plugd vault secret v1")
	ad = binary.AppendUvarint(ad, uint64(len(tenantID)))
	ad = append(ad, tenantID...)
	ad = binary.AppendUvarint(ad, uint64(len(credentialID)))
	ad = append(ad, credentialID...)
	return binary.BigEndian.AppendUint32(ad, uint32(version))
}

// Seal encrypts plaintext for the tenant under its current data key (made on first use) and
// returns the stored text form (see Sealed.String). credentialID must name the one place the
// value belongs (e.g. "<provider id>/<field name>"): the value opens only with the same tenant
// and credential id.
func (v *Vault) Seal(ctx context.Context, tenantID, credentialID string, plaintext []byte) ([]byte, error) {
	s, err := v.SealValue(ctx, tenantID, credentialID, plaintext)
	if err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// Open decrypts the text form of a value sealed for the same tenant and credential id.
func (v *Vault) Open(ctx context.Context, tenantID, credentialID string, sealed []byte) ([]byte, error) {
	s, err := ParseSealed(string(sealed))
	if err != nil {
		return nil, fmt.Errorf("credential %s of tenant %s: %w", credentialID, tenantID, err)
	}
	return v.OpenValue(ctx, tenantID, credentialID, s)
}

// SealValue is Seal returning the parts rather than the text form.
func (v *Vault) SealValue(ctx context.Context, tenantID, credentialID string, plaintext []byte) (Sealed, error) {
	if tenantID == "" || credentialID == "" {
		return Sealed{}, errors.New("vault: seal needs a tenant id and a credential id")
	}
	version, aead, err := v.currentKey(ctx, tenantID)
	if err != nil {
		return Sealed{}, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("vault: nonce: %w", err)
	}
	box := aead.Seal(nonce, nonce, plaintext, secretAD(tenantID, credentialID, version))
	return Sealed{KeyVersion: version, Box: box}, nil
}

// SealString is Seal for a text secret.
func (v *Vault) SealString(ctx context.Context, tenantID, credentialID, secret string) (string, error) {
	b, err := v.Seal(ctx, tenantID, credentialID, []byte(secret))
	return string(b), err
}

// OpenValue is Open for a value already split into its parts.
func (v *Vault) OpenValue(ctx context.Context, tenantID, credentialID string, s Sealed) ([]byte, error) {
	aead, err := v.versionKey(ctx, tenantID, s.KeyVersion)
	if err != nil {
		return nil, err
	}
	if len(s.Box) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: credential %s of tenant %s: sealed value too short", ErrOpen, credentialID, tenantID)
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, s.Box[:n], s.Box[n:], secretAD(tenantID, credentialID, s.KeyVersion))
	if err != nil {
		return nil, fmt.Errorf("%w: credential %s of tenant %s: altered, or sealed for another tenant or credential", ErrOpen, credentialID, tenantID)
	}
	return out, nil
}

// OpenString is Open for a text secret.
func (v *Vault) OpenString(ctx context.Context, tenantID, credentialID, sealed string) (string, error) {
	b, err := v.Open(ctx, tenantID, credentialID, []byte(sealed))
	return string(b), err
}

// currentKey is the tenant's newest data key, made (version 1) if the tenant has none.
func (v *Vault) currentKey(ctx context.Context, tenantID string) (int, cipher.AEAD, error) {
	v.mu.Lock()
	if tk := v.cache[tenantID]; tk != nil && tk.current > 0 {
		aead := tk.versions[tk.current]
		v.mu.Unlock()
		return tk.current, aead, nil
	}
	v.mu.Unlock()
	if err := v.load(ctx, tenantID); err != nil {
		return 0, nil, err
	}
	v.mu.Lock()
	tk := v.cache[tenantID]
	v.mu.Unlock()
	if tk != nil && tk.current > 0 {
		return tk.current, tk.versions[tk.current], nil
	}
	if err := v.create(ctx, tenantID, 1); err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, nil, err
	}
	// Made by us or, on a conflict, by another node: read what is stored.
	if err := v.load(ctx, tenantID); err != nil {
		return 0, nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	tk = v.cache[tenantID]
	if tk == nil || tk.current == 0 {
		return 0, nil, fmt.Errorf("vault: data key of tenant %s vanished after it was made", tenantID)
	}
	return tk.current, tk.versions[tk.current], nil
}

func (v *Vault) versionKey(ctx context.Context, tenantID string, version int) (cipher.AEAD, error) {
	for attempt := 0; attempt < 2; attempt++ {
		v.mu.Lock()
		if tk := v.cache[tenantID]; tk != nil {
			if aead := tk.versions[version]; aead != nil {
				v.mu.Unlock()
				return aead, nil
			}
		}
		v.mu.Unlock()
		if attempt == 0 {
			if err := v.load(ctx, tenantID); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: tenant %s has no data key version %d", ErrOpen, tenantID, version)
}

// load reads and unwraps every data key version of the tenant into the cache.
func (v *Vault) load(ctx context.Context, tenantID string) error {
	rows, err := v.keys.DataKeys(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	tk := &tenantKeys{versions: map[int]cipher.AEAD{}}
	for _, row := range rows {
		raw, err := v.ring.unwrap(row)
		if err != nil {
			return err
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return err
		}
		tk.versions[row.Version] = aead
		if row.Version > tk.current {
			tk.current = row.Version
		}
	}
	v.mu.Lock()
	v.cache[tenantID] = tk
	v.mu.Unlock()
	return nil
}

func (v *Vault) create(ctx context.Context, tenantID string, version int) error {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("vault: new data key: %w", err)
	}
	row := store.DataKey{TenantID: tenantID, Version: version}
	if err := v.ring.Current.wrap(&row, raw); err != nil {
		return err
	}
	if err := v.keys.CreateDataKey(ctx, row); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return cipher.NewGCM(block)
}

// Mask shows a secret the way Dify's credential answers do: the first 2 and last 2 characters
// with one '*' for each character between; a secret of 6 characters or fewer is all '*'.
// Characters, not bytes, are counted (as Python does).
func Mask(secret string) string {
	n := utf8.RuneCountInString(secret)
	if n <= 6 {
		return strings.Repeat("*", n)
	}
	r := []rune(secret)
	return string(r[:2]) + strings.Repeat("*", n-4) + string(r[n-2:])
}
