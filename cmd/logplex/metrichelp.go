package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// writeMetrics writes every registered metric in the Prometheus text
// format, as `promtool check metrics` wants it: VictoriaMetrics/metrics
// writes "# HELP <name>" with no text, so each family gets its text from
// metricHelp; its Go and process families get the types and names the
// Prometheus conventions ask for (cumulative process_io_*_total are
// counters, not gauges; "_count" is reserved to histograms and summaries,
// so go_cgo_calls_count, go_gc_forced_count and go_cpu_count are written
// as go_cgo_calls_total, go_gc_forced_total and go_cpus).
//
// The admin listener is not a hot path: one scrape formats into a buffer
// and rewrites it line by line.
func writeMetrics(w io.Writer) {
	var b bytes.Buffer
	metrics.WritePrometheus(&b, true)
	out := make([]byte, 0, b.Len()+b.Len()/2)
	for line := range bytes.Lines(b.Bytes()) {
		out = appendExposed(out, line)
	}
	_, _ = w.Write(out)
}

// renamed are library families written under another name.
var renamed = map[string]string{
	"go_cgo_calls_count": "go_cgo_calls_total",
	"go_gc_forced_count": "go_gc_forced_total",
	"go_cpu_count":       "go_cpus",
}

// retyped are library families whose # TYPE is corrected.
var retyped = map[string]string{
	"process_io_read_bytes_total": "counter", "process_io_written_bytes_total": "counter",
	"process_io_read_syscalls_total": "counter", "process_io_write_syscalls_total": "counter",
	"process_io_storage_read_bytes_total": "counter", "process_io_storage_written_bytes_total": "counter",
}

func appendExposed(out, line []byte) []byte {
	s := string(bytes.TrimRight(line, "\n"))
	switch {
	case strings.HasPrefix(s, "# HELP "):
		name := rename(strings.Fields(s)[2])
		out = append(out, "# HELP "+name+" "+helpFor(name)...)
	case strings.HasPrefix(s, "# TYPE "):
		f := strings.Fields(s)
		name, typ := rename(f[2]), f[3]
		if t, ok := retyped[name]; ok {
			typ = t
		}
		out = append(out, "# TYPE "+name+" "+typ...)
	default:
		for old, nu := range renamed {
			if rest, ok := strings.CutPrefix(s, old); ok && (rest == "" || rest[0] == ' ' || rest[0] == '{') {
				s = nu + rest
				break
			}
		}
		out = append(out, s...)
	}
	return append(out, '\n')
}

func rename(name string) string {
	if n, ok := renamed[name]; ok {
		return n
	}
	return name
}

// helpFor is name's HELP text; a family without one says so, and the
// metrics tests fail on it.
func helpFor(name string) string {
	if h, ok := metricHelp[name]; ok {
		return h
	}
	return "(no help text: add one to metricHelp in cmd/logplex/metrichelp.go)"
}

