// Package bench is logplex's end-to-end benchmark suite, `logplex bench`:
// it starts the real binary (or measures a running one), feeds it from its
// own load generator, receives every drain's output in its own sinks, and
// reports throughput, router CPU per million messages (from /proc), latency
// percentiles, RSS and losses as a table, JSON and an SVG plot.
//
//	load generator ──TCP / POST /logs──► logplex all ──drains──► HTTP sink, TCP sink
//	(N conns, rate or max,               (CPU, RSS from  ──tails───► tail reader
//	 uniform or Zipf tokens)              /proc/<pid>)
//	load generator ──TCP──► `logplex bench relay` (plain copy) ──► TCP sink   (baseline)
//
// Every message carries, after a '|' in its content, its send time, its
// connection, that connection's sequence number and its token index, and is
// padded to size with a pattern derived from the sequence number (see
// message.go). The sinks check per drain and connection that sequence
// numbers increase (order), that the padding is intact (integrity), that the
// APP-NAME is the token's name and the drain belongs to the token's channel
// (routing), and take latency as receive time minus send time.
//
// A scenario (scenario.go) is set up through the v2 API, warmed up until
// every drain has received a message, then measured for --duration; the
// suite waits for the deliveries it expects, reads the router's counters and
// /proc, and tears everything down. "name@rate" runs at a fixed rate;
// "name@sustained" searches the highest rate without loss.
//
// The platform scenario (platform.go, probe.go) is the exception to the
// API setup: its 100 000 channels, 300 000 tokens and 22 000 drains are
// written straight into the config Redis before the router starts, in the
// store's keys and hashes (config.ChannelKey, TokenHash, …) with the id
// counters and the config epoch, through a minimal pipelined RESP client
// (redisconf.go). Besides the common figures it reports the config's size
// (keys, bytes, Redis memory), the load time (router start to /readyz),
// requests (HTTP) and reads (syslog) per message at the sinks, config-change
// latency under load (probes: a token or drain created through the API, then
// a message a millisecond on it until the probe sink sees one) and the idle
// resync cost (router CPU from /proc over two resync intervals without
// traffic, per resync: a full load or a check that loaded nothing). --scale shrinks it; --quick runs it tiny.
//
// bench imports frame, the standard library and x/net/http2 (the HTTP
// sink's cleartext HTTP/2, sink_h2.go; docs/architecture.md's import rules
// allow frame and config of ours); only cmd/logplex imports bench,
// whose `logplex bench` is Main (cli.go: the command's flags and wiring).
package bench
