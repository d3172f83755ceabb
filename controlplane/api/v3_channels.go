package api

import (
	"errors"
	"net/http"

	"github.com/logplex/logplex/config"
)

var errInvalidPayload = errors.New("invalid payload")

// v3Channel serves /v3/channels/:id (GET, PUT, DELETE).
func (s *Server) v3Channel(q *v3Request) {
	switch q.r.Method {
	case "GET":
		ch := q.snap.Channel(q.channel)
		if ch == nil {
			q.w.WriteHeader(http.StatusNotFound)
			return
		}
		reply(q.w, http.StatusOK, "", appendV3Channel(nil, ch.ID, ch.Tokens, ch))
	case "DELETE":
		ch := q.snap.Channel(q.channel)
		if ch == nil {
			q.w.WriteHeader(http.StatusNotFound)
			return
		}
		if err := s.write(q.r, deleteChannelChanges(ch)...); err != nil {
			s.v3Fail(q, err)
			return
		}
		q.w.WriteHeader(http.StatusNoContent)
	case "PUT":
		s.v3PutChannel(q)
	}
}

// v3PutChannel: declarative PUT; the channel's tokens become exactly the
// listed names (existing names keep their ids). 201 when new, else 200.
func (s *Server) v3PutChannel(q *v3Request) {
	if !v3JSONBody(q) {
		return
	}
	names, err := channelTokenNames(q.body)
	if err != nil {
		s.v3Fail(q, err)
		return
	}
	old := q.snap.Channel(q.channel)
	if old == nil && isDigits(q.channel) {
		s.v3Fail(q, refuse(refusedNumericChannel, 0, "numeric channel ids are reserved for channels created "+
			"with POST /channels; name a new channel with at least one non-digit character"))
		return
	}
	if err := s.checkNewTokens(dedupe(names), 0); err != nil {
		s.v3Fail(q, err)
		return
	}
	// A new channel is written whole; an existing one keeps every field but
	// its name as stored (flags an operator set, fields logplex does not
	// know), even ones this node's snapshot has not seen yet.
	chChange := config.Change{Key: config.ChannelKey(q.channel), Fields: config.ChannelHash("", "")}
	var existing []*config.Token
	if old != nil {
		existing = old.Tokens
		chChange = config.Change{Key: chChange.Key, Fields: config.Hash{"name": old.Name}, Merge: true}
	}
	keep, changes := reconcileTokens(q.channel, existing, names)
	changes = append(changes, chChange)
	if err := s.write(q.r, changes...); err != nil {
		s.v3Fail(q, err)
		return
	}
	code := http.StatusOK
	if old == nil {
		code = http.StatusCreated
	}
	reply(q.w, code, "", appendV3Channel(nil, q.channel, keep, old))
}

// channelTokenNames reads a PUT body: a JSON object with an optional
// "tokens" list of strings.
func channelTokenNames(body []byte) ([]string, error) {
	o, err := parseObject(body)
	if errors.Is(err, errNotObject) {
		return nil, errInvalidPayload
	}
	if err != nil {
		return nil, err
	}
	names, err := o.strs("tokens")
	if err != nil {
		return nil, errInvalidPayload
	}
	return names, nil
}

// dedupe returns names without repeats, in first-seen order.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// reconcileTokens returns the token set for names (existing tokens kept by
// name, new ones created) and the changes that get there.
func reconcileTokens(ch string, existing []*config.Token, names []string) ([]*config.Token, []config.Change) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var keep []*config.Token
	var changes []config.Change
	have := map[string]bool{}
	for _, t := range existing {
		if want[t.Name] {
			keep = append(keep, t)
			have[t.Name] = true
		} else {
			changes = append(changes, config.Change{Key: config.TokenKey(t.ID)})
		}
	}
	for _, n := range names {
		if !have[n] {
			have[n] = true
			t := newToken(ch, n)
			keep = append(keep, t)
			changes = append(changes, tokenChange(t))
		}
	}
	sortTokens(keep)
	return keep, changes
}

// appendV3Channel writes {"channel":…[,"tokens":{…}][,"drains":[…]]}
// (docs/logplex.md §4.3.1); drains come from ch (nil: none).
func appendV3Channel(dst []byte, id string, toks []*config.Token, ch *config.Channel) []byte {
	dst = appendJSONString(append(dst, `{"channel":`...), id)
	if len(toks) > 0 {
		dst = appendTokenObject(append(dst, `,"tokens":`...), toks)
	}
	if ch != nil && listedDrains(ch) > 0 {
		dst = appendDrainList(append(dst, `,"drains":`...), ch)
	}
	return append(dst, '}')
}
