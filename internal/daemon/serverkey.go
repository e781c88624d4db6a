package daemon

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/plugd/plugd/internal/keyfile"
)

// MinServerKeyLen is the shortest SERVER_KEY accepted. Anything shorter can be guessed by
// someone who can reach the port, and the key lets them run code (install any plugin).
const MinServerKeyLen = 16

// knownDefaultKeys are keys published in the reference's and Dify's example configurations;
// many deployments never changed them, so they are the first thing an attacker tries.
var knownDefaultKeys = map[string]bool{
	"plugin-api-key": true,
	"lYkiYYT6owG+71oLerGzA7GXCgOT++6ovaezWAjpCjf+Sjc3ZtU+qUEi": true,
	"difyai123456": true,
}

// WeakKeyError is a server key plugd refuses to serve with.
type WeakKeyError struct {
	Where  string // "SERVER_KEY" or the key file's path
	Reason string
	Fix    string
}

func (e *WeakKeyError) Error() string {
	return fmt.Sprintf("%s %s; %s", e.Where, e.Reason, e.Fix)
}

// EnsureServerKey makes sure c.ServerKey holds the key Dify must send as X-Api-Key. A key
// from SERVER_KEY is used as is, once checked; otherwise the key kept in c.ServerKeyFile is
// read, or, the first time, generated, kept there (mode 0600) and printed to out once so the
// operator can give it to Dify. Unlike the reference, plugd never serves with a published
// default key: the zero-config path must not be the insecure one.
func EnsureServerKey(c *Config, out io.Writer) (generated bool, err error) {
	path := c.ServerKeyFile
	if path == "" {
		path = filepath.Join(c.DataDir, "server.key")
		c.ServerKeyFile = path
	}
	if c.ServerKey != "" {
		if err := checkKey(c.ServerKey, "SERVER_KEY", fmt.Sprintf(
			"set SERVER_KEY to at least %d random characters (for example the output of `openssl rand -base64 32`) and give Dify the same value as PLUGIN_DAEMON_KEY, or unset SERVER_KEY to let plugd generate one in %s",
			MinServerKeyLen, path)); err != nil {
			return false, err
		}
		return false, nil
	}

	key, err := readKeyFile(path)
	if err == nil {
		c.ServerKey = key
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}

	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return false, fmt.Errorf("generating the server key: %w", err)
	}
	key = base64.RawURLEncoding.EncodeToString(raw[:])
	if err := writeKeyFile(path, key); err != nil {
		return false, fmt.Errorf("saving the server key: %w", err)
	}
	c.ServerKey = key
	fmt.Fprintf(out, "plugd: generated a server key and saved it in %s; set Dify's PLUGIN_DAEMON_KEY to: %s\n", path, key)
	return true, nil
}

func checkKey(key, where, fix string) error {
	switch {
	case knownDefaultKeys[key]:
		return &WeakKeyError{Where: where, Reason: "is a published default key that anyone can use", Fix: fix}
	case len(key) < MinServerKeyLen:
		return &WeakKeyError{Where: where, Reason: fmt.Sprintf("is %d bytes, shorter than the %d required", len(key), MinServerKeyLen), Fix: fix}
	}
	return nil
}

// readKeyFile reads a kept key, refusing a file others can read: the key is as good as a
// password to every tenant's plugins.
func readKeyFile(path string) (string, error) {
	key, err := keyfile.Read(path, "server key")
	if err != nil {
		return "", err
	}
	fix := fmt.Sprintf("delete %s to have plugd generate a new key, or write a key of at least %d random characters into it", path, MinServerKeyLen)
	if err := checkKey(key, "server key file "+path, fix); err != nil {
		return "", err
	}
	return key, nil
}

// writeKeyFile keeps the key (mode 0600, written through a rename: see keyfile.Write).
func writeKeyFile(path, key string) error { return keyfile.Write(path, key) }
