package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/httpapi"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/wire"
	"github.com/plugd/plugd/internal/workflow"
)

// toolCatalog wires the tool catalog of `plugd serve`: plugin providers derived from the
// store's installations and called through the dispatcher, workflow apps through their public
// API, ordering from the POSITION_* settings. secrets may be nil (credentials then cannot be
// stored); outbound is the HTTP client tools reach the outside with.
func toolCatalog(c Config, db *sqlstore.DB, disp *dispatch.Dispatcher, secrets catalog.Secrets, outbound *http.Client) (*catalog.Catalog, httpapi.ToolImporters, error) {
	order, err := toolOrdering(c.Tools)
	if err != nil {
		return nil, httpapi.ToolImporters{}, err
	}
	invoke := func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		st, err := disp.Invoke(ctx, uid, access, action, data, ic)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return st, nil
	}
	wf := &workflow.Client{HTTP: outbound}
	cat := catalog.New(catalog.Config{
		Store: db, Plugins: plugintools.NewSource(db), Secrets: secrets, Ordering: order,
		Callers: map[catalog.Kind]catalog.Caller{
			catalog.KindPlugin:   plugintools.NewCaller(invoke),
			catalog.KindWorkflow: workflow.Caller{Client: wf},
		},
	})
	imp := httpapi.ToolImporters{
		Workflow: func(ctx context.Context, req httpapi.WorkflowImport) (catalog.NewProvider, error) {
			return wf.NewProvider(ctx, req.Name, req.Label, req.Description,
				workflow.Config{BaseURL: req.BaseURL, ResponseMode: req.ResponseMode}, req.APIKey)
		},
	}
	return cat, imp, nil
}

// toolOrdering reads the ordering settings and the position file.
func toolOrdering(t ToolsConfig) (catalog.Ordering, error) {
	o := catalog.Ordering{
		ProviderPins: t.ProviderPins, ProviderIncludes: t.ProviderIncludes, ProviderExcludes: t.ProviderExcludes,
		ToolPins: t.ToolPins, ToolIncludes: t.ToolIncludes, ToolExcludes: t.ToolExcludes,
	}
	if t.PositionFile == "" {
		return o, nil
	}
	data, err := os.ReadFile(t.PositionFile)
	if err != nil {
		return o, fmt.Errorf("PLUGD_TOOL_POSITION_FILE: %w", err)
	}
	o.ProviderPositions, o.ToolPositions, err = catalog.ParsePositionFile(data)
	if err != nil {
		return o, fmt.Errorf("PLUGD_TOOL_POSITION_FILE %s: %w", t.PositionFile, err)
	}
	return o, nil
}

// defaultOutbound is the outbound client until the egress package is wired: Dify's API-tool
// timeouts (connect 10 s, read 60 s).
func defaultOutbound() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			ResponseHeaderTimeout: 60 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
		},
	}
}
