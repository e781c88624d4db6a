package httpapi

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/plugd/plugd/internal/oauth"
)

// OAuth for tools (docs/oauth.md): client settings at system level (/tools/oauth/...) and per
// tenant, connecting a provider (the authorization URL to open, then a flow to poll), the
// tenant's connections, and the browser-facing /oauth/callback and /oauth/start, which take
// no daemon key: the single-use state is their only credential.

// OAuthService is OAuth as the API uses it (*oauth.Manager).
type OAuthService interface {
	SetClient(ctx context.Context, tenant string, cs oauth.ClientSettings) (oauth.ClientSettings, error)
	Clients(ctx context.Context, tenant string) ([]oauth.ClientSettings, error)
	DeleteClient(ctx context.Context, tenant, provider string) error
	Connect(ctx context.Context, tenant, providerID, userID string) (oauth.Started, error)
	FlowStatus(ctx context.Context, tenant, id string) (oauth.FlowInfo, error)
	Callback(ctx context.Context, r *http.Request) (oauth.FlowInfo, error)
	StartRedirect(ctx context.Context, state string) (string, error)
	Connections(ctx context.Context, tenant string) ([]oauth.Connection, error)
	Connection(ctx context.Context, tenant, provider string) (oauth.Connection, error)
	Disconnect(ctx context.Context, tenant, provider string) error
}

var _ OAuthService = (*oauth.Manager)(nil)

// ConnectBody is the body of POST /tools/{tenant_id}/oauth/connect.
type ConnectBody struct {
	ProviderID string `json:"provider_id"`
	UserID     string `json:"user_id,omitempty"`
}

func (s *Server) oauthRoutes() {
	if s.cfg.OAuth == nil {
		return
	}
	const T = "/tools/{tenant_id}/oauth"
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /tools/oauth/system-clients":                  s.oauthClients,
		"PUT /tools/oauth/system-clients/{provider...}":    s.oauthSetClient,
		"DELETE /tools/oauth/system-clients/{provider...}": s.oauthDeleteClient,
		"GET " + T + "/clients":                            s.oauthClients,
		"PUT " + T + "/clients/{provider...}":              s.oauthSetClient,
		"DELETE " + T + "/clients/{provider...}":           s.oauthDeleteClient,
		"POST " + T + "/connect":                           s.oauthConnect,
		"GET " + T + "/flows/{id}":                         s.oauthFlow,
		"GET " + T + "/connections":                        s.oauthConnections,
		"GET " + T + "/connections/{provider...}":          s.oauthConnection,
		"DELETE " + T + "/connections/{provider...}":       s.oauthDisconnect,
	} {
		s.mux.HandleFunc(pattern, s.auth(h))
	}
	s.mux.HandleFunc("GET /oauth/callback", s.oauthCallback)
	s.mux.HandleFunc("GET /oauth/start", s.oauthStart)
}

// tenantOf is the path's tenant; "" on the system-level routes.
func tenantOf(r *http.Request) string { return r.PathValue("tenant_id") }

func (s *Server) oauthClients(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.OAuth.Clients(r.Context(), tenantOf(r))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(list))
}

func (s *Server) oauthSetClient(w http.ResponseWriter, r *http.Request) {
	var cs oauth.ClientSettings
	if err := decodeTools(w, r, &cs); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if cs.Provider != "" && cs.Provider != r.PathValue("provider") {
		s.toolsFail(w, r, badRequest("provider %q in the body differs from %q in the path", cs.Provider, r.PathValue("provider")))
		return
	}
	cs.Provider = r.PathValue("provider")
	out, err := s.cfg.OAuth.SetClient(r.Context(), tenantOf(r), cs)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(out))
}

func (s *Server) oauthDeleteClient(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.OAuth.DeleteClient(r.Context(), tenantOf(r), r.PathValue("provider")); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(true))
}

func (s *Server) oauthConnect(w http.ResponseWriter, r *http.Request) {
	var body ConnectBody
	if err := decodeTools(w, r, &body); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if body.ProviderID == "" {
		s.toolsFail(w, r, badRequest("provider_id is required"))
		return
	}
	st, err := s.cfg.OAuth.Connect(r.Context(), tenantOf(r), body.ProviderID, body.UserID)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(st))
}

func (s *Server) oauthFlow(w http.ResponseWriter, r *http.Request) {
	fi, err := s.cfg.OAuth.FlowStatus(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(fi))
}

func (s *Server) oauthConnections(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.OAuth.Connections(r.Context(), tenantOf(r))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(list))
}

func (s *Server) oauthConnection(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.OAuth.Connection(r.Context(), tenantOf(r), r.PathValue("provider"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(c))
}

func (s *Server) oauthDisconnect(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.OAuth.Disconnect(r.Context(), tenantOf(r), r.PathValue("provider")); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(true))
}

// oauthCallback is where the authorization server sends the browser back: a page saying
// whether the provider is connected (the CLI or console polling the flow learns it too).
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	// The state cookie of the start route is spent either way.
	http.SetCookie(w, &http.Cookie{Name: oauth.StateCookie, Path: "/oauth", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	info, err := s.cfg.OAuth.Callback(r.Context(), r)
	if err != nil {
		s.log.Info("oauth callback failed", "flow", info.ID, "provider", info.Provider, "err", err)
		oauthPage(w, http.StatusBadRequest, "Not connected", err.Error())
		return
	}
	oauthPage(w, http.StatusOK, "Connected", fmt.Sprintf("%s is connected. You can close this window.", info.Provider))
}

// oauthStart sends the browser on to a grant's authorization URL that carries no state of
// ours (a plugin builds its own), with the state in a cookie the callback reads.
func (s *Server) oauthStart(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	u, err := s.cfg.OAuth.StartRedirect(r.Context(), state)
	if err != nil {
		oauthPage(w, http.StatusBadRequest, "Cannot start", err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oauth.StateCookie, Value: state, Path: "/oauth", MaxAge: int(oauth.StateTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, u, http.StatusFound)
}

func oauthPage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>plugd: %s</title></head><body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), strings.ReplaceAll(html.EscapeString(msg), "`", ""))
}
