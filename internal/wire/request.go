package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// AccessType is the "type" of a request: which part of the plugin it addresses.
type AccessType string

const (
	AccessTool             AccessType = "tool"
	AccessModel            AccessType = "model"
	AccessEndpoint         AccessType = "endpoint"
	AccessAgentStrategy    AccessType = "agent_strategy"
	AccessTrigger          AccessType = "trigger"
	AccessOAuth            AccessType = "oauth"
	AccessDatasource       AccessType = "datasource"
	AccessDynamicParameter AccessType = "dynamic_parameter"
)

// Action is the "action" of a request. The SDK routes on the (type, action) pair; every
// action belongs to exactly one type (see Action.AccessType).
type Action string

const (
	ActionInvokeTool                Action = "invoke_tool"
	ActionValidateToolCredentials   Action = "validate_tool_credentials"
	ActionGetToolRuntimeParameters  Action = "get_tool_runtime_parameters" // no route in any SDK: only end comes back
	ActionInvokeLLM                 Action = "invoke_llm"
	ActionGetLLMNumTokens           Action = "get_llm_num_tokens"
	ActionInvokeTextEmbedding       Action = "invoke_text_embedding"
	ActionInvokeMultimodalEmbedding Action = "invoke_multimodal_embedding" // SDK >= 0.7.0
	ActionGetTextEmbeddingNumTokens Action = "get_text_embedding_num_tokens"
	ActionInvokeRerank              Action = "invoke_rerank"
	ActionInvokeMultimodalRerank    Action = "invoke_multimodal_rerank" // SDK >= 0.7.0
	ActionInvokeTTS                 Action = "invoke_tts"
	ActionGetTTSModelVoices         Action = "get_tts_model_voices"
	ActionInvokeSpeech2Text         Action = "invoke_speech2text"
	ActionInvokeModeration          Action = "invoke_moderation"
	ActionValidateProviderCreds     Action = "validate_provider_credentials"
	ActionValidateModelCredentials  Action = "validate_model_credentials"
	ActionGetAIModelSchemas         Action = "get_ai_model_schemas"
	ActionStartPolling              Action = "start_polling" // SDK >= 0.9.0; build its data by hand
	ActionCheckPolling              Action = "check_polling" // SDK >= 0.9.0; build its data by hand
	ActionInvokeEndpoint            Action = "invoke_endpoint"
	ActionInvokeAgentStrategy       Action = "invoke_agent_strategy"
	ActionFetchParameterOptions     Action = "fetch_parameter_options" // SDK >= 0.4.0
	ActionGetAuthorizationURL       Action = "get_authorization_url"   // SDK >= 0.4.2
	ActionGetCredentials            Action = "get_credentials"         // SDK >= 0.4.2
	ActionRefreshCredentials        Action = "refresh_credentials"     // SDK >= 0.4.2

	// Datasources, SDK >= 0.5.0.
	ActionValidateDatasourceCredentials Action = "validate_datasource_credentials"
	ActionGetWebsiteCrawl               Action = "invoke_website_datasource_get_crawl"
	ActionGetOnlineDocumentPages        Action = "invoke_online_document_datasource_get_pages"
	ActionGetOnlineDocumentPageContent  Action = "invoke_online_document_datasource_get_page_content"
	ActionOnlineDriveBrowseFiles        Action = "invoke_online_drive_browse_files"
	ActionOnlineDriveDownloadFile       Action = "invoke_online_drive_download_file"

	// Triggers, SDK >= 0.6.0.
	ActionInvokeTriggerEvent         Action = "invoke_trigger_event"
	ActionValidateTriggerCredentials Action = "validate_trigger_credentials"
	ActionDispatchTriggerEvent       Action = "dispatch_trigger_event"
	ActionSubscribeTrigger           Action = "subscribe_trigger"
	ActionUnsubscribeTrigger         Action = "unsubscribe_trigger"
	ActionRefreshTrigger             Action = "refresh_trigger"
)

