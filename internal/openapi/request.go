package openapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Credential is one way of authenticating a call: a security scheme (usually one of the
// document's, possibly made up by the user as Dify's "api_key in header X" is) and its secret.
type Credential struct {
	Scheme SecurityScheme
	// Value is the API key (apiKey) or the token (http bearer, oauth2, openIdConnect).
	Value string
	// Username and Password are for http basic.
	Username, Password string
}

// Auth is the credentials applied to a request, in order.
type Auth []Credential

// ArgumentError is an argument missing or unfit for its parameter.
type ArgumentError struct {
	Tool   string
	Arg    string
	Reason string
}

func (e *ArgumentError) Error() string {
	return fmt.Sprintf("tool %s: argument %q %s", e.Tool, e.Arg, e.Reason)
}

// BuildRequest makes the HTTP request that calls op with args (decoded JSON: string, float64
// or json.Number, bool, nil, []any, map[string]any) and auth, sent to op.ServerURL. Missing
// required arguments (without a default), unknown ones and values a parameter cannot carry are
// an *ArgumentError naming the argument.
func BuildRequest(ctx context.Context, op *Operation, args map[string]any, auth Auth) (*http.Request, error) {
	if op.ServerURL == "" {
		return nil, fmt.Errorf("tool %s: no server URL: the description names none (or only a relative one); set the provider's server URL", op.Name)
	}
	props, _ := op.InputSchema["properties"].(map[string]any)
	for name := range args {
		if _, ok := props[name]; !ok {
			known := make([]string, 0, len(props))
			for k := range props {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, &ArgumentError{Tool: op.Name, Arg: name, Reason: fmt.Sprintf("is not an input of this tool (inputs: %s)", strings.Join(known, ", "))}
		}
	}
	value := func(arg string, required bool, schema map[string]any) (any, bool, error) {
		v, ok := args[arg]
		if ok && v != nil {
			return v, true, nil
		}
		if d, has := schema["default"]; has && required {
			return d, true, nil
		}
		if required {
			return nil, false, &ArgumentError{Tool: op.Name, Arg: arg, Reason: "is required"}
		}
		return nil, false, nil
	}

	path := op.Path
	query := &strings.Builder{}
	header := http.Header{}
	var cookies []string
	for _, p := range op.Parameters {
		v, ok, err := value(p.Arg, p.Required, p.Schema)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		switch p.In {
		case "path":
			s, err := pathValue(p, v)
			if err != nil {
				return nil, &ArgumentError{Tool: op.Name, Arg: p.Arg, Reason: err.Error()}
			}
			path = strings.ReplaceAll(path, "{"+p.Name+"}", s)
		case "query":
			if err := appendQuery(query, p, v); err != nil {
				return nil, &ArgumentError{Tool: op.Name, Arg: p.Arg, Reason: err.Error()}
			}
		case "header":
			s, err := simpleValue(v, p.Explode)
			if err != nil {
				return nil, &ArgumentError{Tool: op.Name, Arg: p.Arg, Reason: err.Error()}
			}
			if strings.ContainsAny(s, "\r\n") {
				return nil, &ArgumentError{Tool: op.Name, Arg: p.Arg, Reason: "contains a line break, which a header cannot carry"}
			}
			header.Set(p.Name, s)
		case "cookie":
			s, err := simpleValue(v, false)
			if err != nil {
				return nil, &ArgumentError{Tool: op.Name, Arg: p.Arg, Reason: err.Error()}
			}
			cookies = append(cookies, p.Name+"="+url.QueryEscape(s))
		}
	}

	var body io.Reader
	var contentType string
	if b := op.Body; b != nil {
		var err error
		body, contentType, err = buildBody(op, b, props, args, value)
		if err != nil {
			return nil, err
		}
	}

	target := strings.TrimSuffix(op.ServerURL, "/") + path
	if query.Len() > 0 {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + query.String()
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("tool %s: request URL %q: %w", op.Name, target, err)
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", op.Name, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if len(cookies) > 0 {
		req.Header.Add("Cookie", strings.Join(cookies, "; "))
	}
	if err := applyAuth(req, auth); err != nil {
		return nil, fmt.Errorf("tool %s: %w", op.Name, err)
	}
	return req, nil
}

func buildBody(op *Operation, b *Body, props map[string]any, args map[string]any, value func(string, bool, map[string]any) (any, bool, error)) (io.Reader, string, error) {
	required := map[string]bool{}
	switch r := op.InputSchema["required"].(type) {
	case []string:
		for _, x := range r {
			required[x] = true
		}
	case []any: // an operation read back from JSON
		for _, x := range r {
			if s, ok := x.(string); ok {
				required[s] = true
			}
		}
	}
	var payload any
	if b.Arg != "" {
		schema, _ := props[b.Arg].(map[string]any)
		v, ok, err := value(b.Arg, required[b.Arg], schema)
		if err != nil || !ok {
			return nil, "", err
		}
		payload = v
	} else {
		obj := map[string]any{}
		args := make([]string, 0, len(b.Fields))
		for a := range b.Fields {
			args = append(args, a)
		}
		sort.Strings(args)
		for _, a := range args {
			schema, _ := props[a].(map[string]any)
			v, ok, err := value(a, required[a], schema)
			if err != nil {
				return nil, "", err
			}
			if ok {
				obj[b.Fields[a]] = v
			}
		}
		if len(obj) == 0 && !b.Required {
			return nil, "", nil
		}
		payload = obj
	}
	switch ct := b.ContentType; {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		data, err := json.Marshal(payload)
		if err != nil {
			return nil, "", &ArgumentError{Tool: op.Name, Arg: bodyArg(b), Reason: "cannot be encoded as JSON: " + err.Error()}
		}
		return bytes.NewReader(data), ct, nil
	case ct == "application/x-www-form-urlencoded":
		obj, ok := payload.(map[string]any)
		if !ok {
			return nil, "", &ArgumentError{Tool: op.Name, Arg: bodyArg(b), Reason: "must be an object of form fields"}
		}
		form := url.Values{}
		for k, v := range obj {
			vals, err := formValues(v)
			if err != nil {
				return nil, "", &ArgumentError{Tool: op.Name, Arg: k, Reason: err.Error()}
			}
			form[k] = vals
		}
		return strings.NewReader(form.Encode()), ct, nil
	case ct == "multipart/form-data":
		obj, ok := payload.(map[string]any)
		if !ok {
			return nil, "", &ArgumentError{Tool: op.Name, Arg: bodyArg(b), Reason: "must be an object of form fields"}
		}
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		binary := map[string]bool{} // property -> sent as a file part
		for arg, prop := range b.Fields {
			if schema, _ := props[arg].(map[string]any); schema["format"] == "binary" || schema["contentMediaType"] != nil {
				binary[prop] = true
			}
		}
		for _, k := range keys {
			vals, err := formValues(obj[k])
			if err != nil {
				return nil, "", &ArgumentError{Tool: op.Name, Arg: k, Reason: err.Error()}
			}
			for _, v := range vals {
				if binary[k] {
					// File content travels in JSON arguments as base64 when it decodes as such.
					data := []byte(v)
					if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
						data = raw
					}
					fw, err := w.CreateFormFile(k, k)
					if err != nil {
						return nil, "", err
					}
					if _, err := fw.Write(data); err != nil {
						return nil, "", err
					}
					continue
				}
				if err := w.WriteField(k, v); err != nil {
					return nil, "", err
				}
			}
		}
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return &buf, w.FormDataContentType(), nil
	default: // text/*, application/octet-stream: the argument is the body
		switch v := payload.(type) {
		case string:
			if ct == "application/octet-stream" {
				// Binary content travels in JSON arguments as base64 when it decodes as such.
				if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
					return bytes.NewReader(raw), ct, nil
				}
			}
			return strings.NewReader(v), ct, nil
		default:
			s, err := scalar(v)
			if err != nil {
				return nil, "", &ArgumentError{Tool: op.Name, Arg: bodyArg(b), Reason: err.Error()}
			}
			return strings.NewReader(s), ct, nil
		}
	}
}

