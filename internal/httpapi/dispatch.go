package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

// dispatchRoute is one plugin action reachable over HTTP.
type dispatchRoute struct {
	path   string
	access wire.AccessType
	action wire.Action
	// required are the data fields the reference's validator insists on; a request without
	// them is refused before any plugin is bothered.
	required []string
	// modelType, when set, is the only model_type the action accepts.
	modelType wire.ModelType
	// blobs: blob_chunk messages are reassembled into one blob message (agent strategies).
	blobs bool
}

var (
	modelBase = []string{"provider", "model"}
	dsBase    = []string{"provider", "datasource"}
)

func req(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

// dispatchRoutes is section 1.4 of the reference: the paths under /dispatch/.
var dispatchRoutes = []dispatchRoute{
	{path: "tool/invoke", access: wire.AccessTool, action: wire.ActionInvokeTool, required: []string{"provider", "tool"}},
	{path: "tool/validate_credentials", access: wire.AccessTool, action: wire.ActionValidateToolCredentials, required: []string{"provider"}},
	{path: "tool/get_runtime_parameters", access: wire.AccessTool, action: wire.ActionGetToolRuntimeParameters, required: []string{"provider", "tool"}},

	{path: "llm/invoke", access: wire.AccessModel, action: wire.ActionInvokeLLM, required: modelBase, modelType: wire.ModelLLM},
	{path: "llm/num_tokens", access: wire.AccessModel, action: wire.ActionGetLLMNumTokens, required: modelBase, modelType: wire.ModelLLM},
	{path: "text_embedding/invoke", access: wire.AccessModel, action: wire.ActionInvokeTextEmbedding, required: req(modelBase, "texts"), modelType: wire.ModelTextEmbedding},
	{path: "text_embedding/num_tokens", access: wire.AccessModel, action: wire.ActionGetTextEmbeddingNumTokens, required: req(modelBase, "texts"), modelType: wire.ModelTextEmbedding},
	{path: "multimodal_embedding/invoke", access: wire.AccessModel, action: wire.ActionInvokeMultimodalEmbedding, required: req(modelBase, "documents")},
	{path: "rerank/invoke", access: wire.AccessModel, action: wire.ActionInvokeRerank, required: req(modelBase, "query", "docs"), modelType: wire.ModelRerank},
	{path: "multimodal_rerank/invoke", access: wire.AccessModel, action: wire.ActionInvokeMultimodalRerank, required: req(modelBase, "query", "docs")},
	{path: "tts/invoke", access: wire.AccessModel, action: wire.ActionInvokeTTS, required: req(modelBase, "content_text", "voice"), modelType: wire.ModelTTS},
	{path: "tts/model/voices", access: wire.AccessModel, action: wire.ActionGetTTSModelVoices, required: modelBase, modelType: wire.ModelTTS},
	{path: "speech2text/invoke", access: wire.AccessModel, action: wire.ActionInvokeSpeech2Text, required: req(modelBase, "file"), modelType: wire.ModelSpeech2Text},
	{path: "moderation/invoke", access: wire.AccessModel, action: wire.ActionInvokeModeration, required: req(modelBase, "text"), modelType: wire.ModelModeration},
	{path: "model/validate_provider_credentials", access: wire.AccessModel, action: wire.ActionValidateProviderCreds, required: []string{"provider"}},
	{path: "model/validate_model_credentials", access: wire.AccessModel, action: wire.ActionValidateModelCredentials, required: req(modelBase, "model_type")},
	{path: "model/schema", access: wire.AccessModel, action: wire.ActionGetAIModelSchemas, required: req(modelBase, "model_type")},

	{path: "agent_strategy/invoke", access: wire.AccessAgentStrategy, action: wire.ActionInvokeAgentStrategy, required: []string{"agent_strategy_provider", "agent_strategy"}, blobs: true},

	{path: "oauth/get_authorization_url", access: wire.AccessOAuth, action: wire.ActionGetAuthorizationURL, required: []string{"provider", "redirect_uri"}},
	{path: "oauth/get_credentials", access: wire.AccessOAuth, action: wire.ActionGetCredentials, required: []string{"provider", "redirect_uri", "raw_http_request"}},
	{path: "oauth/refresh_credentials", access: wire.AccessOAuth, action: wire.ActionRefreshCredentials, required: []string{"provider", "redirect_uri", "credentials"}},

	{path: "dynamic_select/fetch_parameter_options", access: wire.AccessDynamicParameter, action: wire.ActionFetchParameterOptions, required: []string{"provider", "provider_action", "parameter", "credentials"}},

	{path: "datasource/validate_credentials", access: wire.AccessDatasource, action: wire.ActionValidateDatasourceCredentials, required: []string{"provider"}},
	{path: "datasource/get_website_crawl", access: wire.AccessDatasource, action: wire.ActionGetWebsiteCrawl, required: req(dsBase, "datasource_parameters")},
	{path: "datasource/get_online_document_pages", access: wire.AccessDatasource, action: wire.ActionGetOnlineDocumentPages, required: req(dsBase, "datasource_parameters")},
	{path: "datasource/get_online_document_page_content", access: wire.AccessDatasource, action: wire.ActionGetOnlineDocumentPageContent, required: req(dsBase, "page")},
	{path: "datasource/online_drive_browse_files", access: wire.AccessDatasource, action: wire.ActionOnlineDriveBrowseFiles, required: req(dsBase, "request")},
	{path: "datasource/online_drive_download_file", access: wire.AccessDatasource, action: wire.ActionOnlineDriveDownloadFile, required: req(dsBase, "request")},

	{path: "trigger/invoke_event", access: wire.AccessTrigger, action: wire.ActionInvokeTriggerEvent, required: []string{"provider", "event", "raw_http_request", "subscription"}},
	{path: "trigger/validate_credentials", access: wire.AccessTrigger, action: wire.ActionValidateTriggerCredentials, required: []string{"provider"}},
	{path: "trigger/dispatch_event", access: wire.AccessTrigger, action: wire.ActionDispatchTriggerEvent, required: []string{"provider", "subscription", "raw_http_request"}},
	{path: "trigger/subscribe", access: wire.AccessTrigger, action: wire.ActionSubscribeTrigger, required: []string{"provider", "endpoint"}},
	{path: "trigger/unsubscribe", access: wire.AccessTrigger, action: wire.ActionUnsubscribeTrigger, required: []string{"provider", "subscription"}},
	{path: "trigger/refresh", access: wire.AccessTrigger, action: wire.ActionRefreshTrigger, required: []string{"provider", "subscription"}},
}

var knownModelTypes = []wire.ModelType{wire.ModelLLM, wire.ModelTextEmbedding, wire.ModelRerank, wire.ModelSpeech2Text, wire.ModelModeration, wire.ModelTTS}

// dispatchBody is the reference's InvokePluginRequest: who is asking, from where, and data,
// the action's own fields, which go to the plugin unchanged.
type dispatchBody struct {
	TenantID       string          `json:"tenant_id"`
	UserID         string          `json:"user_id"`
	ConversationID *string         `json:"conversation_id"`
	MessageID      *string         `json:"message_id"`
	AppID          *string         `json:"app_id"`
	EndpointID     *string         `json:"endpoint_id"`
	Context        json.RawMessage `json:"context"`
	Data           json.RawMessage `json:"data"`
}

// parseDispatchBody decodes and checks a dispatch body for route d.
func parseDispatchBody(raw []byte, d dispatchRoute) (dispatchBody, error) {
	var b dispatchBody
	if err := unmarshalBody(raw, &b); err != nil {
		return b, err
	}
	if !isNull(b.Context) && !isObject(b.Context) {
		return b, badRequest("field context must be an object")
	}
	if isNull(b.Data) {
		return b, badRequest("field data is required: the %s request's fields as an object", d.action)
	}
	var fields map[string]json.RawMessage
	if !isObject(b.Data) || json.Unmarshal(b.Data, &fields) != nil {
		return b, badRequest("field data must be an object")
	}
	for _, k := range d.required {
		if isNull(fields[k]) {
			return b, badRequest("field data.%s is required for %s", k, d.action)
		}
	}
	if mt, ok := fields["model_type"]; ok && d.access == wire.AccessModel && !isNull(mt) {
		var got wire.ModelType
		if json.Unmarshal(mt, &got) != nil {
			return b, badRequest("field data.model_type must be a string")
		}
		switch {
		case d.modelType != "" && got != d.modelType:
			return b, badRequest("field data.model_type is %q; %s takes %q", got, d.action, d.modelType)
		case !slices.Contains(knownModelTypes, got):
			return b, badRequest("field data.model_type %q is unknown; expected one of llm, text-embedding, rerank, speech2text, moderation, tts", got)
		}
	}
	return b, nil
}

func (b dispatchBody) invokeContext(tenantID string) runtime.InvokeContext {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	ctx := b.Context
	if isNull(ctx) {
		ctx = nil
	}
	return runtime.InvokeContext{
		TenantID: tenantID, UserID: b.UserID,
		ConversationID: str(b.ConversationID), MessageID: str(b.MessageID), AppID: str(b.AppID), EndpointID: str(b.EndpointID),
		Session: ctx,
	}
}

// dispatchByPluginID serves /plugin/{tenant}/dispatch/...: X-Plugin-ID names the plugin and
// the tenant's installation says which version.
func (s *Server) dispatchByPluginID(d dispatchRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.activeDispatch.Add(1)
		defer s.activeDispatch.Add(-1)
		tenant := r.PathValue("tenant_id")
		pluginID := r.Header.Get("X-Plugin-ID")
		if pluginID == "" {
			s.failStatus(w, r, badRequest("header X-Plugin-ID is required (author/name of the plugin)"), true)
			return
		}
		inst, err := s.cfg.Store.GetInstallationByPlugin(r.Context(), tenant, pluginID)
		if err != nil {
			s.failStatus(w, r, fmt.Errorf("plugin %s is not installed for tenant %s: %w", pluginID, tenant, err), true)
			return
		}
		s.dispatch(w, r, d, tenant, inst.UniqueIdentifier)
	}
}

