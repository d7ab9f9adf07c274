#!/usr/bin/env bash
# Counts the user-space instructions one e2e server spends per request,
# under callgrind: deterministic where the e2e benchmark's CPU times wander.
#
#   bench/scripts/e2e-instructions.sh [mode ...] [-- requests]
#
# Modes are the e2e benchmark's (built-out, sample-0, discard; default all
# three). Each server runs under callgrind; 500 requests warm it up, then
# the counters are zeroed, REQUESTS (default 2000) requests are made over
# four keep-alive connections, and the count is dumped. Needs valgrind and
# python3; builds the e2e binary first. Output files stay in $OUT
# (default target/e2e-callgrind) for callgrind_annotate.
set -euo pipefail

cd "$(dirname "$0")/../.."
modes=()
requests=2000
while [ $# -gt 0 ]; do
    case "$1" in
        --) requests="$2"; shift 2 ;;
        *) modes+=("$1"); shift ;;
    esac
done
[ ${#modes[@]} -gt 0 ] || modes=(built-out sample-0 discard)
out=${OUT:-target/e2e-callgrind}
mkdir -p "$out"
cargo build --release -q -p dapple-bench --bin e2e

load() {
    python3 - "$1" "$2" <<'PY'
import http.client, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
total, conns = int(sys.argv[2]), 4
def run(k):
    c = http.client.HTTPConnection(host, int(port))
    for i in range(total // conns):
        c.request('GET', f'/chain/{k * 1000000 + i}')
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
ts = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
PY
}

for mode in "${modes[@]}"; do
    rm -f "$out/$mode".*
    log="$out/$mode.log"
    # sample-0 names an endpoint it never reaches: it sends nothing.
    DAPPLE_E2E_ROLE="server:$mode" DAPPLE_E2E_ENDPOINT=127.0.0.1:9 \
        valgrind --tool=callgrind --callgrind-out-file="$out/$mode.%p" \
        target/release/e2e > "$log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 200); do
        grep -q 'listening http=' "$log" && break
        sleep 0.5
    done
    addr=$(grep -o 'http=[0-9.:]*' "$log" | cut -d= -f2)
    load "$addr" 500
    callgrind_control -z "$pid" > /dev/null 2>&1
    load "$addr" "$requests"
    callgrind_control -d "$pid" > /dev/null 2>&1
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    trap - EXIT
    total=$(callgrind_annotate "$out/$mode.$pid.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$mode: $((total / requests)) instructions per request ($total over $requests requests)"
done
