package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/logplex/logplex/config"
)

// v3Resource is one REST resource of the v3 API (docs/logplex.md §4.3). Requests pass
// Logplex's (cowboy's) decision order: 503 → 501 → 405 → 400 → 401 → 406,
// then the handler: 404 → 415 → method-specific answers.
type v3Resource struct {
	endpoint  string
	methods   []string // allowed, in Allow-header order
	sessions  bool     // also 503 when tail sessions are denied
	keyOnly   bool     // only LOGPLEX_AUTH_KEY authorises (credentials extension)
	produces  string   // the response content type
	malformed func(q *v3Request) error
	handle    func(s *Server, q *v3Request)
}

// v3Request is one routed v3 request.
type v3Request struct {
	w       http.ResponseWriter
	r       *http.Request
	snap    *config.Snapshot
	channel string // :channel_id
	drainID int64  // :drain_id
	credID  string // :cred_id
	body    []byte
	obj     object // the body, when a malformed check parsed it
}

var (
	v3Channels = &v3Resource{endpoint: "channels", methods: []string{"PUT", "GET", "DELETE"}, produces: ctJSON,
		handle: (*Server).v3Channel}
	v3Drains = &v3Resource{endpoint: "drains", methods: []string{"POST"}, produces: ctJSON,
		malformed: malformedDrain, handle: (*Server).v3CreateDrain}
	v3Drain = &v3Resource{endpoint: "drains", methods: []string{"PUT", "DELETE"}, produces: ctJSON,
		malformed: malformedDrain, handle: (*Server).v3Drain}
	v3DrainStatus = &v3Resource{endpoint: "drain_status", methods: []string{"GET"}, produces: ctJSON,
		handle: (*Server).v3DrainStatus}
	v3Tokens = &v3Resource{endpoint: "tokens", methods: []string{"POST"}, produces: ctJSON,
		malformed: malformedToken, handle: (*Server).v3CreateToken}
	v3Logs = &v3Resource{endpoint: "channel_logs", methods: []string{"GET"}, produces: ctLogs,
		handle: (*Server).v3ChannelLogs}
	v3Flags = &v3Resource{endpoint: "channel_flags", methods: []string{"GET", "PUT"}, keyOnly: true, produces: ctJSON,
		malformed: malformedFlags, handle: (*Server).v3ChannelFlags}
	v3Sessions = &v3Resource{endpoint: "sessions", methods: []string{"POST"}, sessions: true, produces: ctJSON,
		malformed: malformedSession, handle: (*Server).v3CreateSession}
	v3Creds = &v3Resource{endpoint: "credentials", methods: []string{"GET", "POST"}, keyOnly: true, produces: ctJSON,
		malformed: malformedCred, handle: (*Server).v3Credentials}
	v3Cred = &v3Resource{endpoint: "credentials", methods: []string{"GET", "DELETE"}, keyOnly: true, produces: ctJSON,
		handle: (*Server).v3Credential}
)

// cowboy's known methods; others answer 501.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true,
	"PATCH": true, "DELETE": true, "OPTIONS": true}

// serveV3 routes one v3 request and returns its metric endpoint.
func (s *Server) serveV3(w http.ResponseWriter, r *http.Request) string {
	segs, ok := pathSegments(r.URL)
	if ok && len(segs) == 2 && segs[0] == "v3" && segs[1] == "healthcheck" {
		s.v3Healthcheck(w, r)
		return "healthcheck"
	}
	res, q := matchV3(segs, ok)
	if res == nil {
		dropBody(w, r)
		w.WriteHeader(http.StatusNotFound)
		return "unknown"
	}
	q.w, q.r = w, r
	if r.Header.Get("Request-Id") == "" {
		w.Header()["request-id"] = []string{newUUID()}
	}
	if s.v3Precheck(res, q) {
		w.Header().Set("Content-Type", res.produces)
		res.handle(s, q)
	}
	return res.endpoint
}

