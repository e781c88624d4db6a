package oauth

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Callback is the authorization response as it reaches the redirect URI (RFC 6749 §4.1.2,
// with RFC 9207's iss).
type Callback struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	Iss              string
}

// maxCallbackParam bounds each parameter: codes and states are short; a longer value is not
// an authorization response.
const maxCallbackParam = 4096

// ParseCallback reads the query of a callback request. Each response parameter may appear
// once (RFC 6749 §3.1); a response carries a code or an error; values are UTF-8 without
// control characters. Other parameters are ignored (a plugin's provider may add its own).
func ParseCallback(rawQuery string) (Callback, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Callback{}, fmt.Errorf("callback query: %v", err)
	}
	var cb Callback
	for name, dst := range map[string]*string{"state": &cb.State, "code": &cb.Code, "error": &cb.Error,
		"error_description": &cb.ErrorDescription, "iss": &cb.Iss} {
		vals := q[name]
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 {
			return Callback{}, fmt.Errorf("callback query: parameter %s appears %d times", name, len(vals))
		}
		v := vals[0]
		if len(v) > maxCallbackParam {
			return Callback{}, fmt.Errorf("callback query: parameter %s is longer than %d bytes", name, maxCallbackParam)
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return Callback{}, fmt.Errorf("callback query: parameter %s has control characters or is not UTF-8", name)
		}
		*dst = v
	}
	if cb.Error == "" && cb.Code == "" {
		return Callback{}, fmt.Errorf("callback query: neither code nor error (not an authorization response)")
	}
	return cb, nil
}
