package debugging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

const (
	// handshakeMaxLine bounds a line before the key is checked: the handshake is about 70
	// bytes, and an unauthenticated peer must not make us hold megabytes.
	handshakeMaxLine = 64 << 10
	// assetNameCost is what a new asset file name costs against MaxAssets beyond its length,
	// so that many empty files cannot grow the asset map without bound.
	assetNameCost = 64
)

const (
	replyBusy     = "server is busy now, please try again later"
	replyShutdown = "server is shutting down, please try again later"
	prefixKey     = "handshake failed, invalid key: "
	prefixMessage = "handshake failed, invalid handshake message: "
	prefixFailed  = "registration failed: "
	keySource     = "Dify's plugin page or `plugd debug-key`"
)

// providerKinds maps each provider declaration message to the key Decode receives it under.
var providerKinds = map[wire.RegistrationType]string{
	wire.RegistrationTools:         "tool",
	wire.RegistrationModels:        "model",
	wire.RegistrationEndpoints:     "endpoint",
	wire.RegistrationAgentStrategy: "agent_strategy",
	wire.RegistrationDatasources:   "datasource",
	wire.RegistrationTriggers:      "trigger",
}

// refusal is a registration the server turns down: reply is the line sent to the plugin,
// cause what went wrong underneath, for the log.
type refusal struct {
	reply string
	cause error
}

func (r *refusal) Error() string { return r.reply }
func (r *refusal) Unwrap() error { return r.cause }

func refusef(cause error, format string, args ...any) *refusal {
	return &refusal{reply: fmt.Sprintf(format, args...), cause: cause}
}

// errPeerGone means the plugin closed the connection or it broke: there is no one to reply to.
var errPeerGone = errors.New("debugging: connection ended during registration")

// readDeadliner is the part of net.Conn that registration needs; nil for plain readers.
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// registration is a connection's registration so far.
type registration struct {
	tenant, key string
	handshaken  bool
	manifest    json.RawMessage
	providers   map[string]json.RawMessage
	assets      map[string][]byte
	assetBytes  int64 // counted with assetNameCost per file
	chunks      int
	n           int                   // non-blank lines read
	last        wire.RegistrationType // type of the last registration message
	plugin      *manifest.Plugin
	rest        *bufio.Reader // the stream after end
}