// actionTypes is a read-only table: which type each known action belongs to.
var actionTypes = map[Action]AccessType{
	ActionInvokeTool: AccessTool, ActionValidateToolCredentials: AccessTool, ActionGetToolRuntimeParameters: AccessTool,

	ActionInvokeLLM: AccessModel, ActionGetLLMNumTokens: AccessModel, ActionInvokeTextEmbedding: AccessModel,
	ActionInvokeMultimodalEmbedding: AccessModel, ActionGetTextEmbeddingNumTokens: AccessModel,
	ActionInvokeRerank: AccessModel, ActionInvokeMultimodalRerank: AccessModel, ActionInvokeTTS: AccessModel,
	ActionGetTTSModelVoices: AccessModel, ActionInvokeSpeech2Text: AccessModel, ActionInvokeModeration: AccessModel,
	ActionValidateProviderCreds: AccessModel, ActionValidateModelCredentials: AccessModel,
	ActionGetAIModelSchemas: AccessModel, ActionStartPolling: AccessModel, ActionCheckPolling: AccessModel,

	ActionInvokeEndpoint:        AccessEndpoint,
	ActionInvokeAgentStrategy:   AccessAgentStrategy,
	ActionFetchParameterOptions: AccessDynamicParameter,

	ActionGetAuthorizationURL: AccessOAuth, ActionGetCredentials: AccessOAuth, ActionRefreshCredentials: AccessOAuth,

	ActionValidateDatasourceCredentials: AccessDatasource, ActionGetWebsiteCrawl: AccessDatasource,
	ActionGetOnlineDocumentPages: AccessDatasource, ActionGetOnlineDocumentPageContent: AccessDatasource,
	ActionOnlineDriveBrowseFiles: AccessDatasource, ActionOnlineDriveDownloadFile: AccessDatasource,

	ActionInvokeTriggerEvent: AccessTrigger, ActionValidateTriggerCredentials: AccessTrigger,
	ActionDispatchTriggerEvent: AccessTrigger, ActionSubscribeTrigger: AccessTrigger,
	ActionUnsubscribeTrigger: AccessTrigger, ActionRefreshTrigger: AccessTrigger,
}

// AccessType returns the request type the action belongs to, and false for an unknown action.
func (a Action) AccessType() (AccessType, bool) {
	t, ok := actionTypes[a]
	return t, ok
}

// ModelType is the "model_type" of model requests.
type ModelType string

const (
	ModelLLM           ModelType = "llm"
	ModelTextEmbedding ModelType = "text-embedding"
	ModelRerank        ModelType = "rerank"
	ModelSpeech2Text   ModelType = "speech2text"
	ModelModeration    ModelType = "moderation"
	ModelTTS           ModelType = "tts"
)

// CredentialType is the "credential_type" of tool, dynamic-parameter and trigger requests.
type CredentialType string

const (
	CredentialAPIKey       CredentialType = "api-key"
	CredentialOAuth2       CredentialType = "oauth2"
	CredentialUnauthorized CredentialType = "unauthorized"
)

// Payload is a typed request body. The structs below give the fields the SDK validates; keys
// typed "X or null" without a default in the SDK are required there, so such fields carry no
// omitempty and nil is sent as null.
type Payload interface {
	Action() Action
}

// NewRequest builds the request envelope for p: data is {"type","action","user_id"} followed
// by p's fields. userID may be "" (endpoints send it empty). The SDK ignores key order.
func NewRequest(sessionID, userID string, p Payload) (Envelope, error) {
	action := p.Action()
	typ, ok := action.AccessType()
	if !ok {
		return Envelope{}, fmt.Errorf("%w: unknown action %q", ErrMalformed, action)
	}
	head, err := json.Marshal(struct {
		Type   AccessType `json:"type"`
		Action Action     `json:"action"`
		UserID string     `json:"user_id"`
	}{typ, action, userID})
	if err != nil {
		return Envelope{}, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("wire: encoding %s request: %w", action, err)
	}
	if len(body) < 2 || body[0] != '{' {
		return Envelope{}, fmt.Errorf("%w: %s payload is not an object", ErrMalformed, action)
	}
	data := head
	if !bytes.Equal(body, []byte("{}")) {
		data = append(head[:len(head)-1], ',')
		data = append(data, body[1:]...)
	}
	return Envelope{SessionID: sessionID, Event: EventRequest, Data: data}, nil
}