func bodyArg(b *Body) string {
	if b.Arg != "" {
		return b.Arg
	}
	return "body"
}

// scalar is a primitive JSON value as parameter text: numbers without exponent or trailing
// zeros, booleans as true/false.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case json.Number:
		return x.String(), nil
	case nil:
		return "", nil
	case []any:
		return "", fmt.Errorf("is an array where a single value is expected")
	case map[string]any:
		return "", fmt.Errorf("is an object where a single value is expected")
	}
	return "", fmt.Errorf("has an unsupported type %T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// simpleValue is the "simple" style: arrays and objects comma-separated (objects as k,v,k,v,
// or k=v,k=v when exploded).
func simpleValue(v any, explode bool) (string, error) {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := scalar(e)
			if err != nil {
				return "", fmt.Errorf("item %d %s", i, err)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(x) {
			s, err := scalar(x[k])
			if err != nil {
				return "", fmt.Errorf("field %q %s", k, err)
			}
			if explode {
				parts = append(parts, k+"="+s)
			} else {
				parts = append(parts, k, s)
			}
		}
		return strings.Join(parts, ","), nil
	}
	return scalar(v)
}

// pathValue serializes a path parameter (styles simple, label, matrix), escaping each value
// so it stays one path segment.
func pathValue(p Parameter, v any) (string, error) {
	esc := url.PathEscape
	items := func() ([]string, []string, error) { // values, keys (objects)
		switch x := v.(type) {
		case []any:
			out := make([]string, len(x))
			for i, e := range x {
				s, err := scalar(e)
				if err != nil {
					return nil, nil, fmt.Errorf("item %d %s", i, err)
				}
				out[i] = esc(s)
			}
			return out, nil, nil
		case map[string]any:
			var vals, keys []string
			for _, k := range sortedKeys(x) {
				s, err := scalar(x[k])
				if err != nil {
					return nil, nil, fmt.Errorf("field %q %s", k, err)
				}
				keys = append(keys, esc(k))
				vals = append(vals, esc(s))
			}
			return vals, keys, nil
		}
		s, err := scalar(v)
		if err != nil {
			return nil, nil, err
		}
		if s == "" {
			return nil, nil, fmt.Errorf("is empty, which a path parameter cannot be")
		}
		return []string{esc(s)}, nil, nil
	}
	vals, keys, err := items()
	if err != nil {
		return "", err
	}
	join := func(sep, kv string) string {
		if keys == nil {
			return strings.Join(vals, sep)
		}
		parts := make([]string, 0, 2*len(vals))
		for i := range vals {
			if p.Explode {
				parts = append(parts, keys[i]+kv+vals[i])
			} else {
				parts = append(parts, keys[i], vals[i])
			}
		}
		return strings.Join(parts, sep)
	}
	switch p.Style {
	case "label":
		if p.Explode {
			return "." + join(".", "="), nil
		}
		return "." + join(",", "="), nil
	case "matrix":
		name := esc(p.Name)
		if keys == nil && p.Explode && len(vals) > 1 {
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = ";" + name + "=" + v
			}
			return strings.Join(parts, ""), nil
		}
		if keys != nil && p.Explode {
			return ";" + join(";", "="), nil
		}
		return ";" + name + "=" + join(",", "="), nil
	}
	return join(",", "="), nil
}

