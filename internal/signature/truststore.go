package signature

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// officialPEM is Dify's official public key, the one the Marketplace's packages are signed
// with (pkg/license/public_key/PUBLIC_KEY.pem in the reference daemon). It is a public fact:
// a daemon that does not trust it cannot install what Dify's Marketplace serves.
//
//go:embed official_public_key.pem
var officialPEM []byte

// OfficialKeyName is the name the built-in official key is reported under.
const OfficialKeyName = "official (langgenius, built in)"

// Official returns Dify's official public key, built into the binary.
func Official() TrustedKey {
	k, err := ParsePublicKey(officialPEM)
	if err != nil {
		panic("signature: the built-in official key does not parse: " + err.Error())
	}
	return TrustedKey{Name: OfficialKeyName, Key: k}
}

// OfficialPEM returns the built-in official key as PEM, for users who want to inspect it.
func OfficialPEM() []byte { return slices.Clone(officialPEM) }

// TrustStore is the set of keys a daemon verifies packages with: fixed keys (the built-in
// official key, THIRD_PARTY_SIGNATURE_VERIFICATION_PUBLIC_KEYS) plus every *.pem in a trust
// folder. The folder is looked at on every Keys call and read again when its listing (names,
// sizes, modification times) changed, so a key an operator adds or removes applies to the
// next upload without a restart. Listing a small folder costs a few microseconds, far below
// the cost of one signature check. Safe for concurrent use.
type TrustStore struct {
	fixed []TrustedKey
	dir   string

	mu     sync.Mutex
	stamp  string
	folder []TrustedKey
	err    error
}

// NewTrustStore makes a store of fixed keys and the *.pem files of dir ("" for none; a
// folder that does not exist counts as empty until it is created).
func NewTrustStore(fixed []TrustedKey, dir string) *TrustStore {
	return &TrustStore{fixed: slices.Clone(fixed), dir: dir, stamp: "\x00unread"}
}

// Dir is the trust folder, "" when there is none.
func (s *TrustStore) Dir() string { return s.dir }

// Keys returns the fixed keys followed by the folder's, reading the folder again if it
// changed. A key file that does not parse is an error naming it: the operator put it there
// to be trusted, and silently skipping it would refuse packages for no visible reason.
func (s *TrustStore) Keys() ([]TrustedKey, error) {
	if s.dir == "" {
		return slices.Clone(s.fixed), nil
	}
	files, stamp, err := listPEM(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the trust folder %s: %w", s.dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if stamp != s.stamp {
		s.folder, s.err = loadFiles(files)
		s.stamp = stamp
	}
	if s.err != nil {
		return nil, fmt.Errorf("trust folder %s: %w", s.dir, s.err)
	}
	return append(slices.Clone(s.fixed), s.folder...), nil
}

// listPEM lists dir's *.pem files in name order with a stamp that changes when any of them
// is added, removed, resized or rewritten.
func listPEM(dir string) ([]string, string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var files []string
	var b strings.Builder
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing
		}
		if err != nil {
			return nil, "", err
		}
		files = append(files, filepath.Join(dir, e.Name()))
		b.WriteString(e.Name())
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(info.Size(), 10))
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(info.ModTime().UnixNano(), 10))
		b.WriteByte('\n')
	}
	return files, b.String(), nil
}

func loadFiles(files []string) ([]TrustedKey, error) {
	keys := make([]TrustedKey, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		keys = append(keys, TrustedKey{Name: f, Key: k})
	}
	return keys, nil
}
