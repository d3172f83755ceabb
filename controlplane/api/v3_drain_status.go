package api

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/logplex/logplex/config"
)

// nodeStatus is one data plane's report on a drain (dataplane/drain.DrainStatus).
type nodeStatus struct {
	Node      string `json:"node"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	Retries   uint64 `json:"retries"`
	Bytes     uint64 `json:"bytes"`
	Buffered  int    `json:"buffered"`
	LastError string `json:"last_error"`
	Connected bool   `json:"connected"`
	Degraded  bool   `json:"degraded"`
	// the disk spill (extension, issue 19): messages spilled and the age of
	// the oldest (catch-up lag); absent on nodes without one
	Spilled         int64   `json:"spilled,omitempty"`
	SpillLagSeconds float64 `json:"spill_lag_seconds,omitempty"`
}

// drainStatus is the answer: the sums over the nodes, and each node.
type drainStatus struct {
	ID        int64  `json:"id"`
	Token     string `json:"token"`
	URL       string `json:"url"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	Retries   uint64 `json:"retries"`
	Bytes     uint64 `json:"bytes"`
	Buffered  int    `json:"buffered"`
	// Spilled sums the nodes' spills; SpillLagSeconds is the largest lag.
	Spilled         int64        `json:"spilled,omitempty"`
	SpillLagSeconds float64      `json:"spill_lag_seconds,omitempty"`
	Nodes           []nodeStatus `json:"nodes"`
}

// v3DrainStatus answers GET /v3/channels/:id/drains/:drain_id/status (an
// extension): the drain's delivery counters summed over the data planes
// that reported in the last few seconds, and each node's own.
func (s *Server) v3DrainStatus(q *v3Request) {
	ch := q.snap.Channel(q.channel)
	d := q.snap.Drain(q.drainID)
	if ch == nil || d == nil || d.ChannelID != ch.ID {
		q.w.WriteHeader(http.StatusNotFound)
		return
	}
	if s.cfg.DrainStatus == nil {
		reply(q.w, http.StatusServiceUnavailable, "", jsonError("drain status is not available on this store"))
		return
	}
	ctx, cancel := s.storeCtx(q.r)
	defer cancel()
	docs, err := s.cfg.DrainStatus.DrainStatus(ctx, d.ID)
	if err != nil {
		s.log.Warn("v3 API: drain status", "err", err)
		reply(q.w, http.StatusServiceUnavailable, "", jsonError("drain status unavailable; retry later"))
		return
	}
	out := drainStatus{ID: d.ID, Token: d.Token, URL: d.URL, Nodes: []nodeStatus{}}
	if u, err := config.ParseDrainURL(d.URL); err == nil {
		out.URL = u.Normalized // as the channel view shows it
	}
	for node, doc := range docs {
		var n nodeStatus
		if json.Unmarshal(doc, &n) != nil {
			continue
		}
		n.Node = node
		out.Delivered += n.Delivered
		out.Dropped += n.Dropped
		out.Retries += n.Retries
		out.Bytes += n.Bytes
		out.Buffered += n.Buffered
		out.Spilled += n.Spilled
		out.SpillLagSeconds = max(out.SpillLagSeconds, n.SpillLagSeconds)
		out.Nodes = append(out.Nodes, n)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	body, _ := json.Marshal(out)
	reply(q.w, http.StatusOK, "", body)
}
