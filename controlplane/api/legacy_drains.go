package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/logplex/logplex/config"
)

var errMissingHost = &drainError{Invalid: true, Msg: "missing_host_param"}

// v2Fail answers a drain request error: 422 for refused destinations, 503
// for the store, 400 for malformed input.
func (s *Server) v2Fail(w http.ResponseWriter, err error) {
	countDrainLimit(err)
	var de *drainError
	var le *limitError
	switch {
	case errors.As(err, &le):
		reply(w, le.code(), ctJSON, jsonError(le.Msg))
	case errors.As(err, &de) && de.Invalid:
		reply(w, http.StatusUnprocessableEntity, ctJSON, jsonError("Invalid drain destination: "+de.Msg))
	case errors.As(err, &de):
		reply(w, http.StatusUnprocessableEntity, ctJSON, jsonError(de.Msg))
	case isStoreError(err):
		s.log.Warn("v2 API: store failure", "err", err)
		reply(w, http.StatusServiceUnavailable, ctJSON, jsonError(clientMessage(err)))
	default:
		reply(w, bodyErrorCode(err), ctJSON, jsonError(err.Error()))
	}
}

// v2Drain reads a v2 drain body: {"url":…} or {"host":…,"port":…} (port
// 514 by default), plus the optional "compression" and "headers"
// extensions (the compression, then the stored headers, are returned).
func (s *Server) v2Drain(o object) (*config.DrainURL, string, string, error) {
	raw, ok, err := o.str("url")
	if err != nil {
		return nil, "", "", err
	}
	if !ok {
		host, hok, err := o.str("host")
		if err != nil {
			return nil, "", "", err
		}
		if !hok {
			return nil, "", "", errMissingHost
		}
		port, pok, err := o.integer("port")
		if err != nil {
			return nil, "", "", err
		}
		if !pok {
			port = 514
		}
		raw = "syslog://" + host + ":" + strconv.FormatInt(port, 10)
	}
	u, err := s.checkDestination(raw)
	if err != nil {
		return nil, "", "", err
	}
	comp, err := s.compression(o, u)
	if err != nil {
		return nil, "", "", err
	}
	hdrs, err := headers(o, u)
	return u, comp, hdrs, err
}

// legacyReserveDrain: POST /channels/<id>/drains/tokens → 201 (text/html JSON).
func (s *Server) legacyReserveDrain(w http.ResponseWriter, r *http.Request, args []string) {
	ch := s.snapshot().Channel(args[0])
	if ch == nil {
		replyText(w, http.StatusNotFound, msgNotFound)
		return
	}
	if err := s.checkReservations(ch); err != nil {
		replyLimit(w, err)
		return
	}
	d, err := s.newDrain(r, args[0])
	if err == nil {
		err = s.write(r, drainChange(d))
	}
	if err != nil {
		s.legacyStoreFailed(w, err)
		return
	}
	b := appendDrainJSON(nil, d, "")
	b = append(b[:len(b)-1], `,"msg":"Successfully reserved drain token"}`...)
	reply(w, http.StatusCreated, ctHTML, b)
}

// v2FinishDrain: POST /v2/channels/<id>/drains/<drain> {"url":…} sets the
// URL of a reserved drain of that channel.
func (s *Server) v2FinishDrain(w http.ResponseWriter, r *http.Request, args []string) {
	o, err := s.legacyObject(w, r)
	if err != nil {
		return
	}
	snap := s.snapshot()
	id, _ := strconv.ParseInt(args[1], 10, 64)
	d := snap.Drain(id)
	if d == nil || d.ChannelID != args[0] || snap.Channel(args[0]) == nil {
		reply(w, http.StatusNotFound, ctJSON, jsonError("Unknown drain."))
		return
	}
	u, comp, hdrs, err := s.v2Drain(o)
	var de *drainError
	if errors.As(err, &de) && de.Invalid && d.URL == "" {
		err = errors.Join(err, s.write(r, config.Change{Key: config.DrainKey(id)})) // Logplex drops the reservation
	}
	if err != nil {
		s.v2Fail(w, err)
		return
	}
	if duplicateDrain(snap.Channel(args[0]), u, id) {
		reply(w, http.StatusConflict, ctJSON, jsonError("Already exists"))
		return
	}
	if d.URL == "" && urlDrains(snap.Channel(args[0])) >= s.cfg.MaxDrainsPerChannel {
		s.v2Fail(w, errMaxDrainsV2) // a reservation cannot step past the drain limit
		return
	}
	nd := &config.Drain{ID: id, ChannelID: d.ChannelID, Token: d.Token, URL: u.Normalized, Compression: comp, Headers: hdrs}
	if nd.Buffer, err = bufferMode(o, d.Buffer); err != nil {
		s.v2Fail(w, err)
		return
	}
	if err := s.write(r, drainChange(nd)); err != nil {
		s.v2Fail(w, err)
		return
	}
	reply(w, http.StatusCreated, ctJSON, appendDrainJSON(nil, nd, nd.URL))
}

// v2CreateDrain: POST /v2/channels/<id>/drains {"url":…} → 201.
func (s *Server) v2CreateDrain(w http.ResponseWriter, r *http.Request, args []string) {
	o, err := s.legacyObject(w, r)
	if err != nil {
		return
	}
	u, comp, hdrs, err := s.v2Drain(o)
	var buf string
	if err == nil {
		buf, err = bufferMode(o, "")
	}
	if err != nil {
		s.v2Fail(w, err)
		return
	}
	ch := s.snapshot().Channel(args[0])
	switch {
	case ch != nil && urlDrains(ch) >= s.cfg.MaxDrainsPerChannel:
		s.v2Fail(w, errMaxDrainsV2)
	case ch == nil:
		reply(w, http.StatusNotFound, ctJSON, jsonError("No such channel"))
	case duplicateDrain(ch, u, 0):
		reply(w, http.StatusConflict, ctJSON, jsonError("Already exists"))
	default:
		s.v2StoreDrain(w, r, ch.ID, u.Normalized, comp, hdrs, buf)
	}
}

func (s *Server) v2StoreDrain(w http.ResponseWriter, r *http.Request, ch, url, comp, hdrs, buf string) {
	d, err := s.newDrain(r, ch)
	if err == nil {
		d.URL, d.Compression, d.Headers, d.Buffer = url, comp, hdrs, buf
		err = s.write(r, drainChange(d))
	}
	if err != nil {
		s.v2Fail(w, err)
		return
	}
	reply(w, http.StatusCreated, ctJSON, appendDrainJSON(nil, d, d.URL))
}

// v2DeleteDrain: DELETE /v2/channels/<id>/drains/<drain> → 200, empty body.
func (s *Server) v2DeleteDrain(w http.ResponseWriter, r *http.Request, args []string) {
	id, _ := strconv.ParseInt(args[1], 10, 64)
	d := s.snapshot().Drain(id)
	if d == nil || d.ChannelID != args[0] {
		reply(w, http.StatusNotFound, ctJSON, jsonError("Not found"))
		return
	}
	if err := s.write(r, config.Change{Key: config.DrainKey(id)}); err != nil {
		s.v2Fail(w, err)
		return
	}
	replyText(w, http.StatusOK, "")
}
