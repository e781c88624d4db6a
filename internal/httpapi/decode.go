package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/store"

	"github.com/plugd/plugd/internal/install"
)

// Body limits. Dispatch bodies carry prompts with inline images and hex-encoded audio
// (speech2text), so they are large; the rest are a few identifiers.
const (
	maxDispatchBody   = 128 << 20
	maxManagementBody = 4 << 20
)

// decodeJSON reads one JSON object from the request body into dst, reading at most limit
// bytes. Unknown fields are ignored (Dify sends extras). Errors are *apiError naming what is
// wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{http.StatusRequestEntityTooLarge, -400, typeBadRequest,
				fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), nil}
		}
		return badRequest("reading the request body: %v", err)
	}
	return unmarshalBody(data, dst)
}

// unmarshalBody decodes a whole request body. Split from decodeJSON for the fuzz tests.
func unmarshalBody(data []byte, dst any) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return badRequest("request body is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		return badRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, "request body")
	}
	if dec.InputOffset() != int64(len(trimmed)) {
		return badRequest("request body has data after the JSON object (at byte %d)", dec.InputOffset())
	}
	return nil
}

// jsonError turns a decoding error into a message naming the field.
func jsonError(err error, what string) *apiError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("%s is not valid JSON: %v (at byte %d)", what, se, se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("%s must be a JSON object, found %s", what, te.Value)
		}
		return badRequest("%s: field %q must be %s, found %s", what, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("%s is not valid JSON: it ends too early", what)
	}
	return badRequest("%s: %v", what, err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return "of type " + goKind
}

// isObject reports whether raw is a JSON object (not null, not another kind).
func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// pageParams reads page (from 1) and page_size (1..maxSize). Absent values default to the
// first page of maxSize items, which is what Dify asks for when it wants "all".
func pageParams(r *http.Request, maxSize int) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Page: 1, Size: maxSize}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, badRequest("query parameter page=%q must be a whole number from 1", v)
		}
		p.Page = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSize {
			return p, badRequest("query parameter page_size=%q must be a whole number from 1 to %d", v, maxSize)
		}
		p.Size = n
	}
	// Offsets past this are nonsense and would overflow some databases' integer types.
	if p.Page > 1<<24 {
		return p, badRequest("query parameter page=%d is too large", p.Page)
	}
	return p, nil
}

// requiredQuery returns a query parameter that must be present.
func requiredQuery(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", badRequest("query parameter %s is required", name)
	}
	return v, nil
}

// uniqueID is a parsed plugin unique identifier ([author/]name:version@checksum) and the
// text it came from.
type uniqueID struct {
	install.Identifier
	raw string
}

// parseUID parses s with the install package's grammar; field names where it came from, for
// the error.
func parseUID(s, field string) (uniqueID, error) {
	if s == "" {
		return uniqueID{}, identifierError("%s is required", field)
	}
	id, err := install.ParseIdentifier(s)
	if err != nil {
		return uniqueID{}, identifierError("%s %q is not a plugin unique identifier; expected author/name:version@checksum", field, truncate(s, 300))
	}
	return uniqueID{Identifier: id, raw: s}, nil
}

// pluginID is author/name, or name for identifiers without an author.
func (u uniqueID) pluginID() string { return u.PluginID() }

// pluginIDOf returns the plugin id part of a unique identifier, or the whole string when it
// does not parse (rows written by older daemons).
func pluginIDOf(uid string) string {
	if u, err := parseUID(uid, ""); err == nil {
		return u.pluginID()
	}
	if i := strings.IndexByte(uid, ':'); i >= 0 {
		return uid[:i]
	}
	return uid
}

func checksumOf(uid string) string {
	if i := strings.LastIndexByte(uid, '@'); i >= 0 {
		return uid[i+1:]
	}
	return ""
}

// truncate shortens s for error messages that echo the caller's input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checkedBody is a request body that validates itself once decoded.
type checkedBody[T any] interface {
	*T
	check() error
}

// readChecked decodes and validates a management request body. On failure it answers the
// caller itself, with the error's status (400, or 413 for a body over the limit) as the
// reference's request validation does, and returns false.
func readChecked[T any, P checkedBody[T]](s *Server, w http.ResponseWriter, r *http.Request) (*T, bool) {
	b := new(T)
	err := decodeJSON(w, r, maxManagementBody, b)
	if err == nil {
		err = P(b).check()
	}
	if err != nil {
		s.failStatus(w, r, err, false)
		return nil, false
	}
	return b, true
}
