package httpapi

import (
	"context"
	"net/http"
	"time"
)

// DebugKeys issues remote-debugging keys; the store is one. Remote debugging is off unless the
// daemon passes it.
type DebugKeys interface {
	DebugKey(ctx context.Context, tenantID string, ttl time.Duration) (key string, expires time.Time, err error)
}

// debugKeyTTL is how long a key lasts; asking again renews it, as the reference does.
const debugKeyTTL = 2 * time.Hour

// debuggingKey answers POST /plugin/{tenant_id}/debugging/key with {key}, the reference's
// shape; expires_at is plugd's addition.
func (s *Server) debuggingKey(w http.ResponseWriter, r *http.Request) {
	key, expires, err := s.cfg.DebugKeys.DebugKey(r.Context(), r.PathValue("tenant_id"), debugKeyTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, struct {
		Key       string    `json:"key"`
		ExpiresAt time.Time `json:"expires_at"`
	}{key, expires.UTC()})
}
