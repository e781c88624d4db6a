package install

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Decoded is what upload and decode answer: the reference's {unique_identifier, manifest,
// verification}.
type Decoded struct {
	UniqueIdentifier string          `json:"unique_identifier"`
	Manifest         json.RawMessage `json:"manifest"`
	Verification     *Verification   `json:"verification"`
}

// Verification is a verified package's category; nil for an unsigned package.
type Verification struct {
	AuthorizedCategory string `json:"authorized_category"`
}

// Started is the answer to install and upgrade requests.
type Started struct {
	AllInstalled bool   `json:"all_installed"`
	TaskID       string `json:"task_id"`
}

// Readme is a plugin's README in one language.
type Readme struct {
	Content  string `json:"content"`
	Language string `json:"language"`
}

// InputError is a request the caller must change: a bad package, identifier or argument.
// The HTTP layer answers it with code -400.
type InputError struct {
	Field string // what was wrong, e.g. "dify_pkg" or "plugin_unique_identifiers[2]"
	Err   error
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(field string, format string, args ...any) error {
	return &InputError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ErrIdentifier: a string is not a plugin unique identifier (author/name:version@checksum).
var ErrIdentifier = errors.New("not a plugin unique identifier")
