// Package session owns what a log session prints: the session JSON a client
// stores (docs/logplex.md §4.5), the history lines a session fetch writes, and the live
// tail that may follow them (docs/logplex.md §7).
//
//	POST /v2/sessions {"channel_id":"123","num":"50","ps":"web","source":"app","tail":true}
//	GET  /sessions/<uuid>  ─►  history, oldest first:  TIME SP SOURCE[PS]: SP CONTENT LF
//	                       ─►  then, with "tail", live lines until the client leaves
//
// session formats lines with package frame and reads history from a
// store.Spool; it knows nothing about HTTP routing. It imports frame, config,
// store and the standard library only.
package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// DefaultNum is the number of history entries a session fetches when its JSON
// has no "num" (Logplex's default "100").
const DefaultNum = 100

// ScanDepth is how many of the newest entries a filtered session searches for
// its num matching ones (Logplex keeps log_history+1 = 1501 entries).
const ScanDepth = 1501

// Spec is a parsed session body.
type Spec struct {
	ChannelID string
	Num       int
	Tail      bool   // the body had a "tail" key (any value, even false or null)
	PS        []byte // "ps" filter: PROCID equal or prefixed by ps+"."; nil: none
	Source    []byte // "source" filter: APP-NAME equal; nil: none
}

// Errors ParseSpec returns; each message is what the client is told (400).
var (
	ErrNotObject      = errors.New("session body must be a JSON object")
	ErrChannelMissing = errors.New("'channel_id' missing")
	ErrBadNum         = errors.New("'num' must be a non-negative integer or a string of digits")
	ErrBadFilter      = errors.New("'ps' and 'source' must be strings")
)

// ParseSpec reads a stored session body. Only channel_id, num, tail, ps and
// source are read (docs/logplex.md §4.5); other keys are ignored.
func ParseSpec(body []byte) (Spec, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return Spec{}, ErrNotObject
	}
	sp := Spec{Num: DefaultNum}
	if err := unmarshalString(obj["channel_id"], &sp.ChannelID); err != nil || obj["channel_id"] == nil {
		return Spec{}, ErrChannelMissing
	}
	if raw, ok := obj["num"]; ok {
		n, err := parseNum(raw)
		if err != nil {
			return Spec{}, err
		}
		sp.Num = n
	}
	_, sp.Tail = obj["tail"]
	var err error
	if sp.PS, err = optionalBytes(obj["ps"]); err != nil {
		return Spec{}, err
	}
	if sp.Source, err = optionalBytes(obj["source"]); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

func unmarshalString(raw json.RawMessage, dst *string) error {
	if raw == nil || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// parseNum accepts a string of digits (Logplex's form) or a JSON integer.
func parseNum(raw json.RawMessage) (int, error) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, ErrBadNum
		}
	}
	if s == "" || !allDigits(s) {
		return 0, ErrBadNum
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, ErrBadNum
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func optionalBytes(raw json.RawMessage) ([]byte, error) {
	if raw == nil || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var s string
	if err := unmarshalString(raw, &s); err != nil {
		return nil, ErrBadFilter
	}
	if s == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// Filtered reports whether the session has a ps or source filter.
func (sp Spec) Filtered() bool { return sp.PS != nil || sp.Source != nil }

// FetchCount is how many of the newest history entries to read: num, or
// with filters at least ScanDepth so that num matching ones can be found.
func (sp Spec) FetchCount() int {
	if sp.Filtered() {
		return max(sp.Num, ScanDepth)
	}
	return sp.Num
}
