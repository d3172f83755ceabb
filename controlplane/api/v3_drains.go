package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/logplex/logplex/config"
)

var errBadURL = errors.New("'url' must be a URI (RFC 3986), e.g. https://logs.example.com/in")

// malformedDrain: a body, when present or needed, is a JSON object whose
// "url", if any, is a string that parses as a URI (docs/logplex.md §4.3.2).
func malformedDrain(q *v3Request) error {
	if q.r.Method == "DELETE" && len(q.body) == 0 {
		return nil
	}
	o, err := parseObject(q.body)
	if err != nil {
		return err
	}
	raw, ok, err := o.str("url")
	if err != nil {
		return err
	}
	if _, perr := config.ParseDrainURL(raw); ok && perr == config.ErrInvalidURI {
		return errBadURL
	}
	q.obj = o
	return nil
}

// v3CreateDrain: POST /v3/channels/:id/drains reserves a drain, or creates
// it when the body has a "url".
func (s *Server) v3CreateDrain(q *v3Request) {
	ch := q.snap.Channel(q.channel)
	if ch == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if !v3JSONBody(q) {
		return
	}
	if urlDrains(ch) >= s.cfg.MaxDrainsPerChannel {
		s.v3Fail(q, errMaxDrainsV3)
		return
	}
	raw, hasURL, _ := q.obj.str("url")
	u, comp, hdrs, err := s.v3Destination(q.obj, raw, hasURL)
	var buf string
	if err == nil {
		buf, err = bufferMode(q.obj, "")
	}
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	if hasURL && duplicateDrain(ch, u, 0) {
		reply(q.w, http.StatusConflict, "", jsonError("already exists"))
		return
	}
	d, err := s.newDrain(q.r, ch.ID)
	if err == nil {
		d.URL, d.Compression, d.Headers, d.Buffer = raw, comp, hdrs, buf
		err = s.write(q.r, drainChange(d))
	}
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	q.w.Header().Set("Location", s.cfg.HTTPV3URL+"/v3/channels/"+url.PathEscape(ch.ID)+"/drains/"+strconv.FormatInt(d.ID, 10))
	reply(q.w, http.StatusCreated, "", appendDrainJSON(nil, d, d.URL))
}

// v3Destination validates the URL (when given), the compression and the
// headers (returned in stored form).
func (s *Server) v3Destination(o object, raw string, hasURL bool) (*config.DrainURL, string, string, error) {
	var u *config.DrainURL
	if hasURL {
		var err error
		if u, err = s.checkDestination(raw); err != nil {
			return nil, "", "", err
		}
	}
	comp, err := s.compression(o, u)
	if err != nil {
		return nil, "", "", err
	}
	hdrs, err := headers(o, u)
	return u, comp, hdrs, err
}

// v3Drain serves /v3/channels/:id/drains/:drain_id (PUT, DELETE).
func (s *Server) v3Drain(q *v3Request) {
	ch := q.snap.Channel(q.channel)
	d := q.snap.Drain(q.drainID)
	if ch == nil || d == nil || d.ChannelID != ch.ID {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if q.r.Method == "DELETE" {
		if err := s.write(q.r, config.Change{Key: config.DrainKey(d.ID)}); err != nil {
			s.v3Fail(q, err)
			return
		}
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	if v3JSONBody(q) {
		s.v3UpdateDrain(q, ch, d)
	}
}

// v3UpdateDrain: PUT sets the drain's URL (and compression); its own
// unchanged URL is not a conflict.
func (s *Server) v3UpdateDrain(q *v3Request, ch *config.Channel, d *config.Drain) {
	nd := *d
	raw, hasURL, _ := q.obj.str("url")
	eff, err := s.updatedURL(q, ch, d, raw, hasURL)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	if eff == nil && hasURL {
		return // answered (409)
	}
	if hasURL {
		nd.URL = raw
	}
	if nd.Compression, err = s.updatedCompression(q.obj, d.Compression, eff); err != nil {
		s.v3Fail(q, err)
		return
	}
	if nd.Headers, err = updatedHeaders(q.obj, d.Headers, eff); err != nil {
		s.v3Fail(q, err)
		return
	}
	if nd.Buffer, err = bufferMode(q.obj, d.Buffer); err != nil {
		s.v3Fail(q, err)
		return
	}
	if err := s.write(q.r, drainChange(&nd)); err != nil {
		s.v3Fail(q, err)
		return
	}
	reply(q.w, http.StatusOK, "", appendDrainJSON(nil, &nd, nd.URL))
}

// updatedURL validates a PUT's URL and returns the drain's URL after the
// update (nil when it has none). It answers 409 itself, returning nil.
func (s *Server) updatedURL(q *v3Request, ch *config.Channel, d *config.Drain, raw string, hasURL bool) (*config.DrainURL, error) {
	if !hasURL {
		u, _ := config.ParseDrainURL(d.URL)
		return u, nil
	}
	u, err := s.checkDestination(raw)
	if err != nil {
		return nil, err
	}
	if duplicateDrain(ch, u, d.ID) {
		q.w.WriteHeader(http.StatusConflict)
		return nil, nil
	}
	if d.URL == "" && urlDrains(ch) >= s.cfg.MaxDrainsPerChannel {
		return nil, errMaxDrainsV3
	}
	return u, nil
}

// updatedCompression: an explicit value is validated; otherwise an HTTP
// drain keeps its compression (or gets the default) and others have none.
func (s *Server) updatedCompression(o object, old string, u *config.DrainURL) (string, error) {
	if !o.has("compression") && u != nil && (u.Kind == config.DrainHTTP || u.Kind == config.DrainOTLP) && old != "" {
		return old, nil
	}
	if !o.has("compression") && u == nil {
		return old, nil
	}
	return s.compression(o, u)
}

// updatedHeaders: explicit headers are validated; otherwise an OTLP drain
// keeps its headers and others have none.
func updatedHeaders(o object, old string, u *config.DrainURL) (string, error) {
	if !o.has("headers") {
		if u == nil || u.Kind == config.DrainOTLP {
			return old, nil
		}
		return "", nil
	}
	return headers(o, u)
}
