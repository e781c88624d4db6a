// Package mcpclient makes MCP servers tool providers of the catalog (kind mcp): remote servers
// over streamable HTTP or the older HTTP+SSE transport, and local servers started from a
// command and spoken to over stdio. The protocol is the official Go SDK's
// (github.com/modelcontextprotocol/go-sdk); this package adds what a multi-tenant daemon needs
// around it: a pool of sessions keyed by (tenant, provider, configuration), started on first
// use and stopped when idle; supervision of stdio processes (allow-listed environment, memory
// limit, size-capped stderr log, back-off and a crash-loop limit); outbound HTTP through the
// egress guard; secrets (header and environment values) sealed by the catalog; and the
// mapping of MCP results to the catalog's message kinds. See docs/mcp.md.
package mcpclient

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/catalog"
)

// Transports of a remote server.
const (
	TransportStreamable = "streamable" // streamable HTTP (MCP 2025-03-26 and later)
	TransportSSE        = "sse"        // HTTP+SSE (MCP 2024-11-05)
)

// Dify's defaults for MCP providers (tool_mcp_providers.timeout, sse_read_timeout).
const (
	DefaultTimeout        = 30 * time.Second
	DefaultSSEReadTimeout = 300 * time.Second
)

// Credential keys: header and environment values live among the provider's credentials,
// sealed by the catalog's secret store and masked in every answer, under these prefixes.
const (
	headerPrefix = "header:"
	envPrefix    = "env:"
)

// Config is an mcp provider's Config in the catalog: everything but secret values. Exactly
// one of URL (a remote server) and Command (a stdio server) is set.
type Config struct {
	URL string `json:"url,omitempty"`
	// Transport is how URL is spoken to; set at import, from the URL's last path segment
	// (".../mcp" streamable, ".../sse" SSE, as Dify reads it) or by trying streamable HTTP
	// first and SSE second.
	Transport string `json:"transport,omitempty"`
	// Headers names the HTTP headers sent with every request; their values are credentials.
	Headers []string `json:"headers,omitempty"`
	// Timeout bounds connecting, initializing and listing tools; SSEReadTimeout bounds one
	// tool call and, for remote servers, the wait for the next bytes of a stream. Seconds;
	// 0 is Dify's default (30 and 300).
	Timeout        float64 `json:"timeout,omitempty"`
	SSEReadTimeout float64 `json:"sse_read_timeout,omitempty"`
	// OAuth: the server is behind an authorization server; every request carries the
	// tenant's token of the provider (Options.Tokens), and the tools are listed once the
	// provider is connected (plugd tools connect), since nothing can be listed before.
	OAuth bool `json:"oauth,omitempty"`

	Command string   `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Env names the environment variables given to the command besides the allow-listed
	// ones; their values are credentials.
	Env []string `json:"env,omitempty"`
}

// Remote tells a remote server's configuration from a stdio one's.
func (c Config) Remote() bool { return c.URL != "" }

func (c Config) timeout() time.Duration { return seconds(c.Timeout, DefaultTimeout) }
func (c Config) callTimeout() time.Duration {
	return seconds(c.SSEReadTimeout, DefaultSSEReadTimeout)
}

func seconds(f float64, def time.Duration) time.Duration {
	if f <= 0 {
		return def
	}
	return time.Duration(f * float64(time.Second))
}

// Server is an MCP server to add, as the CLI and the REST API give it: secrets in clear.
type Server struct {
	Name        string            `json:"name"`
	Label       string            `json:"label,omitempty"`
	Description string            `json:"description,omitempty"`
	URL         string            `json:"url,omitempty"`
	Transport   string            `json:"transport,omitempty"` // empty: detect
	Headers     map[string]string `json:"headers,omitempty"`
	Timeout     float64           `json:"timeout,omitempty"`
	SSEReadTime float64           `json:"sse_read_timeout,omitempty"`
	OAuth       bool              `json:"oauth,omitempty"`
	Command     string            `json:"command,omitempty"`
	Args        []string          `json:"args,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	// Unmask, for a re-import, puts back the stored secrets of values sent as their masks
	// (catalog.Catalog.Unmask), so that the probe connects with the real ones.
	Unmask func(creds map[string]string) (map[string]string, error) `json:"-"`
}

