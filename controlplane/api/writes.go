package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/logplex/logplex/config"
)

// storeError is a failure talking to the config store or the spool; the
// client gets 503 with public(), the log gets Error(): the cause names
// hosts and ports of the operator's Redis, which are not the client's to see.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string {
	return "store unavailable (" + e.op + "): " + e.err.Error()
}

// public is the message a client gets: the operation, not the cause.
func (e *storeError) public() string {
	return "store unavailable (" + e.op + "); retry later"
}

// clientMessage is err's text for a response body: a store error's public
// message, else the error itself (bad input the client sent).
func clientMessage(err error) string {
	if se, ok := errors.AsType[*storeError](err); ok {
		return se.public()
	}
	return err.Error()
}

func (e *storeError) Unwrap() error { return e.err }

func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}

// storeCtx bounds one store call.
func (s *Server) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.StoreTimeout)
}

// write stores changes atomically, then waits (at most WriteWait) until the
// snapshot includes them, so the next request on this node reads them.
func (s *Server) write(r *http.Request, changes ...config.Change) error {
	ctx, cancel := s.storeCtx(r)
	v, err := s.cfg.Store.Write(ctx, changes...)
	cancel()
	if err != nil {
		return &storeError{"write", err}
	}
	noteWrite(r, changes)
	s.awaitVersion(r, v)
	return nil
}

// awaitVersion waits for the snapshot to include version v, at most
// WriteWait (Logplex polls its replica for up to default_redis_poll_ms).
func (s *Server) awaitVersion(r *http.Request, v string) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteWait)
	defer cancel()
	if err := s.cfg.Watcher.WaitVersion(ctx, v); err != nil && r.Context().Err() == nil {
		s.log.Warn("write not yet visible in the config snapshot", "version", v, "err", err)
	}
}

// incr increments a counter key in the config store.
func (s *Server) incr(r *http.Request, key string) (int64, error) {
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	n, err := s.cfg.Store.Incr(ctx, key)
	if err != nil {
		return 0, &storeError{"incr " + key, err}
	}
	return n, nil
}

// newToken returns a fresh token record for channel ch.
func newToken(ch, name string) *config.Token {
	return &config.Token{ID: "t." + newUUID(), ChannelID: ch, Name: name}
}

func tokenChange(t *config.Token) config.Change {
	return config.Change{Key: config.TokenKey(t.ID), Fields: config.TokenHash(t.ChannelID, t.Name)}
}

// deleteChannelChanges deletes a channel with its tokens and drains (its
// history is left to expire, as in Logplex).
func deleteChannelChanges(ch *config.Channel) []config.Change {
	changes := make([]config.Change, 0, len(ch.Tokens)+len(ch.Drains)+1)
	for _, t := range ch.Tokens {
		changes = append(changes, config.Change{Key: config.TokenKey(t.ID)})
	}
	for _, d := range ch.Drains {
		changes = append(changes, config.Change{Key: config.DrainKey(d.ID)})
	}
	return append(changes, config.Change{Key: config.ChannelKey(ch.ID)})
}

// createTokens stores a token per name for channel ch.
func (s *Server) createTokens(r *http.Request, ch string, names []string) ([]*config.Token, error) {
	toks := make([]*config.Token, len(names))
	changes := make([]config.Change, len(names))
	for i, n := range names {
		toks[i] = newToken(ch, n)
		changes[i] = tokenChange(toks[i])
	}
	if err := s.write(r, changes...); err != nil {
		return nil, fmt.Errorf("create tokens for channel %s: %w", ch, err)
	}
	return toks, nil
}

// sortTokens orders tokens by (name, id), as snapshots and Logplex list them.
func sortTokens(ts []*config.Token) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Name != ts[j].Name {
			return ts[i].Name < ts[j].Name
		}
		return ts[i].ID < ts[j].ID
	})
}