// register reads a registration from r up to and including end. It always returns the
// registration so far (for the log); the error is a *refusal to send, errPeerGone, or a
// refusal about the shutdown once ctx ended. dl, if not nil, gets the read deadlines.
// authenticated, when not nil, is called once the handshake is valid, before the rest of the
// registration is read; an error it returns (a refusal) ends the registration.
func (s *Server) register(ctx context.Context, r io.Reader, dl readDeadliner, accepted time.Time, authenticated func() error) (*registration, error) {
	src := &errTracker{r: r}
	br := bufio.NewReaderSize(src, readBufSize)
	reg := &registration{
		providers: map[string]json.RawMessage{},
		assets:    map[string][]byte{},
		rest:      br,
	}
	if dl != nil {
		dl.SetReadDeadline(accepted.Add(s.cfg.HandshakeTimeout))
	}
	lines := wire.NewLineReader(br, handshakeMaxLine)
	for {
		line, err := lines.Next()
		if err == nil && src.err != nil && br.Buffered() == 0 {
			// LineReader hands out what it had when the stream failed as a last line; here
			// that is half a message cut by the deadline or a dying peer, not a mistake of it.
			err = src.err
		}
		if err != nil {
			return reg, s.readFailure(ctx, reg, err)
		}
		reg.n++
		typ, data, isEvent, perr := parseLine(line)
		if perr != nil {
			return reg, refusef(perr, "%smessage %d%s: %v", prefixMessage, reg.n, reg.after(), perr)
		}
		if isEvent {
			continue // heartbeats from an SDK that reconnected: nothing to do until end
		}
		if !reg.handshaken && typ != wire.RegistrationHandshake {
			return reg, refusef(nil, "%smessage %d is %s, but the handshake must come first", prefixMessage, reg.n, quoteType(typ))
		}
		switch {
		case typ == wire.RegistrationHandshake:
			if reg.handshaken {
				return reg, refusef(nil, "%sduplicate handshake (message %d); a connection registers once", prefixFailed, reg.n)
			}
			if err := s.handshake(ctx, reg, data, accepted); err != nil {
				return reg, err
			}
			if authenticated != nil {
				if err := authenticated(); err != nil {
					return reg, err
				}
			}
			if dl != nil {
				dl.SetReadDeadline(accepted.Add(s.cfg.RegistrationTimeout))
			}
			lines = wire.NewLineReader(br, s.cfg.MaxLine) // same bufio.Reader: nothing is lost
		case typ == wire.RegistrationManifest:
			if reg.manifest != nil {
				return reg, refusef(nil, "%sduplicate manifest_declaration (message %d)", prefixFailed, reg.n)
			}
			if !isJSONObject(data) {
				return reg, refusef(nil, "%smessage %d: manifest_declaration data must be a JSON object (the parsed manifest.yaml)", prefixMessage, reg.n)
			}
			reg.manifest = data
		case providerKinds[typ] != "":
			kind := providerKinds[typ]
			if _, dup := reg.providers[kind]; dup {
				return reg, refusef(nil, "%sduplicate %s (message %d)", prefixFailed, typ, reg.n)
			}
			first, more, err := firstElement(data)
			if err != nil {
				return reg, refusef(err, "%smessage %d: %s data %v", prefixMessage, reg.n, typ, err)
			}
			if more {
				s.log.Warn("remote plugin declared several providers of one kind; only the first is used", "kind", kind)
			}
			reg.providers[kind] = first
		case typ == wire.RegistrationAssetChunk:
			if err := s.assetChunk(reg, data); err != nil {
				return reg, err
			}
		case typ == wire.RegistrationEnd:
			reg.last = typ
			return reg, s.end(reg)
		default:
			return reg, refusef(nil, "%smessage %d has unknown type %s; this daemon knows handshake, manifest_declaration, "+
				"tool_, model_, endpoint_, agent_strategy_, datasource_ and trigger_declaration, asset_chunk and end", prefixMessage, reg.n, quoteType(typ))
		}
		reg.last = typ
	}
}

// errTracker remembers the first read error of the stream under the bufio.Reader.
type errTracker struct {
	r   io.Reader
	err error
}

