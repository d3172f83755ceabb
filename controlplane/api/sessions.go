package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/store"
)

const noRedisWarning = "Warning: log history discarded due to excessive volume."

// admitSession applies the session bounds: the body size, and the sessions
// of one channel created on this node within SessionExpiry (channels not
// in the config share one count).
func (s *Server) admitSession(body []byte, ch string) error {
	lim := s.cfg.Limits
	if int64(len(body)) > lim.MaxSessionBodyBytes {
		return refuse(refusedSessionBody, http.StatusRequestEntityTooLarge,
			"session body too large: at most "+strconv.FormatInt(lim.MaxSessionBodyBytes, 10)+" bytes")
	}
	if s.snapshot().Channel(ch) == nil {
		ch = ""
	}
	if !s.sessions.take(ch, lim.MaxSessionsPerChannel) {
		return refuse(refusedSessionsPerChan, http.StatusTooManyRequests,
			"too many sessions for this channel: at most "+strconv.Itoa(lim.MaxSessionsPerChannel)+
				" per "+s.cfg.SessionExpiry.String()+"; retry later")
	}
	return nil
}

// replyLimit answers a limitError as text (legacy routes), with
// Retry-After on 429.
func replyLimit(w http.ResponseWriter, err error) {
	le := err.(*limitError)
	if le.code() == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "5")
	}
	replyText(w, le.code(), le.Msg)
}

// storeSession stores a session body (verbatim, as Logplex does) and
// returns its id.
func (s *Server) storeSession(r *http.Request, body []byte) (string, error) {
	id := newUUID()
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	if err := s.cfg.Store.PutSession(ctx, id, body, s.cfg.SessionExpiry); err != nil {
		return "", &storeError{"store session", err}
	}
	return id, nil
}

// legacySession reads and stores a session body; "" when it answered itself.
func (s *Server) legacySession(w http.ResponseWriter, r *http.Request) string {
	body, err := s.readBody(w, r)
	var o object
	if err == nil {
		o, err = parseObject(body)
	}
	if err != nil {
		legacyBadRequest(w, err)
		return ""
	}
	ch, _, _ := o.str("channel_id")
	if err := s.admitSession(body, ch); err != nil {
		replyLimit(w, err)
		return ""
	}
	id, err := s.storeSession(r, body)
	if err != nil {
		s.legacyStoreFailed(w, err)
		return ""
	}
	return id
}

// legacyCreateSession: POST /sessions → 201, text/html body = the URL.
func (s *Server) legacyCreateSession(w http.ResponseWriter, r *http.Request, _ []string) {
	if id := s.legacySession(w, r); id != "" {
		replyText(w, http.StatusCreated, s.cfg.APIEndpointURL+"/sessions/"+id)
	}
}

// v2CreateSession: POST /v2/sessions → 201 {"url":…}.
func (s *Server) v2CreateSession(w http.ResponseWriter, r *http.Request, _ []string) {
	if id := s.legacySession(w, r); id != "" {
		reply(w, http.StatusCreated, ctJSON, urlJSON(s.cfg.APIEndpointURL+"/sessions/"+id))
	}
}

// v2CreateCanarySession: POST /v2/canary-sessions → 201 {"url":"/v2/canary-fetch/<id>"}.
func (s *Server) v2CreateCanarySession(w http.ResponseWriter, r *http.Request, _ []string) {
	if id := s.legacySession(w, r); id != "" {
		reply(w, http.StatusCreated, ctJSON, urlJSON("/v2/canary-fetch/"+id))
	}
}

func urlJSON(url string) []byte {
	return append(appendJSONString([]byte(`{"url":`), url), '}')
}

// legacyFetchSession: GET /sessions/<id> (no auth): history, then the tail.
func (s *Server) legacyFetchSession(w http.ResponseWriter, r *http.Request, args []string) {
	s.fetchSession(w, r, args[0], false)
}

// v2CanaryFetch: GET /v2/canary-fetch/<id>: history only, no warning header.
func (s *Server) v2CanaryFetch(w http.ResponseWriter, r *http.Request, args []string) {
	s.fetchSession(w, r, args[0], true)
}

