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
// bench imports frame and the standard library (docs/architecture.md's
// import rules allow frame and config); only cmd/logplex imports bench,
// whose `logplex bench` is Main (cli.go: the command's flags and wiring).
package bench
