package httpapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plugd/plugd/internal/manifest"
)

// EndpointSecrets keeps endpoint settings of type secret-input encrypted: Dify holds the
// tenant's keys, so the daemon asks it (inner API invoke/encrypt, namespace "endpoint") to
// encrypt them before they are stored and to decrypt them when a request or the list needs
// them. backwards.Dify is one; without it settings are stored as given.
type EndpointSecrets interface {
	Endpoint(ctx context.Context, tenantID, endpointID, op string, settings, config json.RawMessage) (json.RawMessage, error)
}

// Operations of EndpointSecrets.
const (
	secretsEncrypt = "encrypt"
	secretsDecrypt = "decrypt"
	secretsClear   = "clear" // drop Dify's cached copy after a change
)

// needsSecrets reports whether settings declared by configs pass through Dify: only when a
// secret-input setting exists and Dify is configured, as the reference skips the call otherwise.
func (s *Server) needsSecrets(configs []manifest.ProviderConfig) bool {
	if s.cfg.Secrets == nil {
		return false
	}
	for _, c := range configs {
		if c.Type == "secret-input" {
			return true
		}
	}
	return false
}

// secrets runs op on settings through Dify, or returns them as they are when no secret is
// declared or Dify is not configured.
func (s *Server) secrets(ctx context.Context, tenant, endpointID, op string, settings map[string]any, configs []manifest.ProviderConfig) (map[string]any, error) {
	if !s.needsSecrets(configs) {
		return settings, nil
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(configs)
	if err != nil {
		return nil, err
	}
	out, err := s.cfg.Secrets.Endpoint(ctx, tenant, endpointID, op, raw, cfg)
	if err != nil {
		return nil, fmt.Errorf("endpoint settings (%s through Dify): %w", op, err)
	}
	if op == secretsClear {
		return settings, nil
	}
	result, err := parseSettings(out)
	if err != nil {
		return nil, fmt.Errorf("endpoint settings (%s through Dify): Dify answered %.100s: %w", op, out, err)
	}
	return result, nil
}
