package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxEventSize bounds one streamed event. The reference cuts plugin output lines at 5 MiB
// and loses the rest; plugd does not, so the client allows far more, but not without limit.
const maxEventSize = 64 << 20

// Dispatch invokes an action of an installed plugin: POST /plugin/{tenant}/dispatch/{path}
// with body (the IPR request, {user_id, data: {...}}) and X-Plugin-ID pluginID. each is
// called with the data of every streamed event, in order; an error event ends the stream as
// an *APIError, and an error from each stops reading and is returned as is.
func (c *Client) Dispatch(ctx context.Context, pluginID, path string, body any, each func(json.RawMessage) error) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.tenantURL("dispatch/"+strings.TrimPrefix(path, "/"), nil), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Plugin-ID", pluginID)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.StatusCode, resp.Body, each)
}

// readStream reads the daemon's event stream: lines `data: <envelope>` separated by blank
// lines. Like Dify, it also takes a bare envelope line, which is how a failure before the
// stream started (a 400 or 404 with a JSON body) arrives.
func readStream(status int, r io.Reader, each func(json.RawMessage) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	events := 0
	for {
		line, err := readLine(br, maxEventSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if ev, ok := eventPayload(line); ok {
			data, derr := decodeEnvelope(status, ev)
			if derr != nil {
				return derr
			}
			events++
			if cerr := each(data); cerr != nil {
				return cerr
			}
		}
		if errors.Is(err, io.EOF) {
			if events == 0 && status != http.StatusOK {
				return &APIError{HTTPStatus: status, Message: http.StatusText(status)}
			}
			return nil
		}
	}
}

// eventPayload returns the envelope carried by a line, or false for blank lines and the
// SSE fields that carry none (comments, event:, id:, retry:).
func eventPayload(line []byte) ([]byte, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == ':' {
		return nil, false
	}
	if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		rest = bytes.TrimSpace(rest)
		return rest, len(rest) > 0
	}
	for _, field := range []string{"event:", "id:", "retry:"} {
		if bytes.HasPrefix(line, []byte(field)) {
			return nil, false
		}
	}
	return line, true
}

// readLine reads up to and including the next newline (or to EOF), refusing lines longer
// than limit. At EOF it returns the last, unterminated line with io.EOF.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, fmt.Errorf("an event of the stream is larger than %d MiB", limit>>20)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			line = append(line, chunk...)
			continue
		}
		if line == nil {
			return chunk, err // chunk is only valid until the next read; the caller is done with it by then
		}
		return append(line, chunk...), err
	}
}