// appendQuery writes a query parameter (styles form, spaceDelimited, pipeDelimited, deepObject).
func appendQuery(q *strings.Builder, p Parameter, v any) error {
	add := func(k, val string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(k))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(val))
	}
	switch x := v.(type) {
	case []any:
		vals := make([]string, len(x))
		for i, e := range x {
			s, err := scalar(e)
			if err != nil {
				return fmt.Errorf("item %d %s", i, err)
			}
			vals[i] = s
		}
		switch {
		case p.Explode:
			for _, s := range vals {
				add(p.Name, s)
			}
		case p.Style == "spaceDelimited":
			add(p.Name, strings.Join(vals, " "))
		case p.Style == "pipeDelimited":
			add(p.Name, strings.Join(vals, "|"))
		default:
			add(p.Name, strings.Join(vals, ","))
		}
	case map[string]any:
		switch {
		case p.Style == "deepObject":
			for _, k := range sortedKeys(x) {
				s, err := scalar(x[k])
				if err != nil {
					return fmt.Errorf("field %q %s", k, err)
				}
				add(p.Name+"["+k+"]", s)
			}
		case p.Explode:
			for _, k := range sortedKeys(x) {
				s, err := scalar(x[k])
				if err != nil {
					return fmt.Errorf("field %q %s", k, err)
				}
				add(k, s)
			}
		default:
			s, err := simpleValue(x, false)
			if err != nil {
				return err
			}
			add(p.Name, s)
		}
	default:
		s, err := scalar(v)
		if err != nil {
			return err
		}
		add(p.Name, s)
	}
	return nil
}

