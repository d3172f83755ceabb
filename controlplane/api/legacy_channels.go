package api

import (
	"net/http"
	"strconv"

	"github.com/logplex/logplex/config"
)

// legacyBadRequest answers 400 with a text message (Logplex crashed with 500
// on malformed bodies; see docs/compat.md).
func legacyBadRequest(w http.ResponseWriter, err error) {
	replyText(w, bodyErrorCode(err), err.Error())
}

// legacyStoreFailed answers 503 for a store error, 500 never.
func (s *Server) legacyStoreFailed(w http.ResponseWriter, err error) {
	s.log.Warn("legacy API: store failure", "err", err)
	replyText(w, http.StatusServiceUnavailable, clientMessage(err))
}

// legacyCreateChannel: POST /channels {"name":…,"tokens":[…]}.
func (s *Server) legacyCreateChannel(w http.ResponseWriter, r *http.Request, _ []string) {
	o, err := s.legacyObject(w, r)
	if err != nil {
		return
	}
	name, _, err := o.str("name")
	if err != nil {
		replyText(w, http.StatusBadRequest, "Channel name must be a string.")
		return
	}
	names, err := o.strs("tokens")
	if err != nil {
		legacyBadRequest(w, err)
		return
	}
	if err := s.checkNewTokens(names, 0); err != nil {
		replyLimit(w, err)
		return
	}
	id, err := s.incr(r, config.ChannelIndexKey)
	if err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	ch := strconv.FormatInt(id, 10)
	changes := []config.Change{{Key: config.ChannelKey(ch), Fields: config.ChannelHash(name, "")}}
	toks := make([]*config.Token, len(names))
	for i, n := range names {
		toks[i] = newToken(ch, n)
		changes = append(changes, tokenChange(toks[i]))
	}
	if err := s.write(r, changes...); err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	b := append([]byte(`{"channel_id":`), ch...)
	b = append(append(b, `,"tokens":`...), appendTokenObject(nil, toks)...)
	reply(w, http.StatusCreated, ctJSON, append(b, '}'))
}

// legacyObject reads the body as a JSON object, answering 400/413 itself
// when it is not one.
func (s *Server) legacyObject(w http.ResponseWriter, r *http.Request) (object, error) {
	body, err := s.readBody(w, r)
	if err == nil {
		var o object
		if o, err = parseObject(body); err == nil {
			return o, nil
		}
	}
	legacyBadRequest(w, err)
	return nil, err
}

// appendTokenObject writes {"name":"t.…",…} in the given order, or [] when
// empty (mochijson2 encodes an empty proplist as a list).
func appendTokenObject(dst []byte, toks []*config.Token) []byte {
	if len(toks) == 0 {
		return append(dst, "[]"...)
	}
	dst = append(dst, '{')
	for i, t := range toks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t.Name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, t.ID)
	}
	return append(dst, '}')
}

// v2GetChannel: GET /v2/channels/<id>.
func (s *Server) v2GetChannel(w http.ResponseWriter, _ *http.Request, args []string) {
	ch := s.snapshot().Channel(args[0])
	if ch == nil {
		reply(w, http.StatusNotFound, ctJSON, jsonError("Not Found"))
		return
	}
	b := appendChannelID([]byte(`{"channel_id":`), ch.ID)
	b = append(b, `,"tokens":[`...)
	for i, t := range ch.Tokens {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, t.Name)
		b = append(b, `,"token":`...)
		b = append(appendJSONString(b, t.ID), '}')
	}
	b = append(b, `],"drains":`...)
	b = appendDrainList(b, ch)
	reply(w, http.StatusOK, ctJSON, append(b, '}'))
}

