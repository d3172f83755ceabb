package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/logplex/logplex/config"
)

// drainError is a drain request the API refuses with 422; Msg is the
// client's message (v2 prefixes it with "Invalid drain destination: ").
type drainError struct {
	Msg     string
	Invalid bool // a bad destination (v2: the reason term of §4.2)
}

func (e *drainError) Error() string { return e.Msg }

var (
	errMaxDrainsV2 = &drainError{Msg: "You have already added the maximum number of drains allowed"}
	errMaxDrainsV3 = &drainError{Msg: "maximum number of drains reached"}
	errCompression = &drainError{Msg: `compression must be "gzip" or "zstd"`}
	errCompHTTP    = &drainError{Msg: "compression applies to HTTP(S) and OTLP drains only"}
	errCompOTLP    = &drainError{Msg: `compression of an OTLP drain must be "gzip", "zstd" or "none"`}
	errHeadersOTLP = &drainError{Msg: "headers apply to OTLP drains (otlp+https://) only"}
	errHeadersObj  = &drainError{Msg: `headers must be an object of strings, e.g. {"x-api-key": "…"}`}
	errBuffer      = &drainError{Msg: `buffer must be "disk" or "memory"`}
)

// bufferMode reads the optional "buffer" extension: where the drain's
// overflow goes on the data planes, "disk" (their disk spill, when they
// have one) or "memory" (never spilled). Absent: old (a new drain: "", the
// data planes' default); null: "".
func bufferMode(o object, old string) (string, error) {
	if _, ok := o["buffer"]; ok && !o.has("buffer") {
		return "", nil
	}
	if !o.has("buffer") {
		return old, nil
	}
	b, _, err := o.str("buffer")
	if err != nil || (b != "disk" && b != "memory") {
		return "", errBuffer
	}
	return b, nil
}

// checkDestination validates a drain URL for storing: scheme (§5.1), then
// the private-address rule unless private drains are allowed.
func (s *Server) checkDestination(raw string) (*config.DrainURL, error) {
	u, err := config.ParseDrainURL(raw)
	if err != nil {
		var de *config.DrainURLError
		if errors.As(err, &de) && de.Unsupported {
			return nil, &drainError{Invalid: true, Msg: de.Reason + " (UDP syslog drains are not supported; use syslog:// or syslog+tls://)"}
		}
		return nil, &drainError{Invalid: true, Msg: err.Error()}
	}
	if !s.cfg.AllowPrivateDrains && config.IsPrivateHost(u.Host) {
		return nil, &drainError{Invalid: true, Msg: "drain host " + u.Host +
			" is a loopback, private, link-local or unspecified address; drains must point at public hosts"}
	}
	return u, nil
}

// compression reads the optional "compression" field for a drain of kind
// (0: no URL yet). Absent or null: the default, for HTTP drains only (an
// OTLP drain without one sends gzip). OTLP drains also take "none".
func (s *Server) compression(o object, u *config.DrainURL) (string, error) {
	if !o.has("compression") {
		if u != nil && u.Kind == config.DrainHTTP {
			return s.cfg.DrainDefaultCompression, nil
		}
		return "", nil
	}
	c, _, err := o.str("compression")
	if u != nil && u.Kind == config.DrainOTLP {
		if err != nil || (c != "gzip" && c != "zstd" && c != "none") {
			return "", errCompOTLP
		}
		return c, nil
	}
	if err != nil || (c != "gzip" && c != "zstd") {
		return "", errCompression
	}
	if u != nil && u.Kind != config.DrainHTTP {
		return "", errCompHTTP
	}
	return c, nil
}

// headers reads the optional "headers" extension of an OTLP drain, an
// object of name → value, and returns its stored form. Absent or null:
// none. The values are secrets: errors never echo them.
func headers(o object, u *config.DrainURL) (string, error) {
	if !o.has("headers") {
		return "", nil
	}
	if u == nil || u.Kind != config.DrainOTLP {
		return "", errHeadersOTLP
	}
	var m map[string]any
	if json.Unmarshal(o["headers"], &m) != nil || m == nil {
		return "", errHeadersObj
	}
	hs := make([]config.Header, 0, len(m))
	for k, v := range m {
		str, ok := v.(string)
		if !ok {
			return "", errHeadersObj
		}
		hs = append(hs, config.Header{Name: k, Value: str})
	}
	stored, err := config.EncodeDrainHeaders(hs)
	if err != nil {
		return "", &drainError{Msg: err.Error()}
	}
	return stored, nil
}

// urlDrains counts the channel's drains that have a URL (reservations do
// not count toward max_drains_per_channel, docs/logplex.md §5.1).
func urlDrains(ch *config.Channel) int {
	n := 0
	for _, d := range ch.Drains {
		if d.URL != "" {
			n++
		}
	}
	return n
}

// duplicateDrain reports whether another drain of ch (not except) has the
// same normalized URL.
func duplicateDrain(ch *config.Channel, u *config.DrainURL, except int64) bool {
	for _, d := range ch.Drains {
		if d.ID != except && d.URL != "" && normalizedURL(d.URL) == u.Normalized {
			return true
		}
	}
	return false
}

// normalizedURL is the URL a drain is listed and compared with; "" when it
// is not a valid drain URL (Logplex hides those from listings).
func normalizedURL(raw string) string {
	u, err := config.ParseDrainURL(raw)
	if err != nil {
		return ""
	}
	return u.Normalized
}

// newDrain reserves a drain id and token for channel ch (not yet stored).
func (s *Server) newDrain(r *http.Request, ch string) (*config.Drain, error) {
	id, err := s.incr(r, config.DrainIndexKey)
	if err != nil {
		return nil, err
	}
	return &config.Drain{ID: id, ChannelID: ch, Token: "d." + newUUID()}, nil
}

func drainChange(d *config.Drain) config.Change {
	return config.Change{Key: config.DrainKey(d.ID), Fields: config.DrainHash(d)}
}

// appendDrainJSON writes {"id":…,"token":…[,"url":…][,"compression":…]
// [,"headers":{"name":"***",…}][,"buffer":…]}: header values are never shown.
func appendDrainJSON(dst []byte, d *config.Drain, url string) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendInt(dst, d.ID)
	dst = append(dst, `,"token":`...)
	dst = appendJSONString(dst, d.Token)
	if url != "" {
		dst = append(dst, `,"url":`...)
		dst = appendJSONString(dst, url)
	}
	if d.Compression != "" {
		dst = append(dst, `,"compression":`...)
		dst = appendJSONString(dst, d.Compression)
	}
	if d.Headers != "" {
		dst = append(dst, `,"headers":{`...)
		for i, h := range config.DrainHeaders(d.Headers) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, h.Name)
			dst = append(dst, `:"***"`...)
		}
		dst = append(dst, '}')
	}
	if d.Buffer != "" {
		dst = append(dst, `,"buffer":`...)
		dst = appendJSONString(dst, d.Buffer)
	}
	return append(dst, '}')
}

// appendDrainList writes the channel's drains that have a valid URL, as
// [{"id","token","url"},…] with normalized URLs, sorted by id.
func appendDrainList(dst []byte, ch *config.Channel) []byte {
	dst = append(dst, '[')
	first := true
	for _, d := range ch.Drains {
		u := normalizedURL(d.URL)
		if u == "" {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendDrainJSON(dst, d, u)
	}
	return append(dst, ']')
}

// listedDrains counts the drains appendDrainList writes.
func listedDrains(ch *config.Channel) int {
	n := 0
	for _, d := range ch.Drains {
		if normalizedURL(d.URL) != "" {
			n++
		}
	}
	return n
}
