package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/logplex/logplex/config"
)

// knownFlags are the channel flags logplex acts on (stored as Logplex does:
// sorted names joined by ':').
var knownFlags = []string{config.FlagNoRedis, config.FlagNoTail}

// malformedFlags checks a PUT body: {"flags":[names…]}, known names only.
func malformedFlags(q *v3Request) error {
	if q.r.Method != "PUT" {
		return nil
	}
	o, err := parseObject(q.body)
	if err != nil {
		return err
	}
	if !o.has("flags") {
		return errors.New("'flags' is required: a list of flag names (" + strings.Join(knownFlags, ", ") + ")")
	}
	names, err := o.strs("flags")
	if err != nil {
		return err
	}
	for _, n := range names {
		if !slices.Contains(knownFlags, n) {
			return errors.New("unknown flag '" + n + "'; known: " + strings.Join(knownFlags, ", "))
		}
	}
	q.obj = o
	return nil
}

// v3ChannelFlags serves /v3/channels/:id/flags (an extension, master key
// only): GET lists the channel's flags, PUT sets them. Logplex has no API
// for flags (operators wrote the hash with redis-cli); PUT writes only the
// flags field, as such an HMSET does.
func (s *Server) v3ChannelFlags(q *v3Request) {
	ch := q.snap.Channel(q.channel)
	if ch == nil {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	flags := ch.Flags
	if q.r.Method == "PUT" {
		if !v3JSONBody(q) {
			return
		}
		names, _ := q.obj.strs("flags")
		slices.Sort(names)
		flags = strings.Join(slices.Compact(names), ":")
		change := config.Change{Key: config.ChannelKey(ch.ID), Fields: config.Hash{"flags": flags}, Merge: true}
		if err := s.write(q.r, change); err != nil {
			s.v3Fail(q, err)
			return
		}
	}
	reply(q.w, http.StatusOK, "", appendFlags(nil, flags))
}

// appendFlags writes {"flags":[…]} from the stored form.
func appendFlags(dst []byte, stored string) []byte {
	dst = append(dst, `{"flags":[`...)
	n := 0
	for _, f := range strings.Split(stored, ":") {
		if f == "" {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f)
		n++
	}
	return append(dst, "]}"...)
}