// legacyChannelInfo: GET /channels/<id>/info (JSON served as text/html).
func (s *Server) legacyChannelInfo(w http.ResponseWriter, _ *http.Request, args []string) {
	ch := s.snapshot().Channel(args[0])
	if ch == nil {
		replyText(w, http.StatusNotFound, msgNotFound)
		return
	}
	b := appendChannelID([]byte(`{"channel_id":`), ch.ID)
	b = appendTokenObject(append(b, `,"tokens":`...), ch.Tokens)
	b = append(b, `,"drains":[`...)
	n := 0
	for _, d := range ch.Drains {
		if u := normalizedURL(d.URL); u != "" {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, u)
			n++
		}
	}
	reply(w, http.StatusOK, ctHTML, append(b, "]}"...))
}

// legacyDeleteChannel: DELETE /channels/<id> → 200 "OK".
func (s *Server) legacyDeleteChannel(w http.ResponseWriter, r *http.Request, args []string) {
	found, err := s.deleteChannel(r, args[0])
	switch {
	case err != nil:
		s.legacyStoreFailed(w, err)
	case !found:
		replyText(w, http.StatusNotFound, msgNotFound)
	default:
		replyText(w, http.StatusOK, "OK")
	}
}

// v2DeleteChannel: DELETE /v2/channels/<id> → 200, empty body.
func (s *Server) v2DeleteChannel(w http.ResponseWriter, r *http.Request, args []string) {
	found, err := s.deleteChannel(r, args[0])
	switch {
	case err != nil:
		s.legacyStoreFailed(w, err)
	case !found:
		reply(w, http.StatusNotFound, ctJSON, jsonError("Not Found"))
	default:
		replyText(w, http.StatusOK, "")
	}
}

// deleteChannel deletes channel id with its tokens and drains; found is
// false when it does not exist.
func (s *Server) deleteChannel(r *http.Request, id string) (found bool, err error) {
	ch := s.snapshot().Channel(id)
	if ch == nil {
		return false, nil
	}
	return true, s.write(r, deleteChannelChanges(ch)...)
}

// legacyCreateToken: POST /channels/<id>/token {"name":…} → 201, raw token id.
func (s *Server) legacyCreateToken(w http.ResponseWriter, r *http.Request, args []string) {
	o, err := s.legacyObject(w, r)
	if err != nil {
		return
	}
	name, ok, err := o.str("name")
	if err != nil || !ok {
		replyText(w, http.StatusBadRequest, "'name' post param missing")
		return
	}
	ch := s.snapshot().Channel(args[0])
	if ch == nil {
		replyText(w, http.StatusNotFound, msgNotFound)
		return
	}
	if err := s.checkNewTokens([]string{name}, len(ch.Tokens)); err != nil {
		replyLimit(w, err)
		return
	}
	toks, err := s.createTokens(r, args[0], []string{name})
	if err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	replyText(w, http.StatusCreated, toks[0].ID)
}

// v2CreateToken: POST /v2/channels/<id>/tokens {"name":…} → 201 JSON.
func (s *Server) v2CreateToken(w http.ResponseWriter, r *http.Request, args []string) {
	o, err := s.legacyObject(w, r)
	if err != nil {
		return
	}
	name, ok, err := o.str("name")
	if err != nil {
		legacyBadRequest(w, err)
		return
	}
	if !ok {
		reply(w, http.StatusUnprocessableEntity, ctHTML, jsonError("NAME is a required field"))
		return
	}
	ch := s.snapshot().Channel(args[0])
	if ch == nil {
		reply(w, http.StatusNotFound, ctJSON, jsonError("No such channel"))
		return
	}
	if err := s.checkNewTokens([]string{name}, len(ch.Tokens)); err != nil {
		s.v2Fail(w, err)
		return
	}
	toks, err := s.createTokens(r, args[0], []string{name})
	if err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	b := append([]byte(`{"name":`), appendJSONString(nil, name)...)
	b = append(append(b, `,"token":`...), appendJSONString(nil, toks[0].ID)...)
	reply(w, http.StatusCreated, ctJSON, append(b, '}'))
}
