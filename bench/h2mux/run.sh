#!/bin/bash
# The HTTP/1.1-per-drain against shared-HTTP/2 measurement (bench/h2mux/README.md):
#   bench/h2mux/run.sh            3 rounds, then strace counts and the reference runs
#   ROUNDS="1 2 3 4 5" ONLYMAIN=1 bench/h2mux/run.sh
# Results go to results.txt in a work directory it prints (needs taskset, strace, bc; the
# server listens on 127.0.0.1:8080).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
mkdir -p "$work/bin"
(cd "$root" && go build -o "$work/bin/client" ./bench/h2mux/client && go build -o "$work/bin/server" ./bench/h2mux/server) || exit 1
cd "$work" || exit 1
echo "work directory: $work"
OUT=results.txt; : > $OUT
STRACE=
run() { # label servermode clientargs... ; env STRACE=1 for strace round
  local label=$1 smode=$2; shift 2
  taskset -c 0 bin/server -mode $smode > srv.out 2>&1 & local SP=$!
  sleep 0.5
  taskset -c 1 bin/client -spid $SP "$@" > cli.out 2> cli.err & local CP=$!
  if [ -n "$STRACE" ]; then
    sleep 4; kill -USR1 $CP
    timeout -s INT 3 strace -c -f -p $CP -o strace.$label.txt 2>/dev/null
    kill -USR1 $CP
  fi
  wait $CP; local crc=$?
  kill -TERM $SP; wait $SP
  local total=$(awk '/^TOTAL/{print $3}' cli.out | cut -d= -f2) scount=$(awk '/server_count/{print $2}' srv.out)
  local ok=MISMATCH; [ "$total" = "$scount" ] && ok=countOK
  echo "$label round=$ROUND rc=$crc $(grep RESULT cli.out) client_completed=$total server_count=$scount $ok" | tee -a $OUT
  if [ -n "$STRACE" ]; then
    local reqs=$(awk '/progress/{c[n++]=$3} END{print c[1]-c[0]}' cli.err)
    local calls=$(awk '$NF=="total"{print $4}' strace.$label.txt)
    echo "  STRACE $label reqs=$reqs syscalls=$calls per_req=$(echo "scale=2;$calls/$reqs"|bc)" | tee -a $OUT
    grep -v -e '^-' -e '^%' strace.$label.txt | sort -k4 -nr | head -6 | awk '{print "    ", $NF, $4}' | tee -a $OUT
  fi
}
for ROUND in ${ROUNDS:-1 2 3}; do
  run h1   h1    -mode h1
  run h2x1 h2raw -mode h2 -conns 1
  run h2x4 h2raw -mode h2 -conns 4
done
[ -n "${ONLYMAIN:-}" ] && exit 0
ROUND=strace
STRACE=1 run h1   h1    -mode h1
STRACE=1 run h2x1 h2raw -mode h2 -conns 1
STRACE=1 run h2x4 h2raw -mode h2 -conns 4
ROUND=extra
run null          h1     -mode null
run h2x1-noyield  h2raw  -mode h2 -conns 1 -yield=false
run h2x4-noyield  h2raw  -mode h2 -conns 4 -yield=false
run h2x1-nethttp  h2     -mode h2 -conns 1
run h2x4-nethttp  h2     -mode h2 -conns 4
run h1-nethttp    h1std  -mode h1
run h1-15k        h1     -mode h1 -rate 15000
run h2x1-15k      h2raw  -mode h2 -conns 1 -rate 15000
