package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/plugd/plugd/internal/marketplace"
)

// MarketplaceFetcher downloads Marketplace plugins for the daemon (*marketplace.Fetcher from
// daemon.NewMarketplaceFetcher): it resolves a reference to a unique identifier, keeps the
// package in a cache by that identifier and runs the daemon's signature policy on it, cached
// or not.
type MarketplaceFetcher interface {
	Fetch(ctx context.Context, ref string, progress func(done, total int64)) (marketplace.Fetched, error)
}

var _ MarketplaceFetcher = (*marketplace.Fetcher)(nil)

// MarketplaceInstall is the body of POST /tools/{tenant}/install: a Marketplace plugin as
// org/name (latest version), org/name:version or a full unique identifier.
type MarketplaceInstall struct {
	Plugin string `json:"plugin"`
	// VerifySignature asks for a valid signature even when FORCE_VERIFYING_SIGNATURE is off.
	VerifySignature bool `json:"verify_signature,omitempty"`
}

// MarketplaceInstalled answers POST /tools/{tenant}/install: the install task to follow
// (GET /plugin/{tenant}/management/install/tasks/{task_id}), or all_installed when the
// tenant already has the plugin (in any version) and nothing was started.
type MarketplaceInstalled struct {
	UniqueIdentifier string `json:"unique_identifier"`
	TaskID           string `json:"task_id"`
	AllInstalled     bool   `json:"all_installed"`
	// Cached says the package came from the daemon's cache rather than a download.
	Cached bool `json:"cached"`
}

// toolsInstall installs a Marketplace plugin for the tenant on the daemon's side, so that a
// catalog client without Marketplace access of its own (a script, an MCP user) can get a
// plugin's tools: the daemon downloads (or takes from its cache) and verifies the package,
// uploads it into its store as an upload does and starts the usual install task, source
// "marketplace". The download happens within the request; the install is followed through
// the task route.
func (s *Server) toolsInstall(w http.ResponseWriter, r *http.Request) {
	var req MarketplaceInstall
	if err := decodeTools(w, r, &req); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	ref := strings.TrimSpace(req.Plugin)
	if ref == "" {
		s.toolsFail(w, r, badRequest("field plugin is required: org/name, org/name:version or a unique identifier"))
		return
	}
	if _, err := marketplace.ParseRef(ref); err != nil {
		s.toolsFail(w, r, badRequest("field plugin: %s", err.Error()))
		return
	}
	if s.cfg.Marketplace == nil {
		s.toolsFail(w, r, &apiError{http.StatusNotImplemented, -501, typeBadRequest,
			fmt.Sprintf("cannot install %s: the Marketplace is turned off on this daemon (MARKETPLACE_ENABLED=false)", ref), nil})
		return
	}
	got, err := s.cfg.Marketplace.Fetch(r.Context(), ref, nil)
	if err != nil {
		s.toolsFail(w, r, marketplaceFailure(err))
		return
	}
	tenant := r.PathValue("tenant_id")
	f, err := os.Open(got.Path)
	if err != nil {
		s.toolsFail(w, r, fmt.Errorf("reading the downloaded package of %s: %w", got.UniqueIdentifier, err))
		return
	}
	dec, err := s.cfg.Installer.Upload(r.Context(), tenant, f, req.VerifySignature)
	f.Close()
	if err != nil {
		s.toolsFail(w, r, fmt.Errorf("storing %s from the Marketplace: %w", got.UniqueIdentifier, err))
		return
	}
	meta, _ := json.Marshal(map[string]string{"plugin_unique_identifier": dec.UniqueIdentifier})
	started, err := s.cfg.Installer.Install(r.Context(), tenant, []string{dec.UniqueIdentifier}, "marketplace", []json.RawMessage{meta})
	if err != nil {
		s.toolsFail(w, r, fmt.Errorf("installing %s: %w", dec.UniqueIdentifier, err))
		return
	}
	writeJSON(w, http.StatusOK, success(MarketplaceInstalled{
		UniqueIdentifier: dec.UniqueIdentifier, TaskID: started.TaskID, AllInstalled: started.AllInstalled, Cached: got.Cached,
	}))
}

// marketplaceFailure gives a failed fetch its status: an unknown plugin or version is 404, a
// Marketplace that failed to answer 502, a package refused by the signature policy 400. The
// messages already name the URL, the setting and the plugin.
func marketplaceFailure(err error) error {
	var me *marketplace.Error
	switch {
	case errors.Is(err, marketplace.ErrNotFound):
		return notFound("%s", err.Error())
	case errors.As(err, &me):
		return &apiError{http.StatusBadGateway, -502, typeBadRequest, err.Error(), nil}
	}
	return classify(err, false)
}