// dispatchByUID serves /v2/invoke/dispatch/...: X-Plugin-Unique-Identifier names the exact
// version, with no installation lookup, and the tenant comes from the body.
func (s *Server) dispatchByUID(d dispatchRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.activeDispatch.Add(1)
		defer s.activeDispatch.Add(-1)
		uid, err := parseUID(r.Header.Get("X-Plugin-Unique-Identifier"), "header X-Plugin-Unique-Identifier")
		if err != nil {
			s.failStatus(w, r, err, true)
			return
		}
		s.dispatch(w, r, d, "", uid.raw)
	}
}

// dispatch decodes the body, starts the plugin request and streams its results. tenant is
// empty when it must come from the body.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, d dispatchRoute, tenant, uid string) {
	if s.cfg.Forward != nil && s.cfg.Forward(w, r, uid, s.forwardFailed) {
		return
	}
	if s.cfg.Draining != nil && s.cfg.Draining() {
		s.failStatus(w, r, errDraining, true)
		return
	}
	raw, err := readBody(w, r, maxDispatchBody)
	if err != nil {
		s.failStatus(w, r, err, true)
		return
	}
	body, err := parseDispatchBody(raw, d)
	if err != nil {
		s.failStatus(w, r, err, true)
		return
	}
	if tenant == "" {
		if body.TenantID == "" {
			s.failStatus(w, r, badRequest("field tenant_id is required"), true)
			return
		}
		tenant = body.TenantID
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.ExecutionTimeout, errKilledByTimeout)
	defer cancel()
	st, err := s.cfg.Dispatcher.Invoke(ctx, uid, d.access, d.action, body.Data, body.invokeContext(tenant))
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == errKilledByTimeout {
			err = errKilledByTimeout
		}
		s.failStatus(w, r, fmt.Errorf("%s on %s: %w", d.action, uid, err), true)
		return
	}
	var asm *blobMerger
	if d.blobs {
		asm = newBlobMerger()
	}
	s.sse(ctx, w, r, st, asm)
}

