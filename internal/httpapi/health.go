package httpapi

import (
	"net/http"
)

// health returns the daemon's report, or a ready one with an empty pool when none is wired.
func (s *Server) health() HealthInfo {
	if s.cfg.Health == nil {
		return HealthInfo{Ready: true, Platform: "local"}
	}
	h := s.cfg.Health()
	if h.Platform == "" {
		h.Platform = "local"
	}
	return h
}

// healthCheck is the reference's /health/check, which monitoring and Dify's deployment
// checks poll: plain JSON, no envelope.
func (s *Server) healthCheck(w http.ResponseWriter, _ *http.Request) {
	h := s.health()
	writeJSON(w, http.StatusOK, struct {
		Status                 string     `json:"status"`
		PoolStatus             PoolStatus `json:"pool_status"`
		Version                string     `json:"version"`
		BuildTime              string     `json:"build_time"`
		Platform               string     `json:"platform"`
		ActiveRequests         int64      `json:"active_requests"`
		ActiveDispatchRequests int64      `json:"active_dispatch_requests"`
	}{"ok", h.Pool, s.cfg.Version, h.BuildTime, h.Platform, s.active.Load(), s.activeDispatch.Load()})
}

// healthReady is plugd's readiness probe: 503 until the daemon has finished starting, then
// 200 with the state of every plugin, so an orchestrator sends traffic only when
// installations have been reconciled.
func (s *Server) healthReady(w http.ResponseWriter, _ *http.Request) {
	ready := s.health().Ready
	plugins := []PluginState{}
	if s.cfg.Dispatcher != nil {
		if ps := s.cfg.Dispatcher.Readiness(); ps != nil {
			plugins = ps
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	h := s.health()
	writeJSON(w, status, struct {
		Ready   bool          `json:"ready"`
		Plugins []PluginState `json:"plugins"`
		Node    string        `json:"node,omitempty"`
		Nodes   any           `json:"nodes,omitempty"`
	}{ready, plugins, h.Node, h.Nodes})
}