// formValues is a form field's values: arrays repeat the field, objects travel as JSON.
func formValues(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			if _, isObj := e.(map[string]any); isObj {
				b, err := json.Marshal(e)
				if err != nil {
					return nil, err
				}
				out = append(out, string(b))
				continue
			}
			s, err := scalar(e)
			if err != nil {
				return nil, fmt.Errorf("item %d %s", i, err)
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return []string{string(b)}, nil
	}
	s, err := scalar(v)
	return []string{s}, err
}

func applyAuth(req *http.Request, auth Auth) error {
	for _, c := range auth {
		s := c.Scheme
		switch strings.ToLower(s.Type) {
		case "apikey":
			if s.ParamName == "" {
				return fmt.Errorf("api key credential has no parameter name")
			}
			switch s.In {
			case "header", "":
				req.Header.Set(s.ParamName, c.Value)
			case "query":
				q := req.URL.Query()
				q.Set(s.ParamName, c.Value)
				req.URL.RawQuery = q.Encode()
			case "cookie":
				req.AddCookie(&http.Cookie{Name: s.ParamName, Value: c.Value})
			default:
				return fmt.Errorf("api key in %q: want header, query or cookie", s.In)
			}
		case "http":
			switch strings.ToLower(s.Scheme) {
			case "basic":
				req.SetBasicAuth(c.Username, c.Password)
			case "bearer", "":
				req.Header.Set("Authorization", "Bearer "+c.Value)
			default:
				req.Header.Set("Authorization", s.Scheme+" "+c.Value)
			}
		case "oauth2", "openidconnect":
			req.Header.Set("Authorization", "Bearer "+c.Value)
		default:
			return fmt.Errorf("security scheme type %q cannot be applied to a request", s.Type)
		}
		if strings.ContainsAny(c.Value+c.Username+c.Password, "\r\n") {
			return fmt.Errorf("credential for %s contains a line break", s.Type)
		}
	}
	return nil
}

// AuthFor chooses how to authenticate a call to op: the first of its security requirements
// whose every scheme has a credential in creds (keyed by scheme name; each credential gets the
// scheme from schemes, the document's). An operation with no requirement, or with an empty
// (optional) one, needs no credential: nil. When none can be met, the error lists what would do.
func AuthFor(op *Operation, schemes map[string]SecurityScheme, creds map[string]Credential) (Auth, error) {
	if len(op.Security) == 0 {
		return nil, nil
	}
	var options []string
	for _, req := range op.Security {
		if len(req) == 0 {
			return nil, nil
		}
		names := make([]string, 0, len(req))
		for name := range req {
			names = append(names, name)
		}
		sort.Strings(names)
		var auth Auth
		for _, name := range names {
			c, ok := creds[name]
			s, known := schemes[name]
			if !ok || !known {
				auth = nil
				break
			}
			c.Scheme = s
			auth = append(auth, c)
		}
		if auth != nil {
			return auth, nil
		}
		options = append(options, strings.Join(names, " + "))
	}
	return nil, fmt.Errorf("tool %s needs credentials for one of: %s", op.Name, strings.Join(options, " | "))
}