func (t *errTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// parseLine splits one registration line into its type and data, or tells an event line
// (one with "event" and no "type") apart.
func parseLine(line []byte) (typ wire.RegistrationType, data json.RawMessage, isEvent bool, err error) {
	if !isJSONObject(line) {
		return "", nil, false, errors.New("not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return "", nil, false, fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
		}
		return "", nil, false, fmt.Errorf("invalid JSON: %v", err)
	}
	rawType, hasType := fields["type"]
	if !hasType {
		if _, ok := fields["event"]; ok {
			return "", nil, true, nil
		}
		return "", nil, false, errors.New(`"type" is missing`)
	}
	var t string
	if err := json.Unmarshal(rawType, &t); err != nil || t == "" {
		return "", nil, false, errors.New(`"type" must be a non-empty string`)
	}
	data, ok := fields["data"]
	if !ok || string(data) == "null" {
		return wire.RegistrationType(t), nil, false, fmt.Errorf(`%s: "data" is missing`, quoteType(wire.RegistrationType(t)))
	}
	return wire.RegistrationType(t), data, false, nil
}

// handshake checks the key and remembers its tenant.
func (s *Server) handshake(ctx context.Context, reg *registration, data json.RawMessage, accepted time.Time) error {
	var hs struct {
		Key *string `json:"key"`
	}
	if !isJSONObject(data) || json.Unmarshal(data, &hs) != nil {
		return refusef(nil, `%smessage %d: handshake data must be an object {"key": "<REMOTE_INSTALL_KEY>"}`, prefixMessage, reg.n)
	}
	if hs.Key == nil || strings.TrimSpace(*hs.Key) == "" {
		return refusef(nil, "%smessage %d: the key is empty; set REMOTE_INSTALL_KEY to a key from %s", prefixMessage, reg.n, keySource)
	}
	key := *hs.Key
	reg.key = key
	kctx, cancel := context.WithDeadline(ctx, accepted.Add(s.cfg.HandshakeTimeout))
	defer cancel()
	tenant, err := s.cfg.Keys.ResolveDebugKey(kctx, key)
	switch {
	case err == nil && tenant == "":
		err = fmt.Errorf("%w: no tenant", ErrUnknownKey)
		fallthrough
	case errors.Is(err, ErrUnknownKey):
		// The resolver may say more (expired when); it may also name the key in full.
		why := strings.TrimPrefix(oneLine(err.Error()), ErrUnknownKey.Error())
		why = strings.ReplaceAll(strings.TrimLeft(why, ": "), key, shortKey(key))
		if why != "" {
			why = " (" + why + ")"
		}
		return refusef(err, "%skey %s is unknown or expired%s; get a fresh one from %s and set it as REMOTE_INSTALL_KEY",
			prefixKey, shortKey(key), why, keySource)
	case ctx.Err() != nil:
		return refusef(err, "%s", replyShutdown)
	case kctx.Err() != nil:
		return refusef(err, "handshake failed, timed out: the daemon could not check key %s within %v of connecting; try again later",
			shortKey(key), s.cfg.HandshakeTimeout)
	case err != nil:
		why := strings.ReplaceAll(oneLine(err.Error()), key, shortKey(key))
		return refusef(err, "handshake failed, the daemon could not check key %s: %s; try again later", shortKey(key), why)
	}
	reg.tenant = tenant
	reg.handshaken = true
	return nil
}

// firstElement returns element [0] of a non-empty JSON array of objects, and whether more
// followed. The reference keeps only [0] as well.
func firstElement(data json.RawMessage) (json.RawMessage, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, false, errors.New("must be a JSON array of provider declarations")
	}
	if !dec.More() {
		return nil, false, errors.New("is an empty array; send at least one provider or leave the message out")
	}
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil || !isJSONObject(first) {
		return nil, false, errors.New("element 0 must be a JSON object")
	}
	return first, dec.More(), nil
}

// assetChunk appends one chunk to its file.
func (s *Server) assetChunk(reg *registration, data json.RawMessage) error {
	var c wire.AssetChunk
	if !isJSONObject(data) {
		return refusef(nil, `%smessage %d: asset_chunk data must be an object {"filename","data","end"}`, prefixMessage, reg.n)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return refusef(err, "%smessage %d: asset_chunk: %v (data must be base64)", prefixMessage, reg.n, err)
	}
	if err := checkAssetName(c.Filename); err != nil {
		return refusef(err, "%smessage %d: asset_chunk: %v", prefixFailed, reg.n, err)
	}
	cost := int64(len(c.Data))
	prev, seen := reg.assets[c.Filename]
	if !seen {
		cost += int64(len(c.Filename)) + assetNameCost
	}
	if reg.assetBytes+cost > s.cfg.MaxAssets {
		return refusef(nil, "%sassets exceed the limit of %s at message %d (file %q); keep _assets/ under it",
			prefixFailed, sizeText(s.cfg.MaxAssets), reg.n, c.Filename)
	}
	reg.assetBytes += cost
	reg.assets[c.Filename] = append(prev, c.Data...)
	reg.chunks++
	return nil // c.End is ignored, as the reference does: a file ends with the registration
}

