#!/usr/bin/env bash
# A local 3-node snowflk cluster for development.
#
#   scripts/dev-cluster.sh            build (release) and start nodes 1-3, Ctrl-C stops them
#   scripts/dev-cluster.sh --clean    the same, after removing ./dev-cluster data
#
# Clients: redis-cli -p 7001 / 7002 / 7003. Peers: 127.0.0.1:8001-8003.
# Data and logs: ./dev-cluster/n<id>/ and ./dev-cluster/n<id>.log.
# Try:
#   redis-cli -p 7001 SET greeting hello      # written via node 1 (forwarded to the leader)
#   redis-cli -p 7003 GET greeting            # read on node 3
#   redis-cli -p 7002 SNOWFLK LEADER          # which node leads
#   kill -9 <pid of the leader, printed below> # the next leader takes over within a second
#   redis-cli -p 7002 INFO replication
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=dev-cluster
if [[ "${1:-}" == "--clean" ]]; then rm -rf "$DIR"; fi
mkdir -p "$DIR"
cargo build --release -p snowflk-server
BIN=${CARGO_TARGET_DIR:-target}/release/snowflk-server
PEERS=1=127.0.0.1:8001,2=127.0.0.1:8002,3=127.0.0.1:8003
PIDS=()
stop() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM
for id in 1 2 3; do
  "$BIN" --id "$id" --data-dir "$DIR/n$id" --listen "127.0.0.1:700$id" \
    --peer-listen "127.0.0.1:800$id" --peers "$PEERS" \
    >"$DIR/n$id.log" 2>&1 &
  PIDS+=($!)
  echo "node $id: pid $!, client 127.0.0.1:700$id, log $DIR/n$id.log"
done
echo "cluster running; Ctrl-C stops every node"
wait
