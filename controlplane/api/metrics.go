package api

import (
	"net/http"

	"github.com/VictoriaMetrics/metrics"
)

// Endpoints, as the metric label "endpoint".
var (
	legacyEndpoints = []string{"healthcheck", "channels", "tokens", "drains", "sessions", "session_fetch", "unknown"}
	v3Endpoints     = []string{"healthcheck", "channels", "drains", "tokens", "channel_logs", "sessions", "credentials", "unknown"}
	statusClasses   = []string{"2xx", "3xx", "4xx", "5xx", "other"}
)

type counterKey struct{ api, endpoint, class string }

// requestCounters is logplex_api_requests_total{api,endpoint,code}, registered
// once at start and never modified afterwards.
var requestCounters = registerRequestCounters()

func registerRequestCounters() map[counterKey]*metrics.Counter {
	m := map[counterKey]*metrics.Counter{}
	add := func(api string, eps []string) {
		for _, ep := range eps {
			for _, c := range statusClasses {
				m[counterKey{api, ep, c}] = metrics.NewCounter(
					`logplex_api_requests_total{api="` + api + `",endpoint="` + ep + `",code="` + c + `"}`)
			}
		}
	}
	add("legacy", legacyEndpoints)
	add("v3", v3Endpoints)
	return m
}

func countRequest(api, endpoint string, code int) {
	if code == 0 {
		code = http.StatusOK
	}
	class := "other"
	if code >= 200 && code < 600 {
		class = statusClasses[code/100-2]
	}
	if c := requestCounters[counterKey{api, endpoint, class}]; c != nil {
		c.Inc()
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush makes streaming responses work through the recorder.
func (r *statusRecorder) Flush() {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