// errDraining refuses a plugin request on a node that is leaving the cluster.
var errDraining = &apiError{http.StatusServiceUnavailable, -503, typeInternal, "this node is shutting down and takes no new plugin requests; send it to another node", nil}

// forwardFailed answers a request whose plugin lives on another node that cannot be reached.
func (s *Server) forwardFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.failStatus(w, r, &apiError{http.StatusBadGateway, -502, typeInternal, "forwarding to the node that holds the plugin: " + err.Error(), nil}, true)
}

// readBody reads the whole body, at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, -400, typeBadRequest,
				fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), nil}
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	return data, nil
}

// next is one result of a Stream, passed from the reading goroutine.
type next struct {
	m   wire.SessionMessage
	err error
}

// pump reads st in its own goroutine so that the handler can give up on a timeout or a
// disconnect even while Next blocks. It stops when stop closes or after the first error.
// The channel is unbuffered: the plugin is read only as fast as the client takes results.
func pump(st Stream, stop <-chan struct{}) <-chan next {
	ch := make(chan next)
	go func() {
		for {
			m, err := st.Next()
			select {
			case ch <- next{m, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// sse streams st as the reference does: text/event-stream, one `data: <envelope>` event per
// result, an error event on failure, and nothing else; the end of the stream is the end of
// the body. The status is committed before the first result, so later failures travel as
// events.
func (s *Server) sse(ctx context.Context, w http.ResponseWriter, r *http.Request, st Stream, asm *blobMerger) {
	stop := make(chan struct{})
	defer func() {
		st.Close() // unblocks a pending Next
		close(stop)
	}()
	results := pump(st, stop)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx in front must not hold events back
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	emit := func(env envelope) bool {
		if err := writeEvent(w, env); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	fail := func(err error) {
		ae := s.logged(r, err, false)
		emit(ae.envelope())
	}
	ended := func() bool {
		if ctx.Err() == nil {
			return false
		}
		if context.Cause(ctx) == errKilledByTimeout {
			fail(errKilledByTimeout)
		}
		return true // else the client went away: nobody to tell
	}
	for {
		select {
		case <-ctx.Done():
			ended()
			return
		case n := <-results:
			if n.err == io.EOF {
				if asm != nil {
					if err := asm.finish(); err != nil {
						fail(err)
					}
				}
				return
			}
			if n.err != nil {
				if !ended() {
					fail(n.err)
				}
				return
			}
			data := n.m.Data
			if asm != nil {
				var err error
				data, err = asm.add(data)
				if err != nil {
					fail(err)
					return
				}
				if data == nil {
					continue // a chunk of a blob still being assembled
				}
			}
			if isNull(data) {
				data = json.RawMessage("null")
			}
			if !emit(success(data)) {
				return
			}
		}
	}
}

// writeEvent writes one `data: <json>\n\n` event.
func writeEvent(w io.Writer, env envelope) error {
	body, err := json.Marshal(env)
	if err != nil {
		body, _ = json.Marshal(internalError("encoding a result: %v", err).envelope())
	}
	buf := make([]byte, 0, len(body)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, body...)
	buf = append(buf, "\n\n"...)
	_, err = w.Write(buf)
	return err
}

// Blob limits for agent strategies, the reference's: a chunk holds at most 8192 decoded
// bytes and a file at most 15 MiB.
const (
	maxBlobChunk = 8192
	maxBlobFile  = 15 << 20
)

// blobMerger turns the blob_chunk messages of an agent strategy into one blob message, as
// the reference does for this action (Dify merges chunks itself only for tools).
type blobMerger struct{ asm *wire.BlobAssembler }

func newBlobMerger() *blobMerger { return &blobMerger{wire.NewBlobAssembler(maxBlobFile)} }

// add returns the data to send for one stream item: the item itself, nil while a blob is
// incomplete, or the whole blob as one message.
func (b *blobMerger) add(data json.RawMessage) (json.RawMessage, error) {
	var m wire.ToolMessage
	if json.Unmarshal(data, &m) != nil || m.Type != wire.ToolBlobChunk {
		return data, nil // not a chunk: passed on unchanged
	}
	var c wire.BlobChunk
	if err := json.Unmarshal(m.Message, &c); err == nil && len(c.Blob) > maxBlobChunk {
		return nil, fmt.Errorf("agent strategy blob %s: chunk %d holds %d bytes; at most %d are allowed", c.ID, c.Sequence, len(c.Blob), maxBlobChunk)
	}
	blob, _, err := b.asm.Add(m)
	if err != nil {
		return nil, fmt.Errorf("agent strategy blob: %w", err)
	}
	if blob == nil {
		return nil, nil
	}
	out, err := json.Marshal(blob.ToolMessage())
	if err != nil {
		return nil, fmt.Errorf("agent strategy blob %s: %w", blob.ID, err)
	}
	return out, nil
}

func (b *blobMerger) finish() error { return b.asm.Finish() }

// pollingUnsupported answers the model polling routes. No released plugin SDK implements
// polling, so the answer is the error Dify's recent client knows to fall back from.
func (s *Server) pollingUnsupported(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, pluginError(&wire.SessionError{
		ErrorType: "PluginLLMPollingUnsupportedError",
		Message:   "model polling is not supported by plugd; use the streaming llm/invoke route",
	}))
}

// extract serves GET /v2/invoke/extract: the declaration of a stored package.
func (s *Server) extract(w http.ResponseWriter, r *http.Request) {
	uid, err := parseUID(r.Header.Get("X-Plugin-Unique-Identifier"), "header X-Plugin-Unique-Identifier")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dec, err := s.cfg.Installer.Decode(r.Context(), uid.raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, dec)
}
