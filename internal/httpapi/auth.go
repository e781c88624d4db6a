package httpapi

import (
	"crypto/subtle"
	"net/http"
)

// auth admits requests carrying the server key in X-Api-Key. The comparison takes the same
// time whatever the key, so the key cannot be guessed byte by byte from response times.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	want := []byte(s.cfg.ServerKey)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("X-Api-Key"))
		if len(want) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
			s.failStatus(w, r, errUnauthorized, false)
			return
		}
		h(w, r)
	}
}
