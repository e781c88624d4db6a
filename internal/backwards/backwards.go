// Package backwards routes a plugin's calls into Dify (backwards invocations): the plugin sends
// an invoke item inside one of its sessions, the runtime hands it to a Handler, and the handler's
// results go back down the same session.
//
// The package owns what every handler shares: who is calling (Caller), the reference's
// permission rules (Check) and plugin key-value storage, which is answered by the daemon itself
// and never by Dify. Local is the handler for running plugins without Dify (`plugd plugin run`,
// `plugd plugin invoke`): it answers storage from a file per plugin and refuses everything else
// with an error that says why. Dify is the handler of a daemon serving Dify: the same checks
// and storage, and every other type sent to Dify's inner API through an Inner client.
package backwards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// Caller identifies the session a backwards invocation came from: the plugin, whom it serves,
// what kind of request it is answering and what its manifest allows.
type Caller struct {
	PluginID  string // author/name; storage is keyed by it, so it survives upgrades
	TenantID  string // empty when there is no Dify (the CLI)
	UserID    string
	SessionID string
	// Access is the type of the request the plugin is serving. A model plugin may not call back
	// into Dify (the reference refuses it, and Dify could recurse into the same model).
	Access wire.AccessType
	// Permissions is the manifest's resource.permission; nil allows nothing but upload_file.
	Permissions *manifest.Permission
}

var (
	// ErrPermissionDenied means the manifest does not grant the invocation type.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotAvailable means the handler cannot serve the invocation type at all.
	ErrNotAvailable = errors.New("not available")
	// ErrBadRequest means the invocation's request could not be read.
	ErrBadRequest = errors.New("bad backwards request")
)

// Check applies the reference daemon's rules, in its order: nothing from a model request, then
// the permission the manifest must grant for the type. The messages match the reference's
// because plugin authors search for them.
func Check(c Caller, t wire.InvokeType) error {
	if c.Access == wire.AccessModel {
		return kindErr(ErrPermissionDenied, "you can not invoke dify from %s", c.Access)
	}
	p := c.Permissions
	if p == nil {
		p = &manifest.Permission{}
	}
	model := func(flag func(*manifest.ModelPermission) bool) bool {
		return p.Model != nil && p.Model.Enabled && flag(p.Model)
	}
	var ok bool
	var what string
	switch t {
	case wire.BackwardsTool:
		ok, what = p.Tool != nil && p.Tool.Enabled, "tool"
	case wire.BackwardsLLM, wire.BackwardsLLMStructuredOutput, wire.BackwardsSystemSummary:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.LLM }), "llm"
	case wire.BackwardsTextEmbedding, wire.BackwardsMultimodalEmbedding:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.TextEmbedding }), "text-embedding"
	case wire.BackwardsRerank, wire.BackwardsMultimodalRerank:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.Rerank }), "rerank"
	case wire.BackwardsTTS:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.TTS }), "tts"
	case wire.BackwardsSpeech2Text:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.Speech2Text }), "speech2text"
	case wire.BackwardsModeration:
		ok, what = model(func(m *manifest.ModelPermission) bool { return m.Moderation }), "moderation"
	case wire.BackwardsNodeParameterExtractor, wire.BackwardsNodeQuestionClassifier:
		ok, what = p.Node != nil && p.Node.Enabled, "node"
	case wire.BackwardsApp, wire.BackwardsFetchApp:
		ok, what = p.App != nil && p.App.Enabled, "app"
	case wire.BackwardsStorage:
		ok, what = p.Storage != nil && p.Storage.Enabled, "storage"
	case wire.BackwardsUploadFile:
		return nil // the reference grants it to every plugin
	default:
		return kindErr(ErrNotAvailable, "unsupported invoke type: %s", t)
	}
	if !ok {
		return kindErr(ErrPermissionDenied, "permission denied, you need to enable %s access in plugin manifest", what)
	}
	return nil
}

// Local answers backwards invocations without Dify: storage from a Storage, every other type
// with an error naming the type. Permissions are checked as Dify's daemon would, so a plugin
// that works under `plugd plugin run` does not fail later for a missing permission.
type Local struct {
	store Storage
}

// NewLocal returns a handler that keeps plugin storage in store.
func NewLocal(store Storage) *Local { return &Local{store: store} }

// Invoke answers one invocation. It calls emit once per result item (a JSON object) and
// returns an error for the plugin to raise; the runtime turns both into backwards responses.
func (h *Local) Invoke(ctx context.Context, c Caller, inv wire.Invocation, emit func(json.RawMessage) error) error {
	if err := Check(c, inv.Type); err != nil {
		return err
	}
	if inv.Type != wire.BackwardsStorage {
		return kindErr(ErrNotAvailable, "%q is not available without Dify (plugd plugin run/invoke has no Dify to call)", inv.Type)
	}
	return ServeStorage(ctx, h.store, c, inv.Request, emit)
}

// kindError carries a message for the plugin, which raises it as is, and a sentinel for the
// daemon's own checks: the plugin author reads the message, so it is not prefixed.
type kindError struct {
	kind error
	msg  string
}

func kindErr(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
