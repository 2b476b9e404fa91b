#!/usr/bin/env bash
# redis-benchmark against snowflk-server and the durable redis-server
# reference, side by side in one run on one machine (issue 9).
#
#   scripts/bench-server.sh [REQUESTS]      default 200000 requests per test
#
# Needs: redis-benchmark and redis-server (Debian: apt-get install -y
# redis-tools redis-server). Builds snowflk-server in release mode.
# Targets, in this order, every one with its data on the same disk:
#   redis-aof-always  redis-server --appendonly yes --appendfsync always
#   snowflk-none      one node, --replication none (the engine under Always)
#   snowflk-raft1     one node, --replication raft (a one-member cluster)
#   snowflk-raft3     three nodes, the benchmark talks to the leader
#   snowflk-raft3-f   three nodes, the benchmark talks to a follower
# Every test: 50 clients, 100-byte values, random keys over 100k, SET then
# GET, without pipelining and with -P 16. Output: one CSV line per test on
# stdout (target,test,pipeline,rps,avg,p50,p95,p99,max; latencies in ms).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-200000}
CLIENTS=${CLIENTS:-50}
WORK=${BENCH_DIR:-$(pwd)/bench-work}
rm -rf "$WORK"
mkdir -p "$WORK"
source scripts/bench-lib.sh

run_tests() { # target port
  local target=$1 port=$2
  for pipeline in 1 16; do
    bench_csv "$target" "$port" -c "$CLIENTS" -n "$REQUESTS" -d 100 -r 100000 \
      -P "$pipeline" -t set,get |
      while IFS=, read -r t test rest; do echo "$t,$test,$pipeline,$rest"; done
  done
}

echo "target,test,pipeline,rps,avg_ms,p50_ms,p95_ms,p99_ms,max_ms"

# The reference: redis with every write fsynced before the reply.
mkdir -p "$WORK/redis"
redis-server --port 7400 --dir "$WORK/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ping 7400
run_tests redis-aof-always 7400
stop_all

"$BIN" --data-dir "$WORK/none" --listen 127.0.0.1:7410 --replication none \
  >"$WORK/none.log" 2>&1 &
PIDS+=($!)
wait_ping 7410
run_tests snowflk-none 7410
stop_all

"$BIN" --data-dir "$WORK/raft1" --listen 127.0.0.1:7420 >"$WORK/raft1.log" 2>&1 &
PIDS+=($!)
wait_ping 7420
run_tests snowflk-raft1 7420
stop_all

PEERS=1=127.0.0.1:8431,2=127.0.0.1:8432,3=127.0.0.1:8433
for id in 1 2 3; do
  "$BIN" --id "$id" --data-dir "$WORK/raft3-n$id" --listen "127.0.0.1:743$id" \
    --peer-listen "127.0.0.1:843$id" --peers "$PEERS" >"$WORK/raft3-n$id.log" 2>&1 &
  PIDS+=($!)
done
for id in 1 2 3; do wait_ping "743$id"; done
leader=$(wait_leader 7431)
follower=$(( leader % 3 + 1 ))
run_tests snowflk-raft3 "743$leader"
run_tests snowflk-raft3-f "743$follower"
stop_all
