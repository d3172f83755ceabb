package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/logplex/logplex/frame"
)

// malformedToken: a JSON object with a string "name" (spec §4.3.3).
func malformedToken(q *v3Request) error {
	return requireString(q, "name")
}

// malformedSession: a JSON object with a string "channel_id" (spec §4.3.5).
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
	if q.snap.Channel(q.channel) == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if !v3JSONBody(q) {
		return
	}
	name, _, _ := q.obj.str("name")
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
// oldest first, in the v3 log format, chunked (spec §4.3.4).
func (s *Server) v3ChannelLogs(q *v3Request) {
	if q.snap.Channel(q.channel) == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	num := 100
	if n, err := strconv.Atoi(q.r.URL.Query().Get("num")); err == nil && n >= 0 {
		num = n
	}
	hist, err := s.history(q.r, q.channel, num)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	h := q.w.Header()
	h.Set("Logplex-Msg-Count", strconv.Itoa(len(hist)))
	h.Set("Connection", "close")
	q.w.WriteHeader(http.StatusOK)
	flush(q.w)
	var buf []byte
	for i := len(hist) - 1; i >= 0; i-- {
		if f, ok := frame.ParseDrain(hist[i]); ok {
			buf = frame.AppendV3Log(buf, f)
		}
	}
	_, _ = q.w.Write(buf)
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
	id, err := s.storeSession(q.r, q.body)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	u := s.cfg.APIEndpointURL + "/sessions/" + id
	q.w.Header().Set("Location", u)
	reply(q.w, http.StatusCreated, "", urlJSON(u))
}
