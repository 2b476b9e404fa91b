#!/usr/bin/env bash
# 3-node SET/s on the leader as the number of clients grows (CS="25 50 100
# 200" by default; N requests each, 100-byte values, random keys over 100k):
# shows how much of a write's cost is paid per log batch rather than per
# write (more clients, larger batches). Needs redis-benchmark and redis-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
N=${N:-150000}
W=${BENCH_DIR:-$(pwd)/bench-work}/raft3-clients
rm -rf "$W"
mkdir -p "$W"
PEERS=1=127.0.0.1:8441,2=127.0.0.1:8442,3=127.0.0.1:8443
for id in 1 2 3; do
  start_bg "$W/n$id.log" "$BIN" --id "$id" --data-dir "$W/n$id" --listen "127.0.0.1:744$id" \
    --peer-listen "127.0.0.1:844$id" --peers "$PEERS"
done
leader=$(wait_leader 7441)
port=744$leader
redis-benchmark -p "$port" -c 50 -n 50000 -d 100 -r 100000 -t set -q >/dev/null # warm-up
echo "target,test,rps,avg_ms,p50_ms,p95_ms,p99_ms,max_ms"
for c in ${CS:-25 50 100 200}; do
  bench_csv "3 nodes -c $c" "$port" -c "$c" -n "$N" -d 100 -r 100000 -t set
done
