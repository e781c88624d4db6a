package vault

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/plugd/plugd/internal/keyfile"
	"github.com/plugd/plugd/internal/store"
)

// MasterKey wraps the tenants' data keys. Its ID (derived from the key, revealing nothing of
// it) is stored beside each wrapped data key.
type MasterKey struct {
	id  string
	key []byte
}

// ID names the key in the database and in messages.
func (m *MasterKey) ID() string { return m.id }

// NewMasterKey makes a master key from 32 random bytes.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("vault: a master key is 32 bytes, got %d", len(raw))
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("plugd vault master key id"))
	return &MasterKey{id: hex.EncodeToString(mac.Sum(nil)[:8]), key: append([]byte(nil), raw...)}, nil
}

// GenerateMasterKey makes a new random master key.
func GenerateMasterKey() (*MasterKey, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("vault: generating a master key: %w", err)
	}
	return NewMasterKey(raw)
}

// ParseMasterKey reads a master key's text form: 32 bytes in base64 (standard or URL
// alphabet, padded or not), as `openssl rand -base64 32` prints.
func ParseMasterKey(text string) (*MasterKey, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil && len(raw) == 32 {
			return NewMasterKey(raw)
		}
	}
	return nil, errors.New("a master key must be 32 random bytes in base64 (for example the output of `openssl rand -base64 32`)")
}

// String is the key's text form (base64url, unpadded). Only for writing the key file.
func (m *MasterKey) String() string { return base64.RawURLEncoding.EncodeToString(m.key) }

func keyAD(tenantID string, version int, masterID string) []byte {
	ad := []byte("plugd vault data key v1")
	ad = binary.AppendUvarint(ad, uint64(len(tenantID)))
	ad = append(ad, tenantID...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(version))
	return append(ad, masterID...)
}

// wrap seals a raw data key into row (tenant and version set by the caller).
func (m *MasterKey) wrap(row *store.DataKey, raw []byte) error {
	aead, err := newAEAD(m.key)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(raw)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("vault: nonce: %w", err)
	}
	row.MasterKeyID = m.id
	row.Wrapped = aead.Seal(nonce, nonce, raw, keyAD(row.TenantID, row.Version, m.id))
	return nil
}

func (m *MasterKey) unwrap(row store.DataKey) ([]byte, error) {
	aead, err := newAEAD(m.key)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(row.Wrapped) < n+aead.Overhead() {
		return nil, fmt.Errorf("%w: data key %d of tenant %s is truncated", ErrOpen, row.Version, row.TenantID)
	}
	raw, err := aead.Open(nil, row.Wrapped[:n], row.Wrapped[n:], keyAD(row.TenantID, row.Version, m.id))
	if err != nil {
		return nil, fmt.Errorf("%w: data key %d of tenant %s does not open under master key %s (altered or moved)", ErrOpen, row.Version, row.TenantID, m.id)
	}
	return raw, nil
}

// Keyring is the master keys a vault knows: Current wraps, Previous only unwrap (during and
// after a rotation, until every data key is re-wrapped).
type Keyring struct {
	Current  *MasterKey
	Previous []*MasterKey
}

func (r Keyring) byID(id string) *MasterKey {
	if r.Current != nil && r.Current.id == id {
		return r.Current
	}
	for _, k := range r.Previous {
		if k.id == id {
			return k
		}
	}
	return nil
}

func (r Keyring) unwrap(row store.DataKey) ([]byte, error) {
	m := r.byID(row.MasterKeyID)
	if m == nil {
		return nil, fmt.Errorf("%w: data key %d of tenant %s is wrapped under master key %s, which this process was not given (set PLUGD_MASTER_KEY, or PLUGD_MASTER_KEY_PREVIOUS during a rotation)",
			ErrOpen, row.Version, row.TenantID, row.MasterKeyID)
	}
	return m.unwrap(row)
}

// MasterKeyFileName is the key file kept in the data folder when PLUGD_MASTER_KEY is unset.
const MasterKeyFileName = "master.key"

// nextSuffix marks the new key of a rotation in progress, kept until every data key is
// re-wrapped under it, so an interrupted rotation is resumed instead of losing keys.
const nextSuffix = ".next"

