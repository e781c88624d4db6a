package backwards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/plugd/plugd/internal/wire"
)

// ErrBadReply means Dify answered something a plugin cannot be given: every result item
// must be a JSON object, which the SDK turns into its result type.
var ErrBadReply = errors.New("unexpected reply from Dify")

// Inner is what Dify needs of a client of Dify's inner API (*difyapi.Client is one). path is
// a route under /inner/api/, body is sent as JSON; Unary returns the answer's data, Stream
// calls each with every streamed item's data.
type Inner interface {
	Unary(ctx context.Context, path string, body any) (json.RawMessage, error)
	Stream(ctx context.Context, path string, body any, each func(json.RawMessage) error) error
}

// Dify answers backwards invocations the way the reference daemon does: storage from the
// daemon's own Storage, every other type by calling Dify's inner API on behalf of the
// session's tenant and user.
type Dify struct {
	store Storage
	inner Inner
}

// NewDify returns a handler keeping plugin storage in store and calling Dify through inner.
func NewDify(store Storage, inner Inner) *Dify { return &Dify{store: store, inner: inner} }

// difyRoute is where an invocation type goes in Dify's inner API. Streamed routes answer
// with many items; unwrap means Dify nests the result one level deeper ({"data": {...}})
// and the plugin gets the inner object, as the reference daemon hands it.
type difyRoute struct {
	path   string
	stream bool
	unwrap bool
}

func routeOf(t wire.InvokeType) (difyRoute, bool) {
	switch t {
	case wire.BackwardsLLM:
		return difyRoute{path: "invoke/llm", stream: true}, true
	case wire.BackwardsLLMStructuredOutput:
		return difyRoute{path: "invoke/llm/structured-output", stream: true}, true
	case wire.BackwardsTextEmbedding:
		return difyRoute{path: "invoke/text-embedding"}, true
	case wire.BackwardsMultimodalEmbedding:
		return difyRoute{path: "invoke/multimodal-embedding"}, true
	case wire.BackwardsRerank:
		return difyRoute{path: "invoke/rerank"}, true
	case wire.BackwardsMultimodalRerank:
		return difyRoute{path: "invoke/multimodal-rerank"}, true
	case wire.BackwardsTTS:
		return difyRoute{path: "invoke/tts", stream: true}, true
	case wire.BackwardsSpeech2Text:
		return difyRoute{path: "invoke/speech2text"}, true
	case wire.BackwardsModeration:
		return difyRoute{path: "invoke/moderation"}, true
	case wire.BackwardsTool:
		return difyRoute{path: "invoke/tool", stream: true}, true
	case wire.BackwardsApp:
		return difyRoute{path: "invoke/app", stream: true}, true
	case wire.BackwardsNodeParameterExtractor:
		return difyRoute{path: "invoke/parameter-extractor"}, true
	case wire.BackwardsNodeQuestionClassifier:
		return difyRoute{path: "invoke/question-classifier"}, true
	case wire.BackwardsSystemSummary:
		return difyRoute{path: "invoke/summary"}, true
	case wire.BackwardsUploadFile:
		return difyRoute{path: "upload/file/request"}, true
	case wire.BackwardsFetchApp:
		return difyRoute{path: "fetch/app/info", unwrap: true}, true
	}
	return difyRoute{}, false // storage is answered here; encrypt is the daemon's alone
}

// Invoke answers one invocation: the permission check first, then storage locally or the
// request sent to Dify with the session's tenant_id and user_id (whatever the plugin put
// there: a plugin may not act for another tenant). Items go to emit as Dify sends them.
func (d *Dify) Invoke(ctx context.Context, c Caller, inv wire.Invocation, emit func(json.RawMessage) error) error {
	if err := Check(c, inv.Type); err != nil {
		return err
	}
	if inv.Type == wire.BackwardsStorage {
		if d.store == nil {
			return kindErr(ErrNotAvailable, "storage is not available: this daemon has no plugin storage")
		}
		return ServeStorage(ctx, d.store, c, inv.Request, emit)
	}
	route, ok := routeOf(inv.Type)
	if !ok {
		return kindErr(ErrNotAvailable, "unsupported invoke type: %s", inv.Type)
	}
	if d.inner == nil {
		return kindErr(ErrNotAvailable, "%q is not available: this daemon has no Dify inner API configured", inv.Type)
	}
	if c.TenantID == "" {
		return kindErr(ErrNotAvailable, "%q is not available: the request has no tenant to call Dify for", inv.Type)
	}
	body, err := difyBody(c, inv)
	if err != nil {
		return err
	}
	if route.stream {
		n := 0
		return d.inner.Stream(ctx, route.path, body, func(data json.RawMessage) error {
			n++
			if err := mustObject(route.path, fmt.Sprintf("item %d", n), data); err != nil {
				return err
			}
			return emit(data)
		})
	}
	data, err := d.inner.Unary(ctx, route.path, body)
	if err != nil {
		return err
	}
	if route.unwrap {
		data, err = unwrapData(route.path, data)
	} else {
		err = mustObject(route.path, "the result", data)
	}
	if err != nil {
		return err
	}
	return emit(data)
}

