package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// Body errors; each text is what the client is told.
var (
	errEmptyBody   = errors.New("request body is empty; expected a JSON object")
	errInvalidJSON = errors.New("request body is not valid JSON")
	errNotObject   = errors.New("request body must be a JSON object")
	errTooLarge    = errors.New("request body too large")
)

// readBody reads the whole request body, at most MaxBodyBytes, within the
// deadline boundBodyRead set; once it is read the deadline is lifted (it
// would otherwise cancel the request's context while the handler runs).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err == nil && r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, errors.New("reading request body: " + err.Error())
	}
	return b, nil
}

// bodyErrorCode is the status for a readBody error.
func bodyErrorCode(err error) int {
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// object is a decoded JSON object whose values are decoded on demand.
type object map[string]json.RawMessage

// parseObject decodes body as a JSON object.
func parseObject(body []byte) (object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errEmptyBody
	}
	if !json.Valid(body) {
		return nil, errInvalidJSON
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil || o == nil {
		return nil, errNotObject
	}
	return o, nil
}

// has reports whether key is present with a value other than null.
func (o object) has(key string) bool {
	v, ok := o[key]
	return ok && !bytes.Equal(v, []byte("null"))
}

// str returns the string value of key; ok is false when the key is absent
// or null; err is set when the value is not a string.
func (o object) str(key string) (val string, ok bool, err error) {
	if !o.has(key) {
		return "", false, nil
	}
	v := o[key]
	if v[0] != '"' || json.Unmarshal(v, &val) != nil {
		return "", false, errors.New("'" + key + "' must be a string")
	}
	return val, true, nil
}

// strs returns the list-of-strings value of key (nil when absent or null).
func (o object) strs(key string) ([]string, error) {
	if !o.has(key) {
		return nil, nil
	}
	var raw []*string // one decode; a null element stays nil
	if json.Unmarshal(o[key], &raw) != nil {
		return nil, errors.New("'" + key + "' must be a list of strings")
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		if v == nil {
			return nil, errors.New("'" + key + "' must be a list of strings")
		}
		out[i] = *v
	}
	return out, nil
}

// integer returns the integer value of key (absent or null: ok false).
func (o object) integer(key string) (val int64, ok bool, err error) {
	if !o.has(key) {
		return 0, false, nil
	}
	if err := json.Unmarshal(o[key], &val); err != nil {
		return 0, false, errors.New("'" + key + "' must be an integer")
	}
	return val, true, nil
}

// boundBodyRead gives a request with a body BodyReadTimeout to deliver it:
// a handler that reads it (readBody) and net/http, which reads what a
// handler left to reuse the connection, both stop there. Requests without a
// body (session fetches, which stream for long) keep no read deadline.
func (s *Server) boundBodyRead(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Limits.BodyReadTimeout))
	}
}

// dropBody is called before an answer given without reading the request's
// body (401, 404, 503 …): the connection closes after the answer instead of
// net/http waiting for the unread body, so a client that declares a body
// and never sends it is answered at once and holds nothing.
func dropBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	countRefused(refusedUnreadBody)
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}