// LoadKeyring finds the master keys: PLUGD_MASTER_KEY (and PLUGD_MASTER_KEY_PREVIOUS, a comma
// list, while rotating) through lookup, else the key file in dataDir, generated (mode 0600) on
// first start and announced on out. While a rotation is unfinished (a master.key.next beside
// it), the new key wraps and the old one still unwraps, so every data key stays readable.
func LoadKeyring(lookup func(string) (string, bool), dataDir string, out io.Writer) (Keyring, error) {
	if text, ok := lookup("PLUGD_MASTER_KEY"); ok && strings.TrimSpace(text) != "" {
		cur, err := ParseMasterKey(text)
		if err != nil {
			return Keyring{}, fmt.Errorf("PLUGD_MASTER_KEY: %w", err)
		}
		ring := Keyring{Current: cur}
		if prev, ok := lookup("PLUGD_MASTER_KEY_PREVIOUS"); ok {
			for _, p := range strings.Split(prev, ",") {
				if strings.TrimSpace(p) == "" {
					continue
				}
				k, err := ParseMasterKey(p)
				if err != nil {
					return Keyring{}, fmt.Errorf("PLUGD_MASTER_KEY_PREVIOUS: %w", err)
				}
				ring.Previous = append(ring.Previous, k)
			}
		}
		return ring, nil
	}
	path := filepath.Join(dataDir, MasterKeyFileName)
	cur, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if cur, err = GenerateMasterKey(); err != nil {
			return Keyring{}, err
		}
		if err := keyfile.Write(path, cur.String()); err != nil {
			return Keyring{}, fmt.Errorf("saving the master key: %w", err)
		}
		fmt.Fprintf(out, "plugd: generated the master key that encrypts stored credentials and saved it in %s; back it up apart from the database: without it no stored credential can be read\n", path)
	} else if err != nil {
		return Keyring{}, err
	}
	ring := Keyring{Current: cur}
	next, err := readKeyFile(path + nextSuffix)
	switch {
	case err == nil:
		// A rotation is under way: new data keys go under the new key at once.
		ring = Keyring{Current: next, Previous: []*MasterKey{cur}}
	case !errors.Is(err, fs.ErrNotExist):
		return Keyring{}, err
	}
	return ring, nil
}

func readKeyFile(path string) (*MasterKey, error) {
	text, err := keyfile.Read(path, "master key")
	if err != nil {
		return nil, err
	}
	k, err := ParseMasterKey(text)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

// RotateReport says what a rotation did.
type RotateReport struct {
	From      []string `json:"from"`      // master key ids re-wrapped away from
	To        string   `json:"to"`        // the master key id everything is now under
	Rewrapped int      `json:"rewrapped"` // data keys re-wrapped by this run
	Already   int      `json:"already"`   // data keys found under To already
}

// Rotate re-wraps every data key not yet under ring.Current with it, unwrapping with whichever
// key of ring wrapped it. Credentials are not touched (their data keys do not change). Safe to
// run again after an interruption: finished rows are skipped.
func Rotate(ctx context.Context, keys KeyStore, ring Keyring) (RotateReport, error) {
	rep := RotateReport{To: ring.Current.ID()}
	rows, err := keys.AllDataKeys(ctx)
	if err != nil {
		return rep, fmt.Errorf("vault rotate: %w", err)
	}
	from := map[string]bool{}
	for _, row := range rows {
		if row.MasterKeyID == ring.Current.id {
			rep.Already++
			continue
		}
		raw, err := ring.unwrap(row)
		if err != nil {
			return rep, fmt.Errorf("vault rotate: %w", err)
		}
		next := store.DataKey{TenantID: row.TenantID, Version: row.Version}
		if err := ring.Current.wrap(&next, raw); err != nil {
			return rep, err
		}
		if err := keys.RewrapDataKey(ctx, row.TenantID, row.Version, row.MasterKeyID, next.MasterKeyID, next.Wrapped); err != nil {
			return rep, fmt.Errorf("vault rotate: %w", err)
		}
		if !from[row.MasterKeyID] {
			from[row.MasterKeyID] = true
			rep.From = append(rep.From, row.MasterKeyID)
		}
		rep.Rewrapped++
	}
	return rep, nil
}

// RotateKeyFile replaces the master key kept in dataDir's key file with a new one: the new key
// is saved first (master.key.next), every data key is re-wrapped under it, and only then does
// it replace master.key. Interrupted at any point, running it again finishes the job and no
// credential is lost. (With PLUGD_MASTER_KEY, rotate with Rotate instead: set the new key there
// and the old one in PLUGD_MASTER_KEY_PREVIOUS.)
func RotateKeyFile(ctx context.Context, keys KeyStore, dataDir string) (RotateReport, error) {
	path := filepath.Join(dataDir, MasterKeyFileName)
	cur, err := readKeyFile(path)
	if err != nil {
		return RotateReport{}, fmt.Errorf("vault rotate: %w", err)
	}
	next, err := readKeyFile(path + nextSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		if next, err = GenerateMasterKey(); err != nil {
			return RotateReport{}, err
		}
		if err := keyfile.Write(path+nextSuffix, next.String()); err != nil {
			return RotateReport{}, fmt.Errorf("vault rotate: saving the new master key: %w", err)
		}
	} else if err != nil {
		return RotateReport{}, fmt.Errorf("vault rotate: %w", err)
	}
	rep, err := Rotate(ctx, keys, Keyring{Current: next, Previous: []*MasterKey{cur}})
	if err != nil {
		return rep, fmt.Errorf("%w (the new key is kept in %s; run the rotation again to finish)", err, path+nextSuffix)
	}
	if err := os.Rename(path+nextSuffix, path); err != nil {
		return rep, fmt.Errorf("vault rotate: every data key is under the new key, but replacing %s failed: %w (rename %s to it by hand)", path, err, path+nextSuffix)
	}
	return rep, nil
}
