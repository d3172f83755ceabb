package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/logplex/logplex/config"
)

// The audit log: one line per API write request (any method but GET, HEAD
// and OPTIONS), after it is answered:
//
//	level=INFO msg="api write" api=v3 cred=<credential id | auth-key | anonymous> method=PUT path=/v3/channels/app objects=ch:app:data status=201
//
// objects are the config keys the request wrote (the channel, token,
// drain or credential it created, changed or deleted); none when it was
// refused. Passwords, the auth key, tokens' secrets and request bodies
// (drain URLs may hold credentials) are never logged.
type auditRec struct{ objects []string }

type auditKey struct{}

// isWrite reports whether method changes something (the audited ones).
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// withAudit returns r carrying an audit record when r is a write.
func withAudit(r *http.Request) (*http.Request, *auditRec) {
	if !isWrite(r.Method) {
		return r, nil
	}
	a := &auditRec{}
	return r.WithContext(context.WithValue(r.Context(), auditKey{}, a)), a
}

// noteWrite adds the keys of changes to r's audit record (Server.write).
func noteWrite(r *http.Request, changes []config.Change) {
	if a, ok := r.Context().Value(auditKey{}).(*auditRec); ok {
		for _, c := range changes {
			a.objects = append(a.objects, c.Key)
		}
	}
}

// audit logs a's line once the request is answered with code.
func (s *Server) audit(api string, r *http.Request, a *auditRec, code int) {
	if a == nil || s.log == nil {
		return
	}
	if code == 0 {
		code = http.StatusOK
	}
	path := r.URL.Path
	if len(path) > 256 {
		path = path[:256] + "…"
	}
	s.log.Info("api write", "api", api, "cred", s.who(r.Header.Get("Authorization")),
		"method", r.Method, "path", path, "objects", strings.Join(a.objects, ","), "status", code)
}

// who names the caller without a secret: the credential id, "auth-key"
// for the master key, "anonymous" without (usable) Authorization.
func (s *Server) who(header string) string {
	user, _, raw, ok := config.ParseBasic(header)
	switch {
	case s.cfg.AuthKey != "" && config.AuthKeyMatches(raw, s.cfg.AuthKey):
		return "auth-key"
	case ok && user != "" && len(user) <= 64:
		return user
	}
	return "anonymous"
}
