#!/usr/bin/env bash
# Helpers for the hostile cluster scripts: a 3-node snowflk cluster on
# 127.0.0.1, client ports $BASE+1..3, peer ports $BASE+11..13.
# Source it; every node started is SIGKILLed by the EXIT trap.
#   BIN=... BASE=21000 source scripts/hostile/lib.sh
set -uo pipefail
BIN=${BIN:-/work/target-hostile2/debug/snowflk-server}
BASE=${BASE:-21000}
WORK=${WORK:-$(mktemp -d /tmp/snowflk-hostile.XXXXXX)}
declare -A PID
PEERS="1=127.0.0.1:$((BASE+11)),2=127.0.0.1:$((BASE+12)),3=127.0.0.1:$((BASE+13))"
EXTRA_FLAGS=${EXTRA_FLAGS:---tick-ms 10 --heartbeat-ticks 5 --election-ticks 50}

cport() { echo $((BASE+$1)); }
cli() { local n=$1; shift; redis-cli -p "$(cport "$n")" "$@"; }

start_node() {
  local n=$1
  mkdir -p "$WORK/n$n"
  # shellcheck disable=SC2086
  "$BIN" --id "$n" --data-dir "$WORK/n$n" --listen "127.0.0.1:$(cport "$n")" \
    --peer-listen "127.0.0.1:$((BASE+10+n))" --peers "$PEERS" $EXTRA_FLAGS \
    >>"$WORK/n$n.log" 2>&1 &
  PID[$n]=$!
}
kill_node() { local n=$1 sig=${2:-KILL}; [[ -n "${PID[$n]:-}" ]] && kill -"$sig" "${PID[$n]}" 2>/dev/null; if [[ $sig == KILL ]]; then wait "${PID[$n]}" 2>/dev/null; unset "PID[$n]"; fi; }
cleanup() { for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

# poll until cmd succeeds (deadline seconds)
wait_until() { local dl=$(( $(date +%s) + $1 )); shift; while ! "$@" >/dev/null 2>&1; do (( $(date +%s) > dl )) && return 1; sleep 0.05; done; }
is_up() { [[ "$(cli "$1" PING 2>/dev/null)" == PONG ]]; }
leader() { # prints leader id as seen by node $1
  cli "${1:-1}" INFO replication 2>/dev/null | tr -d '\r' | awk -F: '/^raft_leader:/{print $2}'; }
has_leader() { local l; l=$(leader "$1"); [[ -n "$l" && "$l" != none ]]; }
start_cluster() { for n in 1 2 3; do start_node "$n"; done; for n in 1 2 3; do wait_until 30 is_up "$n" || { echo "node $n did not start"; return 1; }; done; wait_until 30 has_leader 1; }
fail() { echo "VIOLATION: $*"; FAILED=1; }
