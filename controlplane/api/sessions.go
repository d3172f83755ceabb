package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/store"
)

const noRedisWarning = "Warning: log history discarded due to excessive volume."

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
	if err == nil {
		_, err = parseObject(body)
	}
	if err != nil {
		legacyBadRequest(w, err)
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
	hist, err := s.history(r, sp.ChannelID, sp.FetchCount())
	if err != nil {
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
	flush(w) // chunked from here on, as Logplex streams it
	buf, _ := session.AppendHistory(nil, hist, sp)
	if !canary && sp.Tail && ch != nil && ch.NoTail {
		buf = frame.AppendL20(buf, time.Now())
	}
	if _, err := w.Write(buf); err != nil || tail == nil {
		return
	}
	flush(w)
	s.follow(w, r, tail, sp)
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
	if err := session.Follow(ctx, t, sp, w, func() { flush(w) }); err != nil {
		s.log.Debug("tail ended", "channel", sp.ChannelID, "err", err)
	}
}

func flush(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }
