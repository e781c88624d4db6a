package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/signature"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// envelope is the body of every JSON answer except the health and not-found routes. Dify
// decodes it by field name and treats code != 0 as an error, so Data is always written (null
// on errors).
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func success(data any) envelope { return envelope{Code: 0, Message: "success", Data: data} }

// Error types. Dify maps these by name to its own exception classes; a name it does not know
// surfaces there as a generic "unknown error", so only names it maps are used.
const (
	typeInternal         = "PluginDaemonInternalServerError"
	typeBadRequest       = "PluginDaemonBadRequestError"
	typeNotFound         = "PluginDaemonNotFoundError"
	typeUnauthorized     = "PluginDaemonUnauthorizedError"
	typePermissionDenied = "PluginPermissionDeniedError"
	typeInvoke           = "PluginInvokeError"
	typeIdentifier       = "PluginUniqueIdentifierError"
	typePluginNotFound   = "PluginNotFoundError"
)

// apiError is an error already decided for the wire: the envelope code and error type, and
// the HTTP status used on routes where the reference answers with a real status (auth,
// dispatch before streaming, the endpoint proxy). Management routes answer 200 whatever the
// status says, as the reference does.
type apiError struct {
	status int
	code   int
	typ    string
	msg    string
	args   any
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// envelope renders the error the way the reference does: message is itself a JSON string.
func (e *apiError) envelope() envelope {
	inner, _ := json.Marshal(struct {
		Message   string `json:"message"`
		ErrorType string `json:"error_type"`
		Args      any    `json:"args"`
	}{e.msg, e.typ, e.args}) // only strings and raw JSON: cannot fail
	return envelope{Code: e.code, Message: string(inner), Data: nil}
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, -400, typeBadRequest, fmt.Sprintf(format, args...), nil}
}

func identifierError(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, -400, typeIdentifier, fmt.Sprintf(format, args...), nil}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, -404, typeNotFound, fmt.Sprintf(format, args...), nil}
}

func pluginNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, -404, typePluginNotFound, fmt.Sprintf(format, args...), nil}
}

func permissionDenied(format string, args ...any) *apiError {
	return &apiError{http.StatusForbidden, -403, typePermissionDenied, fmt.Sprintf(format, args...), nil}
}

func internalError(format string, args ...any) *apiError {
	return &apiError{http.StatusInternalServerError, -500, typeInternal, fmt.Sprintf(format, args...), nil}
}

var errUnauthorized = &apiError{http.StatusUnauthorized, -401, typeUnauthorized, "invalid X-Api-Key", nil}

// errKilledByTimeout is the cause of a request context that ran past ExecutionTimeout; its
// text is what the reference sends and what Dify users know.
var errKilledByTimeout = errors.New("killed by timeout")

// pluginError is the double encoding Dify unwraps: a PluginInvokeError whose message is the
// JSON of the plugin's own {error_type, message, args}.
func pluginError(serr *wire.SessionError) *apiError {
	var args any = serr.Args
	if len(serr.Args) == 0 {
		args = nil
	}
	inner, _ := json.Marshal(struct {
		ErrorType string `json:"error_type"`
		Message   string `json:"message"`
		Args      any    `json:"args"`
	}{serr.ErrorType, serr.Message, args})
	return &apiError{http.StatusInternalServerError, -500, typeInvoke, string(inner), nil}
}

// classify is the one place where errors of the rest of the daemon become wire errors.
// dispatch selects PluginNotFoundError for missing rows, which is what Dify expects from an
// invocation of a plugin the tenant does not have.
func classify(err error, dispatch bool) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var serr *wire.SessionError
	if errors.As(err, &serr) {
		return pluginError(serr)
	}
	var ie *install.InputError
	if errors.As(err, &ie) {
		if errors.Is(err, install.ErrIdentifier) {
			return identifierError("%s", err.Error())
		}
		return badRequest("%s", err.Error())
	}
	switch {
	case errors.Is(err, install.ErrIdentifier):
		return identifierError("%s", err.Error())
	case errors.Is(err, signature.ErrUnsigned), errors.Is(err, signature.ErrBadSignature):
		return badRequest("%s", err.Error())
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		if dispatch {
			return pluginNotFound("%s", err.Error())
		}
		return notFound("%s", err.Error())
	case errors.Is(err, store.ErrConflict):
		return badRequest("%s", err.Error())
	case errors.Is(err, errKilledByTimeout):
		return internalError("%s", errKilledByTimeout.Error())
	}
	return internalError("%s", err.Error())
}

// writeJSON writes v as the whole answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only data built by this package reaches here; a failure is a bug, reported as such.
		status = http.StatusInternalServerError
		body, _ = json.Marshal(internalError("encoding the answer: %v", err).envelope())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// ok answers a management route with data.
func ok(w http.ResponseWriter, data any) { writeJSON(w, http.StatusOK, success(data)) }

// fail answers a management route with an error: HTTP 200, like the reference, because
// Dify's non-streaming client raises on any other status before reading the envelope. A body
// that does not decode or lacks a required field goes through failStatus instead (400), as the
// reference's request validation does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.logged(r, err, false)
	writeJSON(w, http.StatusOK, ae.envelope())
}

// failStatus answers with the error's own HTTP status: auth, dispatch before streaming and
// the endpoint proxy, where the reference uses real statuses.
func (s *Server) failStatus(w http.ResponseWriter, r *http.Request, err error, dispatch bool) {
	ae := s.logged(r, err, dispatch)
	writeJSON(w, ae.status, ae.envelope())
}

// logged classifies err and logs the ones that point at the daemon rather than the caller.
func (s *Server) logged(r *http.Request, err error, dispatch bool) *apiError {
	ae := classify(err, dispatch)
	if ae.code == -500 && ae.typ == typeInternal && !errors.Is(err, context.Canceled) {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return ae
}

// notFoundRoute is the reference's answer to a path it does not serve; code is a string
// there, unlike the envelope.
func notFoundRoute(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "route not found"})
}