// checkAssetName admits the base name of a file directly inside _assets/.
func checkAssetName(name string) error {
	switch {
	case name == "":
		return errors.New("filename is empty")
	case len(name) > 255:
		return fmt.Errorf("filename is longer than 255 bytes")
	case name == "." || name == "..":
		return fmt.Errorf("filename %q is not a file name", name)
	case strings.ContainsAny(name, `/\:`):
		return fmt.Errorf("filename %q must be a base name, without / \\ or :", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("filename %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("filename %q contains a control character", name)
		}
	}
	return nil
}

// end checks the registration is complete and decodes it.
func (s *Server) end(reg *registration) error {
	if reg.manifest == nil {
		return refusef(nil, "%send (message %d) arrived before any manifest_declaration", prefixFailed, reg.n)
	}
	if len(reg.providers) == 0 {
		return refusef(nil, "no registration transferred, cannot initialize: end (message %d) arrived without any "+
			"tool, model, endpoint, agent_strategy, datasource or trigger declaration; received %s. "+
			"check that the plugins section of manifest.yaml lists a provider file", reg.n, reg.received())
	}
	names := make([]string, 0, len(reg.assets))
	for name := range reg.assets {
		names = append(names, name)
	}
	slices.Sort(names)
	plugin, err := s.cfg.Decode(reg.manifest, reg.providers, names)
	if err != nil {
		return &refusal{reply: oneLine(err.Error()), cause: err}
	}
	if plugin == nil {
		return refusef(nil, "%sthe declaration could not be decoded", prefixFailed)
	}
	reg.plugin = plugin
	return nil
}

// readFailure explains why reading stopped.
func (s *Server) readFailure(ctx context.Context, reg *registration, err error) error {
	switch {
	case ctx.Err() != nil:
		return refusef(err, "%s", replyShutdown)
	case errors.Is(err, wire.ErrLineTooLong) && !reg.handshaken:
		return refusef(err, "%smessage %d is longer than %s before the handshake; the first line must be the handshake",
			prefixMessage, reg.n+1, sizeText(handshakeMaxLine))
	case errors.Is(err, wire.ErrLineTooLong):
		return refusef(err, "%smessage %d%s is longer than the daemon's limit of %s for one registration message",
			prefixFailed, reg.n+1, reg.after(), sizeText(int64(s.cfg.MaxLine)))
	case errors.Is(err, os.ErrDeadlineExceeded) && !reg.handshaken:
		return refusef(err, "handshake failed, timed out: no valid handshake within %v of connecting; the SDK sends it first, with REMOTE_INSTALL_KEY",
			s.cfg.HandshakeTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return refusef(err, "%stimed out: end did not arrive within %v of connecting; waited for the message after %s (message %d), received %s",
			prefixFailed, s.cfg.RegistrationTimeout, reg.last, reg.n, reg.received())
	case errors.Is(err, io.EOF):
		return errPeerGone
	}
	return fmt.Errorf("%w: %v", errPeerGone, err)
}

// after names the last message read, to say where a problem is.
func (reg *registration) after() string {
	if reg.last == "" {
		return ""
	}
	return " (after " + string(reg.last) + ")"
}

// received sums up what arrived, for refusals about what is missing.
func (reg *registration) received() string {
	var parts []string
	if reg.handshaken {
		parts = append(parts, "handshake")
	}
	if reg.manifest != nil {
		parts = append(parts, "manifest_declaration")
	}
	for _, t := range []wire.RegistrationType{wire.RegistrationTools, wire.RegistrationModels, wire.RegistrationEndpoints,
		wire.RegistrationAgentStrategy, wire.RegistrationDatasources, wire.RegistrationTriggers} {
		if _, ok := reg.providers[providerKinds[t]]; ok {
			parts = append(parts, string(t))
		}
	}
	if reg.chunks > 0 {
		parts = append(parts, fmt.Sprintf("%d asset chunk(s)", reg.chunks))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// quoteType shows a type from the wire safely, however long or odd.
func quoteType(t wire.RegistrationType) string {
	s := string(t)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}