// v3Precheck runs the checks every resource shares, answering itself and
// returning false when one fails. Authentication comes before the body is
// read (cowboy checks malformed_request first; see docs/compat.md): answers
// given before it leave the body unread and close the connection.
func (s *Server) v3Precheck(res *v3Resource, q *v3Request) bool {
	w, r := q.w, q.r
	if msg := s.v3Unavailable(res, r.Method); msg != "" {
		dropBody(w, r)
		reply(w, http.StatusServiceUnavailable, ctJSON, jsonError(msg))
		return false
	}
	if !knownMethods[r.Method] {
		dropBody(w, r)
		w.WriteHeader(http.StatusNotImplemented)
		return false
	}
	if !contains(res.methods, r.Method) {
		dropBody(w, r)
		w.Header().Set("Allow", strings.Join(res.methods, ", "))
		w.WriteHeader(http.StatusMethodNotAllowed)
		return false
	}
	if q.channel != "" && !storableID(q.channel) {
		dropBody(w, r)
		reply(w, http.StatusBadRequest, ctJSON, jsonError(errChannelID.Error()))
		return false
	}
	q.snap = s.snapshot()
	if !s.v3Authorized(res, r, q.snap) {
		dropBody(w, r)
		w.Header().Set("Www-Authenticate", "Basic realm=Logplex")
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	if err := s.v3Malformed(res, q); err != nil {
		reply(w, bodyErrorCode(err), ctJSON, jsonError(err.Error()))
		return false
	}
	if !acceptable(r.Header.Values("Accept"), res.produces) {
		w.WriteHeader(http.StatusNotAcceptable)
		return false
	}
	return true
}

// v3Unavailable returns why the resource answers 503, or "".
func (s *Server) v3Unavailable(res *v3Resource, method string) string {
	switch {
	case Status(s.v3.Load()) == StatusDisabled:
		return "the v3 API is disabled"
	case Status(s.v3.Load()) == StatusReadOnly && method != "GET":
		return "the v3 API is in read-only mode"
	case res.sessions && s.denyTail.Load():
		return "tail sessions are disabled"
	case s.snapshot() == nil:
		return "config not loaded yet (SYSTEM BOOTING)"
	}
	return ""
}

var errChannelID = errors.New("invalid channel id: at most 200 bytes, no ':' and no control characters")

// v3Malformed reads the body and runs the resource's malformed_request check.
func (s *Server) v3Malformed(res *v3Resource, q *v3Request) error {
	body, err := s.readBody(q.w, q.r)
	if err != nil {
		return err
	}
	q.body = body
	if res.malformed == nil {
		return nil
	}
	return res.malformed(q)
}

func (s *Server) v3Authorized(res *v3Resource, r *http.Request, snap *config.Snapshot) bool {
	h := r.Header.Get("Authorization")
	if res.keyOnly {
		return s.auth.Key(h)
	}
	return s.auth.API(h, snap)
}

// storableID reports whether a channel id can be a config key segment.
func storableID(id string) bool {
	if len(id) > 200 || strings.IndexByte(id, ':') >= 0 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return false
		}
	}
	return true
}

// pathSegments splits the escaped path into unescaped segments, ignoring
// one trailing "/" (cowboy's router does).
func pathSegments(u *url.URL) ([]string, bool) {
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	segs := strings.Split(p[1:], "/")
	for i, sg := range segs {
		v, err := url.PathUnescape(sg)
		if err != nil {
			return nil, false
		}
		segs[i] = v
	}
	return segs, true
}

// matchV3 finds the resource for a path; nil means no route (404).
func matchV3(segs []string, ok bool) (*v3Resource, *v3Request) {
	if !ok || len(segs) < 2 || segs[0] != "v3" {
		return nil, nil
	}
	q := &v3Request{}
	switch {
	case segs[1] == "sessions" && len(segs) <= 3:
		return v3Sessions, q
	case segs[1] == "credentials" && len(segs) == 2:
		return v3Creds, q
	case segs[1] == "credentials" && len(segs) == 3 && segs[2] != "":
		q.credID = segs[2]
		return v3Cred, q
	case segs[1] != "channels" || len(segs) < 3 || segs[2] == "":
		return nil, nil
	}
	q.channel = segs[2]
	return matchChannelResource(segs[3:], q)
}