// split turns s into the stored Config and the credentials to seal, checking what it can
// without connecting. Every problem names the field.
func (s Server) split() (Config, map[string]string, error) {
	cfg := Config{URL: strings.TrimSpace(s.URL), Transport: s.Transport, Timeout: s.Timeout, SSEReadTimeout: s.SSEReadTime,
		Command: strings.TrimSpace(s.Command), Args: s.Args, OAuth: s.OAuth}
	creds := map[string]string{}
	switch {
	case cfg.URL != "" && cfg.Command != "":
		return Config{}, nil, invalid("give either url (a remote server) or command (a stdio server), not both")
	case cfg.URL == "" && cfg.Command == "":
		return Config{}, nil, invalid("url or command is required")
	}
	if s.Timeout < 0 || s.SSEReadTime < 0 {
		return Config{}, nil, invalid("timeout and sse_read_timeout are seconds and cannot be negative")
	}
	if cfg.Remote() {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, nil, invalid("url %q: want an http:// or https:// URL", cfg.URL)
		}
		switch cfg.Transport {
		case "", TransportStreamable, TransportSSE:
		default:
			return Config{}, nil, invalid("transport %q: want streamable or sse (or nothing, to detect it)", cfg.Transport)
		}
		if len(s.Env) > 0 || len(s.Args) > 0 {
			return Config{}, nil, invalid("env and args are for stdio servers (command), not for url")
		}
		for k, v := range s.Headers {
			canon := http.CanonicalHeaderKey(strings.TrimSpace(k))
			if canon == "" || !validToken(canon) || strings.ContainsAny(v, "\r\n\x00") {
				return Config{}, nil, invalid("header %q: want NAME=VALUE with a header name and a one-line value", k)
			}
			cfg.Headers = append(cfg.Headers, canon)
			creds[headerPrefix+canon] = v
		}
		slices.Sort(cfg.Headers)
		return cfg, creds, nil
	}
	if cfg.OAuth {
		return Config{}, nil, invalid("oauth is for url servers; a stdio server takes its secrets in env")
	}
	if cfg.Transport != "" {
		return Config{}, nil, invalid("transport is for url servers; a command is spoken to over stdio")
	}
	if len(s.Headers) > 0 {
		return Config{}, nil, invalid("headers are for url servers, not for command")
	}
	if strings.ContainsRune(cfg.Command, 0) {
		return Config{}, nil, invalid("command contains a NUL byte")
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return Config{}, nil, invalid("env %q: want NAME=VALUE", k)
		}
		cfg.Env = append(cfg.Env, k)
		creds[envPrefix+k] = v
	}
	slices.Sort(cfg.Env)
	return cfg, creds, nil
}

// validToken reports whether s is an HTTP header name (RFC 9110 token).
func validToken(s string) bool {
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return s != ""
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("mcp server: "+format+": %w", append(args, catalog.ErrInvalid)...)
}

// ParseConfig reads a stored provider's Config.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("reading an mcp provider's config: %w", err)
	}
	if (c.URL == "") == (c.Command == "") {
		return Config{}, fmt.Errorf("an mcp provider's config needs exactly one of url and command: %w", catalog.ErrInvalid)
	}
	return c, nil
}

// detectTransport is Dify's rule for a URL: its last path segment "mcp" means streamable
// HTTP and "sse" means SSE. Anything else is "" (try both).
func detectTransport(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	switch path.Base(strings.TrimRight(u.Path, "/")) {
	case "mcp":
		return TransportStreamable
	case "sse":
		return TransportSSE
	}
	return ""
}

// hash identifies one configuration of a provider, secrets included: a session started for
// one hash is never used for another, so an edited provider gets a new session while an
// unchanged one keeps its own across re-reads.
func hash(cfg Config, creds map[string]string) string {
	h := sha256.New()
	b, _ := json.Marshal(cfg)
	h.Write(b)
	keys := make([]string, 0, len(creds))
	for k := range creds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%s", k, creds[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
