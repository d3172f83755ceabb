package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// Limits are the per-tenant and per-node bounds of the API (docs/security.md,
// "Control plane and API"). controlplane.Options fills every field.
type Limits struct {
	MaxTokensPerChannel            int           // tokens of one channel
	MaxDrainReservationsPerChannel int           // drains without a URL of one channel
	MaxSessionBodyBytes            int64         // a stored session body
	MaxSessionsPerChannel          int           // sessions created for one channel per SessionExpiry, per node
	MaxFetchesPerSession           int           // concurrent GET /sessions/<id> of one session, per node
	MaxSessionFetches              int           // concurrent history writes (sessions, v3 logs), per node
	FetchWriteTimeout              time.Duration // a history must be written within it; each tail write too
	BodyReadTimeout                time.Duration // a request body must be read within it
}

// Refusal reasons, the label of logplex_api_refused_total.
const (
	refusedTokenName         = "token_name"
	refusedTokensPerChannel  = "tokens_per_channel"
	refusedDrainsPerChannel  = "drains_per_channel"
	refusedReservations      = "drain_reservations_per_channel"
	refusedSessionBody       = "session_body"
	refusedSessionsPerChan   = "sessions_per_channel"
	refusedFetchesPerSession = "fetches_per_session"
	refusedSessionFetches    = "session_fetches"
	refusedNumericChannel    = "numeric_channel_id"
	refusedUnreadBody        = "unread_body"
	refusedFetchWriteTimeout = "fetch_write_timeout"
)

// refusedCounters is logplex_api_refused_total{reason}: requests the API
// refused because a bound bit (or, for fetch_write_timeout, fetches cut
// because the client did not read in time). Registered once.
var refusedCounters = func() map[string]*metrics.Counter {
	m := map[string]*metrics.Counter{}
	for _, r := range []string{refusedTokenName, refusedTokensPerChannel, refusedDrainsPerChannel, refusedReservations,
		refusedSessionBody, refusedSessionsPerChan, refusedFetchesPerSession, refusedSessionFetches,
		refusedNumericChannel, refusedUnreadBody, refusedFetchWriteTimeout} {
		m[r] = metrics.NewCounter(`logplex_api_refused_total{reason="` + r + `"}`)
	}
	return m
}()

func countRefused(reason string) { refusedCounters[reason].Inc() }

// countDrainLimit counts a refusal by --max-drains-per-channel.
func countDrainLimit(err error) {
	if err == errMaxDrainsV2 || err == errMaxDrainsV3 {
		countRefused(refusedDrainsPerChannel)
	}
}

// limitError is a request refused by a bound or a model rule; the client
// gets Code (422 unless set) and Msg.
type limitError struct {
	Msg    string
	Reason string
	Code   int
}

func (e *limitError) Error() string { return e.Msg }

func (e *limitError) code() int {
	if e.Code == 0 {
		return http.StatusUnprocessableEntity
	}
	return e.Code
}

// refuse counts the refusal and returns it as an error.
func refuse(reason string, code int, msg string) *limitError {
	countRefused(reason)
	return &limitError{Msg: msg, Reason: reason, Code: code}
}

// checkTokenNames refuses names that are not APP-NAMEs (400).
func checkTokenNames(names []string) error {
	for _, n := range names {
		if !config.ValidTokenName(n) {
			return refuse(refusedTokenName, http.StatusBadRequest,
				"invalid token name "+strconv.Quote(n)+": 1 to 48 printable US-ASCII characters, no space")
		}
	}
	return nil
}

// checkNewTokens checks names for new tokens of a channel that has existing
// tokens: every name an APP-NAME (400), the total within the limit (422).
func (s *Server) checkNewTokens(names []string, existing int) error {
	if err := checkTokenNames(names); err != nil {
		return err
	}
	return s.checkTokenCount(existing + len(names))
}

// checkTokenCount refuses a channel with more than MaxTokensPerChannel tokens.
func (s *Server) checkTokenCount(n int) error {
	if n > s.cfg.Limits.MaxTokensPerChannel {
		return refuse(refusedTokensPerChannel, 0,
			"too many tokens for one channel: at most "+strconv.Itoa(s.cfg.Limits.MaxTokensPerChannel))
	}
	return nil
}

// checkReservations refuses a new drain reservation beyond the channel's limit.
func (s *Server) checkReservations(ch *config.Channel) error {
	if len(ch.Drains)-urlDrains(ch) >= s.cfg.Limits.MaxDrainReservationsPerChannel {
		return refuse(refusedReservations, 0, "too many drain reservations for one channel: at most "+
			strconv.Itoa(s.cfg.Limits.MaxDrainReservationsPerChannel)+"; give the reserved drains a URL or delete them")
	}
	return nil
}

// windowCount counts events per key over a sliding pair of windows: a key's
// count is its events in the current and the previous window, so an event
// is remembered for at least one window and at most two. Memory is bounded
// by the keys seen in two windows.
type windowCount struct {
	mu        sync.Mutex
	window    time.Duration
	start     time.Time
	cur, prev map[string]int
	now       func() time.Time
}

func newWindowCount(window time.Duration, now func() time.Time) *windowCount {
	return &windowCount{window: window, now: now, cur: map[string]int{}, prev: map[string]int{}}
}

// take counts one event for key unless the key already has limit events;
// it reports whether the event was counted.
func (c *windowCount) take(key string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	switch since := now.Sub(c.start); {
	case since >= 2*c.window:
		clear(c.prev)
		clear(c.cur)
		c.start = now
	case since >= c.window:
		c.prev, c.cur = c.cur, c.prev
		clear(c.cur)
		c.start = c.start.Add(c.window)
	}
	if c.cur[key]+c.prev[key] >= limit {
		return false
	}
	c.cur[key]++
	return true
}

// fetchGate bounds concurrent session fetches: per session id for the
// whole fetch (history and tail), and overall for the history part, which
// holds up to num messages in memory while it is written.
type fetchGate struct {
	mu         sync.Mutex
	perSession map[string]int
	history    int
}

// enter admits a fetch of session id unless perSession fetches of it run.
func (g *fetchGate) enter(id string, perSession int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perSession[id] >= perSession {
		return false
	}
	if g.perSession == nil {
		g.perSession = map[string]int{}
	}
	g.perSession[id]++
	return true
}

// leave ends a fetch enter admitted.
func (g *fetchGate) leave(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perSession[id]--; g.perSession[id] <= 0 {
		delete(g.perSession, id)
	}
}

// enterHistory admits a history write unless total of them run.
func (g *fetchGate) enterHistory(total int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.history >= total {
		return false
	}
	g.history++
	return true
}

// leaveHistory ends a history write enterHistory admitted.
func (g *fetchGate) leaveHistory() {
	g.mu.Lock()
	g.history--
	g.mu.Unlock()
}