func matchChannelResource(rest []string, q *v3Request) (*v3Resource, *v3Request) {
	switch {
	case len(rest) == 0:
		return v3Channels, q
	case len(rest) == 1 && rest[0] == "drains":
		return v3Drains, q
	case len(rest) == 1 && rest[0] == "tokens":
		return v3Tokens, q
	case len(rest) == 1 && rest[0] == "logs":
		return v3Logs, q
	case len(rest) == 1 && rest[0] == "flags":
		return v3Flags, q
	case len(rest) == 2 && rest[0] == "drains", len(rest) == 3 && rest[0] == "drains" && rest[2] == "status":
		if !isDigits(rest[1]) {
			return nil, nil
		}
		id, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			// Digits beyond int64: Logplex's integers have no bound, so
			// the route matches and the drain is not found. -1 is an id
			// no drain has.
			id = -1
		}
		q.drainID = id
		if len(rest) == 3 {
			return v3DrainStatus, q
		}
		return v3Drain, q
	}
	return nil, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// acceptable reports whether the Accept header values (none: anything)
// admit ctype: a media range equal to it, its "type/*" or "*/*", with q > 0.
func acceptable(values []string, ctype string) bool {
	if len(values) == 0 {
		return true
	}
	major, _, _ := strings.Cut(ctype, "/")
	for _, v := range values {
		for _, rng := range strings.Split(v, ",") {
			mt, params, _ := strings.Cut(rng, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			if (mt == ctype || mt == major+"/*" || mt == "*/*") && !zeroQ(params) {
				return true
			}
		}
	}
	return false
}

func zeroQ(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err != nil || f <= 0
		}
	}
	return false
}

// v3JSONBody enforces Content-Type: application/json exactly (415).
func v3JSONBody(q *v3Request) bool {
	if q.r.Header.Get("Content-Type") != ctJSON {
		q.w.WriteHeader(http.StatusUnsupportedMediaType)
		return false
	}
	return true
}

// v3Fail answers an error from a v3 handler: 422 for refused drains, 503
// for the store, 400 otherwise.
func (s *Server) v3Fail(q *v3Request, err error) {
	countDrainLimit(err)
	var de *drainError
	var le *limitError
	switch {
	case errors.As(err, &de):
		reply(q.w, http.StatusUnprocessableEntity, "", jsonError(de.Msg))
	case errors.As(err, &le):
		if le.code() == http.StatusTooManyRequests {
			q.w.Header().Set("Retry-After", "5")
		}
		reply(q.w, le.code(), "", jsonError(le.Msg))
	case isStoreError(err):
		s.log.Warn("v3 API: store failure", "err", err)
		reply(q.w, http.StatusServiceUnavailable, "", jsonError(clientMessage(err)))
	default:
		reply(q.w, bodyErrorCode(err), "", jsonError(err.Error()))
	}
}

// v3Healthcheck: any method, no auth, ignores the API status (docs/logplex.md §4.3.6).
// Unlike Logplex, it also answers 503 while the config store cannot serve
// writes (docs/compat.md), so a load balancer stops sending this node
// requests it can only refuse.
func (s *Server) v3Healthcheck(w http.ResponseWriter, r *http.Request) {
	if s.snapshot() == nil {
		reply(w, http.StatusServiceUnavailable, "text/plain", []byte(msgBooting))
		return
	}
	if err := s.StoreWritable(r.Context()); err != nil {
		reply(w, http.StatusServiceUnavailable, "text/plain", []byte(msgStoreDown))
		return
	}
	reply(w, http.StatusOK, "text/plain", []byte("OK"))
}

// msgStoreDown is /v3/healthcheck's body while the store cannot serve writes.
const msgStoreDown = "CONFIG STORE UNAVAILABLE"
