// Package signature signs and verifies .difypkg packages with the reference scheme: an
// RSASSA-PKCS1-v1_5 / SHA-256 signature over the SHA-256 of every entry's content in zip
// order followed by the decimal signing time, kept in the zip comment as
// {"signature":"<base64>","time":<unix>}. Packages it signs verify with the reference daemon
// and vice versa.
package signature

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/pkgfile"
)

var (
	// ErrUnsigned: the package has no signature (empty zip comment).
	ErrUnsigned = errors.New("package is not signed")
	// ErrBadSignature: the signature is malformed or no trusted key verifies it.
	ErrBadSignature = errors.New("bad signature")
)

// VerificationFile is the entry a signer adds to record the authorized category.
const VerificationFile = ".verification.dify.json"

// Category is the authorized_category recorded in a signed package.
type Category string

const (
	Langgenius Category = "langgenius"
	Partner    Category = "partner"
	Community  Category = "community"
)

// ParseCategory accepts a category in any case and returns it lower-case. Unlike the
// reference CLI it refuses "", which would produce a package the daemon cannot classify.
func ParseCategory(s string) (Category, error) {
	switch c := Category(strings.ToLower(s)); c {
	case Langgenius, Partner, Community:
		return c, nil
	}
	return "", fmt.Errorf("authorized category %q: must be one of langgenius, partner, community", s)
}

// GenerateKeyPair makes an RSA signing key; call sites use 4096 bits like the reference.
func GenerateKeyPair(bits int) (*rsa.PrivateKey, error) {
	if bits < 2048 {
		return nil, fmt.Errorf("RSA keys shorter than 2048 bits are not safe (asked for %d)", bits)
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// WriteKeyPair writes <prefix>.private.pem (mode 0600; the reference uses 0644, readable by
// everyone) and <prefix>.public.pem (0644) as PKCS#1 PEM. It never overwrites: losing a
// signing key by a repeated command is not recoverable.
func WriteKeyPair(key *rsa.PrivateKey, prefix string) (privPath, pubPath string, err error) {
	privPath, pubPath = prefix+".private.pem", prefix+".public.pem"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s already exists; not overwriting a key", p)
		}
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pub := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	if err := writeNew(privPath, priv, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// ParsePrivateKey reads a PKCS#1 "RSA PRIVATE KEY" PEM (what the reference writes) or, as a
// courtesy, a PKCS#8 "PRIVATE KEY" holding an RSA key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, err := decodePEM(pemBytes, "private")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("private key is %T, only RSA keys are supported", k)
	}
	return nil, fmt.Errorf("PEM block is %q, want \"RSA PRIVATE KEY\"", block.Type)
}

// ParsePublicKey reads a PKCS#1 "RSA PUBLIC KEY" PEM (what the reference writes and embeds)
// or an SPKI "PUBLIC KEY" holding an RSA key (what openssl writes).
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	block, err := decodePEM(pemBytes, "public")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("public key is %T, only RSA keys are supported", k)
	}
	return nil, fmt.Errorf("PEM block is %q, want \"RSA PUBLIC KEY\"", block.Type)
}

func decodePEM(data []byte, what string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block found in the %s key", what)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("extra data after the PEM block of the %s key", what)
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, fmt.Errorf("the %s key is encrypted; decrypt it first (openssl rsa -in key.pem -out plain.pem)", what)
	}
	return block, nil
}

// TrustedKey is a public key allowed to vouch for packages, with a name to report.
type TrustedKey struct {
	Name string // the file it came from, or "official"
	Key  *rsa.PublicKey
}

// LoadTrustedKeys reads public keys from PEM files and from folders of *.pem files.
func LoadTrustedKeys(paths ...string) ([]TrustedKey, error) {
	var keys []TrustedKey
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		files := []string{p}
		if info.IsDir() {
			files, err = filepath.Glob(filepath.Join(p, "*.pem"))
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: no *.pem files in this folder", p)
			}
			slices.Sort(files)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			k, err := ParsePublicKey(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			keys = append(keys, TrustedKey{Name: f, Key: k})
		}
	}
	return keys, nil
}

// Sign writes to w a signed copy of pkg. An existing verification file is dropped first, so
// re-signing a signed package (say, to change its category) gives one that verifies; the
// reference keeps both copies and produces a package nothing can verify.
func Sign(ctx context.Context, pkg *pkgfile.Package, w io.Writer, key *rsa.PrivateKey, cat Category, now time.Time) error {
	cat, err := ParseCategory(string(cat))
	if err != nil {
		return err
	}
	verification, err := json.Marshal(struct {
		AuthorizedCategory Category `json:"authorized_category"`
	}{cat})
	if err != nil {
		return err
	}
	t := now.Unix()
	return pkg.Rewrite(ctx, w, pkgfile.RewriteOptions{
		Drop:   func(name string) bool { return name == VerificationFile },
		Append: []pkgfile.File{{Name: VerificationFile, Data: verification}},
		Comment: func(sums [][sha256.Size]byte) (string, error) {
			sig, err := signDigest(key, signedDigest(sums, t))
			if err != nil {
				return "", fmt.Errorf("sign package: %w", err)
			}
			return formatComment(sig, t), nil
		},
	})
}

