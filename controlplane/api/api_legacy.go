package api

import (
	"net/http"
	"regexp"
)

// legacyRoute is one entry of Logplex's legacy handler list (docs/logplex.md §4.2):
// scanned in order, a route matches when its regex matches the path and the
// method is equal; nothing matched is 404 "Not found" (so a wrong method is
// 404, not 405).
type legacyRoute struct {
	method   string
	re       *regexp.Regexp
	auth     bool // needs Authorization
	ro       bool // answers 503 in read-only mode
	endpoint string
	handle   func(s *Server, w http.ResponseWriter, r *http.Request, args []string)
}

// legacyRoutes is the route table, in Logplex's order. "POST …/load" (hot
// code reload) is deliberately absent: it answers 404.
var legacyRoutes = []legacyRoute{
	{"GET", regexp.MustCompile(`/healthcheck`), true, false, "healthcheck", (*Server).legacyHealthcheck},
	{"POST", regexp.MustCompile(`^/channels$`), true, true, "channels", (*Server).legacyCreateChannel},
	{"GET", regexp.MustCompile(`^/v2/channels/(\d+)$`), true, false, "channels", (*Server).v2GetChannel},
	{"DELETE", regexp.MustCompile(`^/channels/(\d+)$`), true, true, "channels", (*Server).legacyDeleteChannel},
	{"DELETE", regexp.MustCompile(`^/v2/channels/(\d+)$`), true, true, "channels", (*Server).v2DeleteChannel},
	{"POST", regexp.MustCompile(`^/channels/(\d+)/token$`), true, true, "tokens", (*Server).legacyCreateToken},
	{"POST", regexp.MustCompile(`^/v2/channels/(\d+)/tokens$`), true, true, "tokens", (*Server).v2CreateToken},
	{"POST", regexp.MustCompile(`^/sessions$`), true, true, "sessions", (*Server).legacyCreateSession},
	{"POST", regexp.MustCompile(`^/v2/sessions$`), true, true, "sessions", (*Server).v2CreateSession},
	{"POST", regexp.MustCompile(`^/v2/canary-sessions$`), true, false, "sessions", (*Server).v2CreateCanarySession},
	{"GET", regexp.MustCompile(`^/sessions/([\w-]+)$`), false, false, "session_fetch", (*Server).legacyFetchSession},
	{"GET", regexp.MustCompile(`^/v2/canary-fetch/([\w-]+)$`), false, false, "session_fetch", (*Server).v2CanaryFetch},
	{"GET", regexp.MustCompile(`^/channels/(\d+)/info$`), true, false, "channels", (*Server).legacyChannelInfo},
	{"POST", regexp.MustCompile(`^/channels/(\d+)/drains/tokens$`), true, true, "drains", (*Server).legacyReserveDrain},
	{"POST", regexp.MustCompile(`^/channels/(\d+)/drains/(\d+)$`), true, false, "drains", deprecated("V1 Drain Creation API deprecated")},
	{"POST", regexp.MustCompile(`^/v2/channels/(\d+)/drains/(\d+)$`), true, true, "drains", (*Server).v2FinishDrain},
	{"POST", regexp.MustCompile(`^/channels/(\d+)/drains$`), true, false, "drains", deprecated("V1 Drain Creation API deprecated.")},
	{"POST", regexp.MustCompile(`^/v2/channels/(\d+)/drains$`), true, true, "drains", (*Server).v2CreateDrain},
	{"GET", regexp.MustCompile(`^/channels/(\d+)/drains$`), true, false, "drains", deprecated("V1 Drain API Deprecated.")},
	{"DELETE", regexp.MustCompile(`^/channels/(\d+)/drains$`), true, false, "drains", deprecated("V1 Drain API Deprecated.")},
	{"DELETE", regexp.MustCompile(`^/v2/channels/(\d+)/drains/(\d+)$`), true, true, "drains", (*Server).v2DeleteDrain},
}

// Legacy texts (docs/logplex.md §4.2, §4.6).
const (
	msgDisabled      = "Service Temporarily Disabled"
	msgReadOnly      = "Logplex API temporarily in read-only mode"
	msgNotFound      = "Not found"
	msgNotAuthorized = "Not Authorized"
	msgBooting       = "SYSTEM BOOTING"
)

func deprecated(text string) func(*Server, http.ResponseWriter, *http.Request, []string) {
	return func(_ *Server, w http.ResponseWriter, _ *http.Request, _ []string) {
		replyText(w, http.StatusNotImplemented, text)
	}
}

// serveLegacy routes one legacy request and returns its metric endpoint.
// Authentication comes before the body is read: every answer given before
// the handler's leaves the body unread and closes the connection (dropBody).
func (s *Server) serveLegacy(w http.ResponseWriter, r *http.Request) string {
	route, args := matchLegacy(r.Method, r.URL.Path)
	endpoint := "unknown"
	if route != nil && Status(s.legacy.Load()) != StatusDisabled {
		endpoint = route.endpoint
	}
	if code, text := s.legacyPrecheck(r, route); code != 0 {
		dropBody(w, r)
		replyText(w, code, text)
		return endpoint
	}
	route.handle(s, w, r, args)
	return endpoint
}

// legacyPrecheck returns the status and text of an answer the request gets
// before its handler runs, or 0.
func (s *Server) legacyPrecheck(r *http.Request, route *legacyRoute) (int, string) {
	if Status(s.legacy.Load()) == StatusDisabled {
		return http.StatusServiceUnavailable, msgDisabled
	}
	if route == nil {
		return http.StatusNotFound, msgNotFound
	}
	snap := s.snapshot()
	switch {
	case snap == nil:
		return http.StatusServiceUnavailable, msgBooting
	case route.ro && (Status(s.legacy.Load()) == StatusReadOnly || snap.ReadOnly):
		return http.StatusServiceUnavailable, msgReadOnly
	case route.auth && !s.auth.API(r.Header.Get("Authorization"), snap):
		return http.StatusUnauthorized, msgNotAuthorized
	}
	return 0, ""
}

func matchLegacy(method, path string) (*legacyRoute, []string) {
	for i := range legacyRoutes {
		rt := &legacyRoutes[i]
		if rt.method != method {
			continue
		}
		if m := rt.re.FindStringSubmatch(path); m != nil {
			return rt, m[1:]
		}
	}
	return nil, nil
}

// legacyStatusName is the status the healthcheck reports.
func (s *Server) legacyStatusName() string {
	snap := s.snapshot()
	if Status(s.legacy.Load()) == StatusReadOnly || (snap != nil && snap.ReadOnly) {
		return "read_only"
	}
	return "normal"
}

// legacyHealthcheck: GET /healthcheck (any path containing it).
func (s *Server) legacyHealthcheck(w http.ResponseWriter, r *http.Request, _ []string) {
	if _, err := s.incr(r, "healthcheck"); err != nil {
		s.log.Warn("legacy API: healthcheck", "err", err)
		replyText(w, http.StatusServiceUnavailable, "Increment healthcheck counter failed: "+clientMessage(err))
		return
	}
	reply(w, http.StatusOK, ctJSON, []byte(`{"status":"`+s.legacyStatusName()+`"}`))
}
