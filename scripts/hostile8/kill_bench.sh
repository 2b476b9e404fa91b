#!/usr/bin/env bash
# hostile8: SIGKILL a one-node snowflk-server under pipelined redis-benchmark
# SET load (values bigger than the preallocation step and than a Raft log
# segment), then `snowflk-tools verify` its Raft log directory, restart it
# with the next --raft-log-preallocate-bytes, and check that every marker
# write acknowledged before each kill is still there.
#
# usage: scripts/hostile8/kill_bench.sh [ROUNDS] [SEED]
# Needs redis-benchmark and redis-cli. Builds with CARGO_TARGET_DIR
# (default /work/target-hostile8). Every process it starts is stopped on exit.
set -euo pipefail
ROUNDS=${1:-20}
SEED=${2:-8}
RANDOM=$SEED
TARGET=${CARGO_TARGET_DIR:-/work/target-hostile8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build -q -p snowflk-server -p snowflk-tools)
SERVER=$TARGET/debug/snowflk-server
TOOLS=$TARGET/debug/snowflk-tools
WORK=$(mktemp -d)
PID=""
BENCH=""
cleanup() {
  [ -n "$BENCH" ] && kill "$BENCH" 2>/dev/null || true
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL (seed $SEED round $round): $*" >&2; tail -20 "$WORK/server.stderr" >&2 || true; exit 1; }

# An OS-chosen free port for the peer listener (bind to 0, read it back).
PEER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STEPS=(1 511 513 4097 1048576 0 65536)

start() {
  rm -f "$WORK/port"
  "$SERVER" --id 1 --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-file "$WORK/port" \
    --peer-listen "127.0.0.1:$PEER_PORT" --tick-ms 10 --heartbeat-ticks 5 --election-ticks 50 \
    --raft-log-segment-bytes 65536 --raft-log-preallocate-bytes "$1" \
    --snapshot-entries 200 --snapshot-trailing-entries 10 \
    2>>"$WORK/server.stderr" &
  PID=$!
  for _ in $(seq 1 600); do
    if [ -s "$WORK/port" ]; then break; fi
    kill -0 "$PID" 2>/dev/null || fail "server exited at start"
    sleep 0.05
  done
  [ -s "$WORK/port" ] || fail "no port file"
  ADDR=$(cat "$WORK/port"); HOST=${ADDR%:*}; PORT=${ADDR##*:}
  for _ in $(seq 1 600); do
    if [ "$(redis-cli -h "$HOST" -p "$PORT" SET h8probe 1 2>/dev/null)" = "OK" ]; then return; fi
    sleep 0.05
  done
  fail "server does not accept writes after start"
}

commit_index() {
  redis-cli -h "$HOST" -p "$PORT" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^raft_commit_index://p'
}

round=0
start "${STEPS[0]}"
for round in $(seq 0 $((ROUNDS - 1))); do
  # An acknowledged marker write per round.
  [ "$(redis-cli -h "$HOST" -p "$PORT" SET "h8marker:$round" "v$round" 2>/dev/null)" = "OK" ] || fail "marker write"
  SIZES=(10 4100 70000 300000)
  D=${SIZES[$((RANDOM % 4))]}
  redis-benchmark -h "$HOST" -p "$PORT" -t set -n 1000000 -c 8 -P 16 -d "$D" -r 100000 -q >/dev/null 2>&1 &
  BENCH=$!
  base=$(commit_index); base=${base:-0}
  want=$((base + 1 + RANDOM % 400))
  for _ in $(seq 1 2000); do
    ci=$(commit_index || true)
    if [ -n "$ci" ] && [ "$ci" -ge "$want" ]; then break; fi
    sleep 0.01
  done
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  kill "$BENCH" 2>/dev/null || true; wait "$BENCH" 2>/dev/null || true; BENCH=""
  if ! out=$("$TOOLS" verify "$WORK/data/raft" 2>&1); then
    echo "$out" >&2; fail "verify reported an error after the kill (commit index >= $want, values of $D bytes)"
  fi
  echo "$out" | grep '^warning' | sed "s/^/round $round: /" || true
  start "${STEPS[$(((round + 1) % ${#STEPS[@]}))]}"
  for r in $(seq 0 "$round"); do
    got=$(redis-cli -h "$HOST" -p "$PORT" GET "h8marker:$r" 2>/dev/null)
    [ "$got" = "v$r" ] || fail "acknowledged marker h8marker:$r lost (got '$got')"
  done
  echo "round $round: killed at commit index >= $want under $D-byte SETs; verify clean; restarted; markers intact"
done
echo "seed $SEED: $ROUNDS rounds passed"