// signedDigest is SHA-256 of the entries' SHA-256 sums in zip order, then the decimal time.
func signedDigest(sums [][sha256.Size]byte, t int64) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	h.Write(strconv.AppendInt(nil, t, 10))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func signDigest(key *rsa.PrivateKey, digest [sha256.Size]byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
}

// comment is the zip comment of a signed package; the field order matches the reference.
type comment struct {
	Signature string `json:"signature"`
	Time      int64  `json:"time"`
}

func formatComment(sig []byte, t int64) string {
	b, _ := json.Marshal(comment{Signature: base64.StdEncoding.EncodeToString(sig), Time: t})
	return string(b)
}

// parseComment decodes a signed package's zip comment.
func parseComment(s string) (sig []byte, t int64, err error) {
	if s == "" {
		return nil, 0, ErrUnsigned
	}
	var c struct {
		Signature *string `json:"signature"`
		Time      *int64  `json:"time"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&c); err != nil {
		return nil, 0, fmt.Errorf("%w: zip comment is not a signature: %v", ErrBadSignature, err)
	}
	if dec.More() {
		return nil, 0, fmt.Errorf("%w: zip comment has data after the signature", ErrBadSignature)
	}
	if c.Signature == nil || c.Time == nil {
		return nil, 0, fmt.Errorf("%w: zip comment lacks \"signature\" or \"time\"", ErrBadSignature)
	}
	sig, err = base64.StdEncoding.DecodeString(*c.Signature)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: signature is not valid base64: %v", ErrBadSignature, err)
	}
	if len(sig) == 0 {
		return nil, 0, fmt.Errorf("%w: signature is empty", ErrBadSignature)
	}
	return sig, *c.Time, nil
}

// Result describes a verified package.
type Result struct {
	Category            Category  // from the verification file; Langgenius when there is none
	HasVerificationFile bool      // false for packages signed before verification files existed
	Time                time.Time // when it was signed, as the signer claims
	KeyName             string    // the trusted key that verified it
}

// Verify checks pkg's signature against every trusted key. A verified package without a
// verification file counts as langgenius, as the reference daemon treats old official
// packages.
func Verify(ctx context.Context, pkg *pkgfile.Package, keys []TrustedKey) (Result, error) {
	sig, t, err := parseComment(pkg.Comment())
	if err != nil {
		return Result{}, err
	}
	if len(keys) == 0 {
		return Result{}, fmt.Errorf("%w: no trusted keys to verify with", ErrBadSignature)
	}
	sums, err := pkg.EntrySums(ctx)
	if err != nil {
		return Result{}, err
	}
	digest := signedDigest(sums, t)
	var names []string
	sizeMatches := false
	for _, k := range keys {
		if k.Key == nil {
			return Result{}, fmt.Errorf("trusted key %q has no key", k.Name)
		}
		names = append(names, filepath.Base(k.Name))
		sizeMatches = sizeMatches || k.Key.Size() == len(sig)
		if rsa.VerifyPKCS1v15(k.Key, crypto.SHA256, digest[:], sig) != nil {
			continue
		}
		res := Result{Category: Langgenius, Time: time.Unix(t, 0).UTC(), KeyName: k.Name}
		if err := readVerification(pkg, &res); err != nil {
			return Result{}, err
		}
		return res, nil
	}
	if !sizeMatches {
		return Result{}, fmt.Errorf("%w: signature is %d bytes, which fits none of the trusted keys (tried: %s)",
			ErrBadSignature, len(sig), strings.Join(names, ", "))
	}
	return Result{}, fmt.Errorf("%w: signature does not match any trusted key (tried: %s)", ErrBadSignature, strings.Join(names, ", "))
}

func readVerification(pkg *pkgfile.Package, res *Result) error {
	data, err := pkg.ReadFile(VerificationFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var v struct {
		AuthorizedCategory string `json:"authorized_category"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: invalid %s: %w", ErrBadSignature, VerificationFile, err)
	}
	cat, err := ParseCategory(v.AuthorizedCategory)
	if err != nil {
		return fmt.Errorf("%w: invalid %s: %w", ErrBadSignature, VerificationFile, err)
	}
	res.Category, res.HasVerificationFile = cat, true
	return nil
}