// Tool requests.

type InvokeTool struct {
	Provider       string         `json:"provider"`
	Tool           string         `json:"tool"`
	Credentials    Object         `json:"credentials"`
	CredentialType CredentialType `json:"credential_type,omitempty"` // SDK >= 0.4.2; default api-key
	ToolParameters Object         `json:"tool_parameters"`           // file parameters are objects with "dify_model_identity"
}

type ValidateToolCredentials struct {
	Provider    string `json:"provider"`
	Credentials Object `json:"credentials"`
}

// GetToolRuntimeParameters has an action but no route in any SDK; the plugin answers only end.
type GetToolRuntimeParameters struct {
	Provider    string `json:"provider"`
	Tool        string `json:"tool"`
	Credentials Object `json:"credentials"`
}

func (InvokeTool) Action() Action               { return ActionInvokeTool }
func (ValidateToolCredentials) Action() Action  { return ActionValidateToolCredentials }
func (GetToolRuntimeParameters) Action() Action { return ActionGetToolRuntimeParameters }

// Model requests.

// ModelBase is the part every model request shares. ModelType is omitted when empty, so the
// SDK either applies its default (multimodal requests) or says the field is missing.
type ModelBase struct {
	Provider    string    `json:"provider"`
	ModelType   ModelType `json:"model_type,omitempty"`
	Model       string    `json:"model"`
	Credentials Object    `json:"credentials"`
}

// InvokeLLM streams LLMResultChunk items, even with Stream false.
type InvokeLLM struct {
	ModelBase
	PromptMessages  Array           `json:"prompt_messages"` // {"role","content",...} items
	ModelParameters Object          `json:"model_parameters"`
	Stop            json.RawMessage `json:"stop"`  // array or null; the key is required
	Tools           json.RawMessage `json:"tools"` // array or null; the key is required
	Stream          *bool           `json:"stream,omitempty"`
	JSONSchema      json.RawMessage `json:"json_schema,omitempty"` // SDK >= 0.9
}

type GetLLMNumTokens struct {
	ModelBase
	PromptMessages Array           `json:"prompt_messages"`
	Tools          json.RawMessage `json:"tools"` // array or null; the key is required
}

type InvokeTextEmbedding struct {
	ModelBase
	Texts     Array  `json:"texts"`
	InputType string `json:"input_type,omitempty"` // "document" or "query"; required by SDK >= 0.10.0
}

type InvokeMultimodalEmbedding struct {
	ModelBase
	Documents Array  `json:"documents"` // [{"content","content_type":"text"|"image"}]
	InputType string `json:"input_type,omitempty"`
}

type GetTextEmbeddingNumTokens struct {
	ModelBase
	Texts Array `json:"texts"`
}

type InvokeRerank struct {
	ModelBase
	Query          string   `json:"query"`
	Docs           Array    `json:"docs"`
	ScoreThreshold *float64 `json:"score_threshold"` // null allowed; the key is required
	TopN           *int     `json:"top_n"`           // null allowed; the key is required
}

type InvokeMultimodalRerank struct {
	ModelBase
	Query          Object   `json:"query"` // {"content","content_type"}
	Docs           Array    `json:"docs"`
	ScoreThreshold *float64 `json:"score_threshold"`
	TopN           *int     `json:"top_n"`
}

type InvokeTTS struct {
	ModelBase
	ContentText string `json:"content_text"`
	Voice       string `json:"voice"`
	TenantID    string `json:"tenant_id"`
}

type GetTTSModelVoices struct {
	ModelBase
	Language *string `json:"language"` // null allowed; the key is required
}