func (s *Server) fetchSession(w http.ResponseWriter, r *http.Request, id string, canary bool) {
	if !s.fetches.enter(id, s.cfg.Limits.MaxFetchesPerSession) {
		tooManyFetches(w, refusedFetchesPerSession, "Too many fetches of this session; retry later")
		return
	}
	defer s.fetches.leave(id)
	sp, ok := s.loadSession(w, r, id)
	if !ok {
		return
	}
	ch := s.snapshot().Channel(sp.ChannelID)
	tail, err := s.subscribe(r, sp, ch, canary)
	if errors.Is(err, session.ErrTooManyTails) {
		w.Header().Set("Retry-After", "5")
		replyText(w, http.StatusTooManyRequests, "Too many tail sessions; retry later")
		return
	}
	if err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	if tail != nil {
		defer tail.Close()
	}
	if !s.fetches.enterHistory(s.cfg.Limits.MaxSessionFetches) {
		tooManyFetches(w, refusedSessionFetches, "Too many session fetches; retry later")
		return
	}
	hist, err := s.history(r, sp.ChannelID, sp.FetchCount())
	if err != nil {
		s.fetches.leaveHistory()
		s.legacyStoreFailed(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctHTML)
	if !canary && ch != nil && ch.NoRedis {
		h.Set("X-Heroku-Warning", noRedisWarning)
	}
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.Limits.FetchWriteTimeout))
	flush(w) // chunked from here on, as Logplex streams it
	err = session.WriteHistory(w, hist, sp)
	s.fetches.leaveHistory()
	if err == nil && !canary && sp.Tail && ch != nil && ch.NoTail {
		_, err = w.Write(frame.AppendL20(nil, time.Now()))
	}
	if err == nil {
		err = rc.Flush()
	}
	if err != nil {
		countFetchError(err)
		return
	}
	if tail != nil {
		s.follow(w, r, tail, sp)
	}
}

// tooManyFetches answers 429 for a fetch a bound refused.
func tooManyFetches(w http.ResponseWriter, reason, text string) {
	countRefused(reason)
	w.Header().Set("Retry-After", "5")
	replyText(w, http.StatusTooManyRequests, text)
}

// countFetchError counts a fetch cut because the client did not read.
func countFetchError(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		countRefused(refusedFetchWriteTimeout)
	}
}

// loadSession looks a session up and parses it, answering 404/400/503
// itself when ok is false.
func (s *Server) loadSession(w http.ResponseWriter, r *http.Request, id string) (session.Spec, bool) {
	if len(id) != 36 {
		replyText(w, http.StatusNotFound, msgNotFound)
		return session.Spec{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SessionLookupTimeout)
	body, err := s.cfg.Store.Session(ctx, id)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		replyText(w, http.StatusNotFound, msgNotFound)
		return session.Spec{}, false
	case err != nil:
		s.legacyStoreFailed(w, &storeError{"session lookup", err})
		return session.Spec{}, false
	}
	sp, err := session.ParseSpec(body)
	if err != nil {
		replyText(w, http.StatusBadRequest, err.Error())
		return session.Spec{}, false
	}
	return sp, true
}

// subscribe starts the live tail of a session that asks for one, before
// its history is read; nil when there is none to follow.
func (s *Server) subscribe(r *http.Request, sp session.Spec, ch *config.Channel, canary bool) (session.Tail, error) {
	if canary || !sp.Tail || s.cfg.Tails == nil || s.denyTail.Load() || ch == nil || ch.NoTail {
		return nil, nil
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	t, err := s.cfg.Tails.Subscribe(ctx, sp.ChannelID)
	if errors.Is(err, session.ErrTooManyTails) {
		return nil, err
	}
	if err != nil {
		return nil, &storeError{"tail subscribe", err}
	}
	return t, nil
}

// history reads the channel's newest num messages, newest first.
func (s *Server) history(r *http.Request, ch string, num int) ([][]byte, error) {
	if num <= 0 {
		return nil, nil
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	hist, err := s.cfg.Spool.Range(ctx, ch, num)
	if err != nil {
		return nil, &storeError{"history", err}
	}
	return hist, nil
}

// follow streams the live tail until the client leaves or the server stops.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, t session.Tail, sp session.Spec) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.cfg.Stopping, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	dw := &deadlineWriter{w: w, rc: rc, timeout: s.cfg.Limits.FetchWriteTimeout}
	if err := session.Follow(ctx, t, sp, dw, func() { _ = rc.Flush() }); err != nil {
		countFetchError(err)
		s.log.Debug("tail ended", "channel", sp.ChannelID, "err", err)
	}
}

func flush(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }

// deadlineWriter gives each write of a tail FetchWriteTimeout: a tail whose
// client stops reading ends instead of holding its connection forever.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}
