package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/store"
)

// writeBytes answers raw bytes, which is what Dify reads from the asset routes.
func writeBytes(w http.ResponseWriter, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// asset serves an icon remapped at upload. A missing one is an empty 200, as in the
// reference: Dify shows no icon rather than failing the page.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || strings.ContainsAny(id, "/\\\x00") || strings.Contains(id, "..") {
		s.failStatus(w, r, badRequest("asset id %q is not valid", truncate(id, 128)), false)
		return
	}
	data, err := s.cfg.Installer.Asset(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		writeBytes(w, nil)
	case err != nil:
		s.failStatus(w, r, err, false)
	default:
		writeBytes(w, data)
	}
}

// checkAssetPath refuses paths that could leave the package's _assets/ folder or mean
// different files on different systems.
func checkAssetPath(p string) error {
	switch {
	case p == "":
		return badRequest("query parameter file_path is required")
	case strings.HasPrefix(p, "/"):
		return badRequest("file_path %q must be relative to the package's _assets folder", truncate(p, 256))
	case strings.ContainsAny(p, "\\\x00"):
		return badRequest("file_path %q must not contain backslashes or NUL", truncate(p, 256))
	case len(p) >= 2 && p[1] == ':':
		return badRequest("file_path %q must be relative to the package's _assets folder", truncate(p, 256))
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return badRequest("file_path %q must not contain empty, . or .. segments", truncate(p, 256))
		}
	}
	return nil
}

// extractAsset serves a file under the package's _assets/ folder.
func (s *Server) extractAsset(w http.ResponseWriter, r *http.Request) {
	uid, err := uidQuery(r)
	if err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	path := r.URL.Query().Get("file_path")
	if err := checkAssetPath(path); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	data, err := s.cfg.Installer.PackageFile(r.Context(), uid.raw, path)
	if err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	writeBytes(w, data)
}