type InvokeSpeech2Text struct {
	ModelBase
	File Hex `json:"file"` // the audio bytes, sent inline
}

type InvokeModeration struct {
	ModelBase
	Text string `json:"text"`
}

type ValidateProviderCredentials struct {
	Provider    string `json:"provider"`
	Credentials Object `json:"credentials"`
}

type ValidateModelCredentials struct{ ModelBase }

type GetAIModelSchemas struct{ ModelBase }

func (InvokeLLM) Action() Action                   { return ActionInvokeLLM }
func (GetLLMNumTokens) Action() Action             { return ActionGetLLMNumTokens }
func (InvokeTextEmbedding) Action() Action         { return ActionInvokeTextEmbedding }
func (InvokeMultimodalEmbedding) Action() Action   { return ActionInvokeMultimodalEmbedding }
func (GetTextEmbeddingNumTokens) Action() Action   { return ActionGetTextEmbeddingNumTokens }
func (InvokeRerank) Action() Action                { return ActionInvokeRerank }
func (InvokeMultimodalRerank) Action() Action      { return ActionInvokeMultimodalRerank }
func (InvokeTTS) Action() Action                   { return ActionInvokeTTS }
func (GetTTSModelVoices) Action() Action           { return ActionGetTTSModelVoices }
func (InvokeSpeech2Text) Action() Action           { return ActionInvokeSpeech2Text }
func (InvokeModeration) Action() Action            { return ActionInvokeModeration }
func (ValidateProviderCredentials) Action() Action { return ActionValidateProviderCreds }
func (ValidateModelCredentials) Action() Action    { return ActionValidateModelCredentials }
func (GetAIModelSchemas) Action() Action           { return ActionGetAIModelSchemas }

// Endpoint, agent strategy and dynamic parameter requests.

// InvokeEndpoint carries a whole HTTP/1.1 request. The SDK does not decode chunked transfer
// encoding: send the body with Content-Length.
type InvokeEndpoint struct {
	Settings       Object `json:"settings"`
	RawHTTPRequest Hex    `json:"raw_http_request"`
}

type InvokeAgentStrategy struct {
	AgentStrategyProvider string `json:"agent_strategy_provider"`
	AgentStrategy         string `json:"agent_strategy"`
	AgentStrategyParams   Object `json:"agent_strategy_params"`
}

type FetchParameterOptions struct {
	Provider       string         `json:"provider"`
	ProviderAction string         `json:"provider_action"`
	Parameter      string         `json:"parameter"`
	Credentials    Object         `json:"credentials"`
	CredentialType CredentialType `json:"credential_type,omitempty"` // default unauthorized
}

func (InvokeEndpoint) Action() Action        { return ActionInvokeEndpoint }
func (InvokeAgentStrategy) Action() Action   { return ActionInvokeAgentStrategy }
func (FetchParameterOptions) Action() Action { return ActionFetchParameterOptions }

// OAuth requests.

type GetAuthorizationURL struct {
	Provider          string `json:"provider"`
	RedirectURI       string `json:"redirect_uri"`
	SystemCredentials Object `json:"system_credentials"`
}

// GetOAuthCredentials exchanges the provider's callback request for credentials.
type GetOAuthCredentials struct {
	Provider          string `json:"provider"`
	RedirectURI       string `json:"redirect_uri"`
	SystemCredentials Object `json:"system_credentials"`
	RawHTTPRequest    Hex    `json:"raw_http_request"`
}

type RefreshOAuthCredentials struct {
	Provider          string `json:"provider"`
	RedirectURI       string `json:"redirect_uri"`
	SystemCredentials Object `json:"system_credentials"`
	Credentials       Object `json:"credentials"`
}

func (GetAuthorizationURL) Action() Action     { return ActionGetAuthorizationURL }
func (GetOAuthCredentials) Action() Action     { return ActionGetCredentials }
func (RefreshOAuthCredentials) Action() Action { return ActionRefreshCredentials }

// Datasource requests.

type ValidateDatasourceCredentials struct {
	Provider    string `json:"provider"`
	Credentials Object `json:"credentials"`
}