// metricHelp is the HELP text of every metric family logplex exposes.
var metricHelp = map[string]string{
	// ingest
	"logplex_message_received_total":                  "Messages received on any input (TCP syslog, TLS syslog, POST /logs).",
	"logplex_message_processed_total":                 "Messages routed to a channel (history, drains, tails).",
	"logplex_message_received_malformed_total":        "Frames skipped because they do not parse as syslog (counted, connection kept).",
	"logplex_message_batch_processed_total":           "Batches (one read or one POST /logs body) routed.",
	"logplex_message_batch_messages":                  "Messages per routed batch.",
	"logplex_unknown_token_total":                     "Messages dropped because their token is in no channel of the current config.",
	"logplex_unknown_channel_total":                   "Messages whose token names a channel the config does not hold.",
	"logplex_drain_unparsable_total":                  "Messages for HTTP drains that the drain parser rejects (kept in history and tails, sent to no drain).",
	"logplex_tcp_connections":                         "Open TCP syslog connections.",
	"logplex_tcp_connections_accepted_total":          "TCP syslog connections accepted.",
	"logplex_tcp_connections_rejected_total":          "TCP syslog connections refused at --max-tcp-connections.",
	"logplex_tcp_bytes_received_total":                "Bytes read from TCP syslog connections.",
	"logplex_tls_connections":                         "Open syslog-over-TLS connections.",
	"logplex_logs_requests_total":                     "POST /logs requests by answer status (code).",
	"logplex_logs_overload_rejected_total":            "POST /logs requests answered 503 because --max-inflight-logs-bytes or 80% of GOMEMLIMIT was reached.",
	"logplex_logs_inflight_bytes":                     "POST /logs body bytes held right now.",
	"logplex_logs_duplicate_frames_total":             "POST /logs retries recognised by Logplex-Frame-Id and acknowledged without routing again.",
	"logplex_logs_dedup_errors_total":                 "Logplex-Frame-Id lookups that failed (the frame was routed).",
	"logplex_firehose_post_total":                     "Messages copied to a firehose channel (channel).",
	"logplex_accept_errors_total":                     "Accept errors of a listener (listener), e.g. out of file descriptors; retried, pending connections wait in the backlog.",
	"logplex_tcp_connections_idle_closed_total":       "TCP syslog connections closed after --syslog-idle-timeout without a byte.",
	"logplex_tcp_connections_frame_timeout_total":     "TCP syslog connections closed for holding an incomplete frame longer than --syslog-frame-timeout.",
	"logplex_tcp_partial_frame_bytes_discarded_total": "Bytes of incomplete syslog frames discarded with their connection.",
	"logplex_logs_trailing_bytes_discarded_total":     "Bytes of a POST /logs body's trailing incomplete frame, ignored.",
	"logplex_logs_requests_without_frames_total":      "POST /logs requests whose body holds no frame at all.",
	"logplex_logs_frame_ids_over_limit_total":         "POST /logs requests routed without de-duplication: their sender is over --max-frame-ids-per-sender.",
	"logplex_shutdown_discarded_bytes_total":          "Bytes a shutdown discarded: still received (in gnet or the kernel) when a syslog connection was closed.",
	"logplex_shutdown_discarded_frames_total":         "Complete syslog frames in the bytes a shutdown discarded.",
	"logplex_shutdown_refused_connections_total":      "Syslog connections opened during a shutdown, closed at once.",
	"logplex_admin_refused_total":                     "Admin requests refused (reason: host, origin, token).",
	// drains
	"logplex_drains_retries_total":                  "Batches all drains of this node sent again.",
	"logplex_tcp_reads_total":                       "Read events of the syslog TCP listener (each routes what one read returned).",
	"logplex_tcp_connections_coalescing":            "Syslog TCP connections whose receive low-water mark is raised (--syslog-read-coalesce).",
	"logplex_tcp_read_coalesce_changes_total":       "Receive low-water mark changes made from a connection's measured rate (--syslog-read-coalesce).",
	"logplex_tcp_read_coalesce_quiet_total":         "Receive low-water marks lowered because the connection went quiet (--syslog-read-coalesce).",
	"logplex_drains_bytes_total":                    "Bytes all drains of this node wrote, after compression.",
	"logplex_drain_http2_connections":               "Shared HTTP/2 connections of HTTP drains open on this node (--http-drain-http2).",
	"logplex_drain_http2_fallbacks_total":           "Receivers found not to speak HTTP/2 (their drains use HTTP/1.1 for 10 minutes before HTTP/2 is tried again).",
	"logplex_drain_http2_connection_failures_total": "Shared HTTP/2 connections that failed (read or write error, protocol error of the receiver, a receiver silent past a request timeout); their drains reconnect.",
	"logplex_drain_http2_requests_total":            "Requests HTTP drains sent on shared HTTP/2 connections.",
	"logplex_drain_http2_writes_total":              "Writes of the shared HTTP/2 connections (each carries every request queued since the previous one): requests per write is the coalescing.",
	"logplex_drain_series_drains":                   "Drains of this node that export their own metric series (at most --max-drain-metric-series).",
	"logplex_drain_series_capped_total":             "Drains whose first message found --max-drain-metric-series reached: no series of their own (they count in the totals). Drains register their series with their first message.",
	"logplex_drain_delivered_total":                 "Messages delivered by all drains of this node.",
	"logplex_drain_dropped_total":                   "Messages lost by all drains of this node (buffer overflow, permanent failure, retries exhausted).",
	"logplex_drain_messages_delivered_total":        "Messages one drain delivered (drain_id, drain_type: http, tcpsyslog, tlssyslog or otlp).",
	"logplex_drain_messages_dropped_total":          "Messages one drain lost (drain_id, drain_type).",
	"logplex_drain_retries_total":                   "Batches one drain sent again (drain_id, drain_type).",
	"logplex_drain_bytes_total":                     "Bytes one drain wrote, after compression (drain_id, drain_type).",
	"logplex_drain_request_duration_seconds":        "Time of one drain's requests or writes (drain_id, drain_type).",
	"logplex_drain_buffer_depth":                    "Messages buffered by one drain (drain_id, drain_type).",
	"logplex_drain_spill_bytes":                     "Bytes the drains' disk spill holds on this node (segment files, reserved space included).",
	"logplex_drain_spill_budget_bytes":              "The disk spill's budget on this node (--drain-spill-max-bytes).",
	"logplex_drain_buffers_bytes":                   "Memory held by the buffers of all drains on this node (their byte buffers and indexes), counted against --drain-buffers-max-bytes.",
	"logplex_drain_buffers_max_bytes":               "The budget of the drain buffers on this node (--drain-buffers-max-bytes, at most half of GOMEMLIMIT).",
	"logplex_drain_buffers_shed_total":              "Messages drain buffers dropped (oldest first, reported by L10) to keep the node within --drain-buffers-max-bytes; those a drain's disk spill took instead are not counted.",
	"logplex_drain_spill_spilled_total":             "Messages drain buffers moved to their disk spill instead of dropping them (counted once written).",
	"logplex_drain_spill_unspilled_total":           "Messages taken back from the disk spill and settled by their drain's sender (delivered or dropped).",
	"logplex_drain_spill_full_total":                "Messages a full drain buffer could not spill: the drain's or node's spill budget was exhausted (dropped, L10).",
	"logplex_drain_spill_errors_total":              "Disk spill failures: a directory that cannot be opened, a write that fails (disk full, unwritable), a damaged record skipped.",
	"logplex_drain_spill_lost_total":                "Messages lost by the disk spill after it took them: failed writes, and the torn tail of a segment cut after a crash.",
	// history
	"logplex_history_written_total":          "Messages written to channel history (Redis shards or the embedded store).",
	"logplex_history_dropped_total":          "Messages not written to history (queue full, store error, deny_redis_buffers).",
	"logplex_history_flush_duration_seconds": "Time of one history pipeline to Redis.",
	"logplex_history_flush_messages":         "Messages per history pipeline to Redis.",
	"logplex_history_queue_batches":          "History batches queued for Redis.",
	"logplex_redis_errors_total":             "Failed Redis round trips (a failed history pipeline counts once) and failed config calls.",
	// config
	"logplex_config_load_errors_total":               "Config loads or change-feed reads that failed (the last snapshot is kept).",
	"logplex_config_snapshots_total":                 "Config snapshots adopted.",
	"logplex_config_change_delay_seconds":            "Time from a change-feed entry's write (the Redis server's clock, its stream id) to the snapshot holding it published on this node: how long a change takes to reach routing (Redis stores only).",
	"logplex_config_full_loads_total":                "Full config loads (start, feed gap, a resync check that could not rule out a missed change, full resync interval).",
	"logplex_config_resyncs_skipped_total":           "Resync checks that found no change missed and skipped the full config load.",
	"logplex_config_resync_check_cpu_seconds_total":  "CPU time this process used while resync checks ran (with whatever else ran at that moment): the cost of a resync that loads nothing.",
	"logplex_config_version":                         "Change-feed position of the newest config snapshot (the ms part of a Redis stream id; a count on the embedded store).",
	"logplex_config_last_snapshot_timestamp_seconds": "Unix time the newest config snapshot was published (every full load and change batch) or confirmed current by a resync check: config freshness.",
	"logplex_control_rod":                            "Control rods: 1 for the state each rod is in (rod, state), 0 for its other states.",
	"logplex_config_notified_keys_total":             "Config key changes announced by Redis keyspace notifications (writes by other tools).",
	"logplex_config_other_writer_changes_total":      "Config changes made by another writer than logplex (e.g. redis-cli) and applied.",
	"logplex_config_notifications_active":            "1 while Redis keyspace notifications for config keys are received, 0 otherwise.",
	"logplex_config_refused":                         "1 while this node refuses the store's config (the config guard: lost epoch or shrink); logplex config accept adopts it.",
	"logplex_config_refused_total":                   "Full config reloads the config guard refused.",
	// API and tails
	"logplex_tail_bus_unheard_total":        "Tail messages published to no subscriber (a control plane re-subscribing, a session just ended); the subscribers report them as L11 from the gap in the channel's sequence.",
	"logplex_api_requests_total":            "API requests by listener (api), endpoint and status class (code).",
	"logplex_api_refused_total":             "API requests refused by a bound (reason; docs/security.md).",
	"logplex_api_connections_refused_total": "API connections closed at once beyond --max-api-connections (api).",
	"logplex_api_accept_errors_total":       "Accept errors of an API listener (api), e.g. out of file descriptors; retried.",
	"logplex_tail_sessions":                 "Live tail sessions on this control plane.",
	"logplex_tail_sessions_killed_total":    "Tail sessions ended by the operator (kill_tail_sessions).",
	"logplex_tail_buffers_bytes":            "Bytes of the messages the live tail sessions of this node hold (buffered, and handed to a session that has not written them yet), counted against --tail-buffers-max-bytes.",
	"logplex_tail_buffers_max_bytes":        "The budget of the tail sessions' buffers on this node (--tail-buffers-max-bytes, at most a quarter of GOMEMLIMIT).",
	"logplex_tail_buffers_shed_total":       "Messages tail sessions dropped (oldest first, reported by L11) to keep the node within --tail-buffers-max-bytes.",
	"logplex_tail_sessions_refused_total":   "Tail sessions refused at --max-tail-sessions or --max-tails-per-channel.",
	"logplex_tail_buffer_dropped_total":     "Tail messages dropped because a session's buffer was full.",
	"logplex_tail_bus_published_total":      "Tail messages published to Redis pub/sub.",
	"logplex_tail_bus_dropped_total":        "Tail messages not published (queue full, or a Redis error or timeout).",
	"logplex_tail_bus_received_total":       "Tail messages received from Redis pub/sub.",
	"logplex_tail_bus_bad_payloads_total":   "Tail pub/sub payloads that did not decode (skipped).",
	"logplex_tail_bus_resubscribes_total":   "Redis pub/sub subscriptions made again after a connection loss.",
	"logplex_tail_bus_missing_total":        "Tail messages a subscriber found missing from a publisher's sequence (lost between the data plane and this node); reported to the sessions as L11.",
	// Go runtime (VictoriaMetrics/metrics)
	"go_sched_latencies_seconds":          "Time goroutines waited to run.",
	"go_mutex_wait_seconds_total":         "Time goroutines spent blocked on mutexes.",
	"go_gc_mark_assist_cpu_seconds_total": "CPU time goroutines spent assisting the garbage collector.",
	"go_gc_cpu_seconds_total":             "CPU time spent in the garbage collector.",
	"go_gc_pauses_seconds":                "Stop-the-world pauses of the garbage collector.",
	"go_scavenge_cpu_seconds_total":       "CPU time spent returning memory to the OS.",
	"go_memlimit_bytes":                   "The Go memory limit (GOMEMLIMIT).",
	"go_memstats_alloc_bytes":             "Heap bytes allocated and in use.",
	"go_memstats_alloc_bytes_total":       "Heap bytes allocated, in total.",
	"go_memstats_buck_hash_sys_bytes":     "Bytes of the profiling bucket hash table.",
	"go_memstats_frees_total":             "Heap objects freed.",
	"go_memstats_gc_cpu_fraction":         "Fraction of CPU time used by the garbage collector since start.",
	"go_memstats_gc_sys_bytes":            "Bytes of garbage collector metadata.",
	"go_memstats_heap_alloc_bytes":        "Heap bytes allocated and in use.",
	"go_memstats_heap_idle_bytes":         "Heap bytes idle.",
	"go_memstats_heap_inuse_bytes":        "Heap bytes in use.",
	"go_memstats_heap_objects":            "Heap objects allocated.",
	"go_memstats_heap_released_bytes":     "Heap bytes returned to the OS.",
	"go_memstats_heap_sys_bytes":          "Heap bytes obtained from the OS.",
	"go_memstats_last_gc_time_seconds":    "Unix time of the last garbage collection.",
	"go_memstats_lookups_total":           "Pointer lookups by the runtime.",
	"go_memstats_mallocs_total":           "Heap objects allocated, in total.",
	"go_memstats_mcache_inuse_bytes":      "Bytes of mcache structures in use.",
	"go_memstats_mcache_sys_bytes":        "Bytes of mcache structures obtained from the OS.",
	"go_memstats_mspan_inuse_bytes":       "Bytes of mspan structures in use.",
	"go_memstats_mspan_sys_bytes":         "Bytes of mspan structures obtained from the OS.",
	"go_memstats_next_gc_bytes":           "Heap size at which the next garbage collection starts.",
	"go_memstats_other_sys_bytes":         "Bytes of other runtime allocations.",
	"go_memstats_stack_inuse_bytes":       "Bytes of goroutine stacks in use.",
	"go_memstats_stack_sys_bytes":         "Bytes of goroutine stacks obtained from the OS.",
	"go_memstats_sys_bytes":               "Bytes obtained from the OS by the Go runtime.",
	"go_cgo_calls_total":                  "Calls to C made by the process.",
	"go_cpus":                             "Logical CPUs usable by the process.",
	"go_gc_duration_seconds":              "Garbage collection pause durations.",
	"go_gc_forced_total":                  "Garbage collections forced by the application.",
	"go_gomaxprocs":                       "GOMAXPROCS.",
	"go_goroutines":                       "Goroutines.",
	"go_threads":                          "OS threads created by the runtime.",
	"go_info":                             "Go version of the binary (version).",
	"go_info_ext":                         "Go runtime settings (compiler, GOARCH, GOOS, …).",
	// process (VictoriaMetrics/metrics, Linux)
	"process_cpu_seconds_system_total":              "CPU time in the kernel.",
	"process_cpu_seconds_total":                     "CPU time, user and kernel.",
	"process_cpu_seconds_user_total":                "CPU time in user space.",
	"process_major_pagefaults_total":                "Major page faults.",
	"process_minor_pagefaults_total":                "Minor page faults.",
	"process_num_threads":                           "OS threads of the process.",
	"process_resident_memory_bytes":                 "Resident memory (RSS).",
	"process_start_time_seconds":                    "Unix time the process started.",
	"process_virtual_memory_bytes":                  "Virtual memory size.",
	"process_virtual_memory_peak_bytes":             "Peak virtual memory size.",
	"process_resident_memory_peak_bytes":            "Peak resident memory.",
	"process_resident_memory_anon_bytes":            "Resident anonymous memory.",
	"process_resident_memory_file_bytes":            "Resident file-backed memory.",
	"process_resident_memory_shared_bytes":          "Resident shared memory.",
	"process_io_read_bytes_total":                   "Bytes read, page cache included.",
	"process_io_written_bytes_total":                "Bytes written, page cache included.",
	"process_io_read_syscalls_total":                "Read system calls.",
	"process_io_write_syscalls_total":               "Write system calls.",
	"process_io_storage_read_bytes_total":           "Bytes read from storage.",
	"process_io_storage_written_bytes_total":        "Bytes written to storage.",
	"process_pressure_cpu_waiting_seconds_total":    "Time some runnable threads waited for CPU (PSI).",
	"process_pressure_cpu_stalled_seconds_total":    "Time all threads were stalled waiting for CPU (PSI).",
	"process_pressure_io_waiting_seconds_total":     "Time some threads waited for I/O (PSI).",
	"process_pressure_io_stalled_seconds_total":     "Time all threads were stalled on I/O (PSI).",
	"process_pressure_memory_waiting_seconds_total": "Time some threads waited for memory (PSI).",
	"process_pressure_memory_stalled_seconds_total": "Time all threads were stalled waiting for memory (PSI).",
}
