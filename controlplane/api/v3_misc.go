package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/logplex/logplex/frame"
)

// malformedToken: a JSON object with a string "name" (docs/logplex.md §4.3.3).
func malformedToken(q *v3Request) error {
	return requireString(q, "name")
}

// malformedSession: a JSON object with a string "channel_id" (docs/logplex.md §4.3.5).
func malformedSession(q *v3Request) error {
	return requireString(q, "channel_id")
}

func requireString(q *v3Request, key string) error {
	o, err := parseObject(q.body)
	if err != nil {
		return err
	}
	if _, ok, err := o.str(key); err != nil || !ok {
		return errors.New("'" + key + "' is required and must be a string")
	}
	q.obj = o
	return nil
}

// v3CreateToken: POST /v3/channels/:id/tokens → 200 {"token":…,"name":…}.
func (s *Server) v3CreateToken(q *v3Request) {
	ch := q.snap.Channel(q.channel)
	if ch == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if !v3JSONBody(q) {
		return
	}
	name, _, _ := q.obj.str("name")
	if err := s.checkNewTokens([]string{name}, len(ch.Tokens)); err != nil {
		s.v3Fail(q, err)
		return
	}
	toks, err := s.createTokens(q.r, q.channel, []string{name})
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	b := appendJSONString([]byte(`{"token":`), toks[0].ID)
	b = appendJSONString(append(b, `,"name":`...), name)
	reply(q.w, http.StatusOK, "", append(b, '}'))
}

// v3ChannelLogs: GET /v3/channels/:id/logs?num=N → the newest N entries,
// oldest first, in the v3 log format, chunked (docs/logplex.md §4.3.4).
func (s *Server) v3ChannelLogs(q *v3Request) {
	if q.snap.Channel(q.channel) == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	num := 100
	if n, err := strconv.Atoi(q.r.URL.Query().Get("num")); err == nil && n >= 0 {
		num = n
	}
	if !s.fetches.enterHistory(s.cfg.Limits.MaxSessionFetches) {
		countRefused(refusedSessionFetches)
		q.w.Header().Set("Retry-After", "5")
		reply(q.w, http.StatusTooManyRequests, "", jsonError("too many history fetches; retry later"))
		return
	}
	defer s.fetches.leaveHistory()
	hist, err := s.history(q.r, q.channel, num)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	h := q.w.Header()
	h.Set("Logplex-Msg-Count", strconv.Itoa(len(hist)))
	h.Set("Connection", "close")
	q.w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(q.w).SetWriteDeadline(time.Now().Add(s.cfg.Limits.FetchWriteTimeout))
	flush(q.w)
	if err := writeV3Logs(q.w, hist); err != nil {
		countFetchError(err)
	}
}

// writeV3Logs writes history (newest first) oldest first in the v3 log
// format, in writes of about 32 KiB, releasing each entry once written, as
// session.WriteHistory does.
func writeV3Logs(w http.ResponseWriter, hist [][]byte) error {
	buf := make([]byte, 0, 32<<10+frame.MaxFrameLen)
	for i := len(hist) - 1; i >= 0; i-- {
		if f, ok := frame.ParseDrain(hist[i]); ok {
			buf = frame.AppendV3Log(buf, f)
		}
		hist[i] = nil
		if len(buf) >= 32<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// v3CreateSession: POST /v3/sessions → 201, Location and {"url":…}.
func (s *Server) v3CreateSession(q *v3Request) {
	if !v3JSONBody(q) {
		return
	}
	ch, _, _ := q.obj.str("channel_id")
	if q.snap.Channel(ch) == nil {
		reply(q.w, http.StatusUnprocessableEntity, "", jsonError("channel not found"))
		return
	}
	if err := s.admitSession(q.body, ch); err != nil {
		s.v3Fail(q, err)
		return
	}
	id, err := s.storeSession(q.r, q.body)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	u := s.cfg.APIEndpointURL + "/sessions/" + id
	q.w.Header().Set("Location", u)
	reply(q.w, http.StatusCreated, "", urlJSON(u))
}
