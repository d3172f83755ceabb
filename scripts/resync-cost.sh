#!/usr/bin/env bash
# Idle config resync cost, A/B: each binary runs `logplex dataplane` against
# its own redis-server holding the same config (CHANNELS channels with a
# token each, DRAINS drains), both at once, and a third, "0", runs B with
# no resync in the window (--resync-interval 24h): the floor, what an idle
# data plane of that size costs without any resync. After the first load,
# the script measures for DURATION seconds each data plane's CPU
# (utime+stime from /proc/<pid>/stat), its peak RSS (VmRSS sampled every
# second), the Redis commands it caused (INFO commandstats deltas) and
# Redis's CPU. A side's resync cost is its CPU minus the floor's.
#
#   scripts/resync-cost.sh A_BINARY B_BINARY [DURATION_S] [extra dataplane flags…]
#   env: CHANNELS=100000 DRAINS=10000 RESYNC=60s
set -euo pipefail
A=$1 B=$2 DURATION=${3:-180}
shift $(( $# < 3 ? $# : 3 ))
CHANNELS=${CHANNELS:-100000} DRAINS=${DRAINS:-10000} RESYNC=${RESYNC:-60s}
dir=$(mktemp -d /tmp/resync-cost.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

python3 - "$CHANNELS" "$DRAINS" >"$dir/config.resp" <<'PY'
import sys
n, d = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*a):
    b = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x.encode()
        b.append(b"$%d\r\n%s\r\n" % (len(x), x))
    out.write(b"".join(b))
cmd("SET", "logplex:config:epoch", "0123456789abcdef0123456789abcdef")
for i in range(1, n + 1):
    cmd("HSET", "ch:%d:data" % i, "name", "app%d" % i, "flags", "")
    cmd("HSET", "tok:t.%d:data" % i, "ch", str(i), "name", "app")
for i in range(1, d + 1):
    cmd("HSET", "drain:%d:data" % i, "ch", str(i), "token", "d.%d" % i, "url", "http://127.0.0.1:9/d%d" % i, "state", "provisioned")
PY

start_side() { # name binary redis_port base_port
	local name=$1 bin=$2 rport=$3 base=$4
	shift 4
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/$name-redis.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis-cli -p "$rport" --pipe <"$dir/config.resp" >/dev/null
	redis-cli -p "$rport" config resetstat >/dev/null
	local t0; t0=$(date +%s.%N)
	LOGPLEX_CONFIG_REDIS_URL=redis://127.0.0.1:$rport "$bin" dataplane --resync-interval "$RESYNC" \
		--syslog-addr 127.0.0.1:$((base)) --http-input-addr 127.0.0.1:$((base + 1)) --admin-addr 127.0.0.1:$((base + 2)) \
		--allow-private-drains "$@" >"$dir/$name.log" 2>&1 &
	local pid=$!
	pids+=($pid)
	echo "$pid $t0" >"$dir/$name.start"
}
loads() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^logplex_config_full_loads_total /{print $2}'; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/{print $2/1024}' "/proc/$1/status"; }
cmdstat() { redis-cli -p "$1" info commandstats | tr -d '\r' | awk -F'[:=,]' -v c="cmdstat_$2" '$1==c{print $3}' | sed 's/^$/0/'; }
rcpu() { redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{print s}'; }

start_side A "$A" 16379 17001 "$@"
start_side B "$B" 16380 17101 "$@"
RESYNC=24h start_side 0 "$B" 16381 17201 --full-resync-interval 24h "$@"
read -r pa ta <"$dir/A.start"
read -r pb tb <"$dir/B.start"
read -r pz tz <"$dir/0.start"
for side in "A 17003 $pa $ta" "B 17103 $pb $tb" "0 17203 $pz $tz"; do
	set -- $side
	until [ "$(loads "$2" 2>/dev/null)" ] && [ "$(loads "$2")" -ge 1 ]; do sleep 0.05; done
	echo "$1: first load done after $(echo "$(date +%s.%N) - $4" | bc) s (includes the other side's concurrent load), CPU $(cpu "$3") s, RSS $(rss "$3") MB"
done
sleep 5
declare -A c0 r0 h0 s0 l0 k0 peak
for s in "A 16379 17003 $pa" "B 16380 17103 $pb" "0 16381 17203 $pz"; do
	set -- $s
	c0[$1]=$(cpu "$4"); r0[$1]=$(rcpu "$2"); h0[$1]=$(cmdstat "$2" hgetall); s0[$1]=$(cmdstat "$2" scan)
	l0[$1]=$(loads "$3"); k0[$1]=$(curl -s "http://127.0.0.1:$3/metrics" | awk '/^logplex_config_resyncs_skipped_total /{print $2}'); peak[$1]=0
done
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
	for s in "A $pa" "B $pb" "0 $pz"; do set -- $s; r=$(rss "$2"); peak[$1]=$(echo "if ($r > ${peak[$1]}) $r else ${peak[$1]}" | bc); done
	sleep 1
done
echo "window ${DURATION}s, --resync-interval $RESYNC, $CHANNELS channels + $CHANNELS tokens + $DRAINS drains"
printf '%-4s %12s %14s %14s %10s %10s %12s %12s %12s\n' side "dp CPU s" "dp core-s/min" "redis CPU s" HGETALL SCAN "full loads" "skipped" "peak RSS MB"
for s in "A 16379 17003 $pa" "B 16380 17103 $pb" "0 16381 17203 $pz"; do
	set -- $s
	c=$(echo "$(cpu "$4") - ${c0[$1]}" | bc -l); r=$(echo "$(rcpu "$2") - ${r0[$1]}" | bc -l)
	h=$(( $(cmdstat "$2" hgetall) - ${h0[$1]:-0} )); sc=$(( $(cmdstat "$2" scan) - ${s0[$1]:-0} ))
	l=$(( $(loads "$3") - ${l0[$1]} )); k=$(curl -s "http://127.0.0.1:$3/metrics" | awk '/^logplex_config_resyncs_skipped_total /{print $2}')
	[ -n "${k0[$1]}" ] && [ -n "$k" ] && k=$(( k - ${k0[$1]} )) || k=-
	printf '%-4s %12.2f %14.3f %14.2f %10d %10d %12d %12s %12.0f\n' "$1" "$c" "$(echo "$c * 60 / $DURATION" | bc -l)" "$r" "$h" "$sc" "$l" "$k" "${peak[$1]}"
done