// difyBody is the plugin's request with tenant_id, user_id and type set from the session, as
// the reference daemon sends it. Dify validates the rest against the route's payload model
// and ignores keys it does not know.
func difyBody(c Caller, inv wire.Invocation) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(inv.Request, &fields); err != nil || fields == nil {
		why := "null"
		if err != nil {
			why = err.Error()
		}
		return nil, fmt.Errorf("%w: %s: the request must be a JSON object (%s)", ErrBadRequest, inv.Type, why)
	}
	for k, v := range map[string]string{"tenant_id": c.TenantID, "user_id": c.UserID, "type": string(inv.Type)} {
		fields[k], _ = json.Marshal(v)
	}
	return fields, nil
}

func mustObject(path, what string, data json.RawMessage) error {
	if d := bytes.TrimSpace(data); len(d) > 0 && d[0] == '{' {
		return nil
	}
	return fmt.Errorf("%w: Dify %s: %s is %s, not a JSON object", ErrBadReply, path, what, shorten(data))
}

func shorten(data json.RawMessage) string {
	s := string(bytes.TrimSpace(data))
	switch {
	case s == "":
		return "missing"
	case len(s) > 80:
		return s[:80] + "…"
	}
	return s
}

// unwrapData returns the "data" object inside a route's result.
func unwrapData(path string, data json.RawMessage) (json.RawMessage, error) {
	var outer struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return nil, fmt.Errorf("%w: Dify %s: the result is %s, not {\"data\": {...}}", ErrBadReply, path, shorten(data))
	}
	if err := mustObject(path, "the result's data", outer.Data); err != nil {
		return nil, err
	}
	return outer.Data, nil
}

// Endpoint operations of Dify's invoke/encrypt.
const (
	EndpointEncrypt = "encrypt"
	EndpointDecrypt = "decrypt"
	EndpointClear   = "clear" // forget Dify's cached decryption
)

// Endpoint has Dify encrypt or decrypt an endpoint's settings, or drop its cache of them
// (op is EndpointEncrypt, EndpointDecrypt or EndpointClear). Dify holds the tenant's key, so
// the daemon never sees it. settings is a JSON object (null or empty: none), config the
// endpoint's settings schema, a JSON array of {"name","type",...} (null or empty: none). The
// result is the settings with the secret fields transformed ({} for clear).
//
// As in the reference daemon, settings without a "secret-input" field are returned as they
// are, with no call to Dify: there is nothing to encrypt, decrypt or cache.
func (d *Dify) Endpoint(ctx context.Context, tenantID, endpointID, op string, settings, config json.RawMessage) (json.RawMessage, error) {
	switch op {
	case EndpointEncrypt, EndpointDecrypt, EndpointClear:
	default:
		return nil, fmt.Errorf("%w: endpoint settings: unknown op %q (want encrypt, decrypt or clear)", ErrBadRequest, op)
	}
	if tenantID == "" || endpointID == "" {
		return nil, fmt.Errorf("%w: endpoint settings %s: tenant id and endpoint id are required", ErrBadRequest, op)
	}
	settings, err := jsonOr(settings, "{}", '{', "settings must be a JSON object")
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint %s settings: %v", ErrBadRequest, endpointID, err)
	}
	config, err = jsonOr(config, "[]", '[', "config must be a JSON array")
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint %s settings: %v", ErrBadRequest, endpointID, err)
	}
	var fields []struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(config, &fields); err != nil {
		return nil, fmt.Errorf("%w: endpoint %s settings: config: %v", ErrBadRequest, endpointID, err)
	}
	secret := false
	for _, f := range fields {
		secret = secret || f.Type == "secret-input"
	}
	if !secret {
		if op == EndpointClear {
			return json.RawMessage("{}"), nil
		}
		return settings, nil
	}
	if d.inner == nil {
		return nil, kindErr(ErrNotAvailable, "endpoint settings with secrets need Dify, and this daemon has no Dify inner API configured")
	}
	data, err := d.inner.Unary(ctx, "invoke/encrypt", map[string]any{
		"tenant_id": tenantID,
		"user_id":   "", // Dify requires the key; empty means its anonymous user
		"opt":       op,
		"namespace": "endpoint",
		"identity":  endpointID,
		"data":      settings,
		"config":    config,
	})
	if err != nil {
		return nil, err
	}
	return unwrapData("invoke/encrypt", data)
}

// jsonOr returns raw, or def when raw is empty or null, after checking that raw is valid
// JSON starting with first.
func jsonOr(raw json.RawMessage, def string, first byte, want string) (json.RawMessage, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return json.RawMessage(def), nil
	}
	if t[0] != first || !json.Valid(t) {
		return nil, errors.New(want)
	}
	return t, nil
}