// DatasourceBase is the part the datasource invocations share.
type DatasourceBase struct {
	Provider    string `json:"provider"`
	Datasource  string `json:"datasource"`
	Credentials Object `json:"credentials"`
}

type GetWebsiteCrawl struct {
	DatasourceBase
	DatasourceParameters Object `json:"datasource_parameters"`
}

type GetOnlineDocumentPages struct {
	DatasourceBase
	DatasourceParameters Object `json:"datasource_parameters"`
}

type GetOnlineDocumentPageContent struct {
	DatasourceBase
	Page Object `json:"page"` // {"workspace_id","page_id","type"}
}

type OnlineDriveBrowseFiles struct {
	DatasourceBase
	Request Object `json:"request"` // {"bucket"?,"prefix","max_keys","next_page_parameters"?}
}

type OnlineDriveDownloadFile struct {
	DatasourceBase
	Request Object `json:"request"` // {"bucket"?,"id"}
}

func (ValidateDatasourceCredentials) Action() Action { return ActionValidateDatasourceCredentials }
func (GetWebsiteCrawl) Action() Action               { return ActionGetWebsiteCrawl }
func (GetOnlineDocumentPages) Action() Action        { return ActionGetOnlineDocumentPages }
func (GetOnlineDocumentPageContent) Action() Action  { return ActionGetOnlineDocumentPageContent }
func (OnlineDriveBrowseFiles) Action() Action        { return ActionOnlineDriveBrowseFiles }
func (OnlineDriveDownloadFile) Action() Action       { return ActionOnlineDriveDownloadFile }

// Trigger requests. A subscription is {"expires_at","endpoint","parameters"?,"properties"}.

type InvokeTriggerEvent struct {
	Provider       string          `json:"provider"`
	Event          string          `json:"event"`
	Credentials    Object          `json:"credentials"`
	CredentialType CredentialType  `json:"credential_type,omitempty"` // default api-key
	Subscription   Object          `json:"subscription"`
	RawHTTPRequest Hex             `json:"raw_http_request"`
	Parameters     Object          `json:"parameters"`
	Payload        json.RawMessage `json:"payload,omitempty"` // default {}
}

type ValidateTriggerCredentials struct {
	Provider    string `json:"provider"`
	Credentials Object `json:"credentials"`
}

type DispatchTriggerEvent struct {
	Provider       string          `json:"provider"`
	Subscription   Object          `json:"subscription"`
	Credentials    json.RawMessage `json:"credentials"`     // object or null; the key is required
	CredentialType *CredentialType `json:"credential_type"` // null allowed; the key is required
	RawHTTPRequest Hex             `json:"raw_http_request"`
}

type SubscribeTrigger struct {
	Provider       string         `json:"provider"`
	Credentials    Object         `json:"credentials"`
	CredentialType CredentialType `json:"credential_type"`
	Endpoint       string         `json:"endpoint"`
	Parameters     Object         `json:"parameters"`
}

type UnsubscribeTrigger struct {
	Provider       string         `json:"provider"`
	Subscription   Object         `json:"subscription"`
	CredentialType CredentialType `json:"credential_type"`
	Credentials    Object         `json:"credentials"`
}

type RefreshTrigger struct {
	Provider       string         `json:"provider"`
	Subscription   Object         `json:"subscription"`
	CredentialType CredentialType `json:"credential_type"`
	Credentials    Object         `json:"credentials"`
}

func (InvokeTriggerEvent) Action() Action         { return ActionInvokeTriggerEvent }
func (ValidateTriggerCredentials) Action() Action { return ActionValidateTriggerCredentials }
func (DispatchTriggerEvent) Action() Action       { return ActionDispatchTriggerEvent }
func (SubscribeTrigger) Action() Action           { return ActionSubscribeTrigger }
func (UnsubscribeTrigger) Action() Action         { return ActionUnsubscribeTrigger }
func (RefreshTrigger) Action() Action             { return ActionRefreshTrigger }
