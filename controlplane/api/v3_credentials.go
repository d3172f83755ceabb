package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/auth"
)

// malformedCred: POST bodies are {"name":"…","grants":["full_api",…]}.
func malformedCred(q *v3Request) error {
	if q.r.Method != "POST" {
		return nil
	}
	o, err := parseObject(q.body)
	if err != nil {
		return err
	}
	if _, _, err := o.str("name"); err != nil {
		return err
	}
	if _, err := o.strs("grants"); err != nil {
		return err
	}
	q.obj = o
	return nil
}

// v3Credentials serves /v3/credentials: GET lists, POST creates (extension;
// authorised by LOGPLEX_AUTH_KEY only).
func (s *Server) v3Credentials(q *v3Request) {
	if q.r.Method == "GET" {
		b := []byte{'['}
		for i, c := range auth.List(q.snap) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCredJSON(b, c, "")
		}
		reply(q.w, http.StatusOK, "", append(b, ']'))
		return
	}
	if !v3JSONBody(q) {
		return
	}
	name, _, _ := q.obj.str("name")
	grants, _ := q.obj.strs("grants")
	c, pass, err := auth.NewCred(name, grants)
	if err != nil {
		reply(q.w, http.StatusUnprocessableEntity, "", jsonError(err.Error()))
		return
	}
	ctx, cancel := s.storeCtx(q.r)
	v, err := auth.Store(ctx, s.cfg.Store, c)
	cancel()
	if err != nil {
		s.v3Fail(q, &storeError{"store credential", err})
		return
	}
	noteWrite(q.r, []config.Change{{Key: config.CredKey(c.ID)}})
	s.awaitVersion(q.r, v)
	q.w.Header().Set("Location", s.cfg.HTTPV3URL+"/v3/credentials/"+url.PathEscape(c.ID))
	reply(q.w, http.StatusCreated, "", appendCredJSON(nil, c, pass))
}

// v3Credential serves /v3/credentials/:id: GET shows (no secret), DELETE revokes.
func (s *Server) v3Credential(q *v3Request) {
	c := q.snap.Cred(q.credID)
	if c == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if q.r.Method == "GET" {
		reply(q.w, http.StatusOK, "", appendCredJSON(nil, c, ""))
		return
	}
	ctx, cancel := s.storeCtx(q.r)
	v, err := auth.Revoke(ctx, s.cfg.Store, q.snap, c.ID)
	cancel()
	if errors.Is(err, auth.ErrNoSuchCred) {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		s.v3Fail(q, &storeError{"revoke credential", err})
		return
	}
	noteWrite(q.r, []config.Change{{Key: config.CredKey(c.ID)}})
	s.awaitVersion(q.r, v)
	q.w.WriteHeader(http.StatusNoContent)
}

// appendCredJSON writes {"id":…[,"password":…],"name":…,"grants":[…]}.
func appendCredJSON(dst []byte, c *config.Cred, pass string) []byte {
	dst = appendJSONString(append(dst, `{"id":`...), c.ID)
	if pass != "" {
		dst = appendJSONString(append(dst, `,"password":`...), pass)
	}
	dst = appendJSONString(append(dst, `,"name":`...), c.Name)
	dst = append(dst, `,"grants":[`...)
	for i, g := range auth.Grants(c) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, g)
	}
	return append(dst, "]}"...)
}
